"""The report renders from a recorded history, with every plot and the tables."""

from datetime import timedelta

from alerter.history import History
from alerter.lifecycle import AlertBook
from alerter.rules import conditions
from shared.schemas import DriftSeverity, DriftSignal
from tests.unit.signals import drift, fairness, performance, window
from trustwatch.report import write_report


def test_history_is_idempotent_and_the_report_renders(tmp_path, policy):
    from alerter.decisions import DriftStreaks, decide

    history = History(tmp_path / "history.sqlite", retention_days=365)
    book, streaks = AlertBook(1), DriftStreaks()
    for day in range(6):
        high = {"MonthlyCharges": DriftSeverity.HIGH} if 2 <= day <= 3 else None
        signals = window(day, perf=performance(day), drift_signal=drift(day, high),
                         fair=fairness(day, gap=(0.3, 0.5) if day == 5 else None))  # fmt: skip
        holding = conditions(signals, policy)
        published = book.apply(signals, holding)
        streaks.update(signals)
        decision = decide(signals, holding, dict(streaks.streaks), {"MonthlyCharges": 0.05}, policy)
        for message in (signals.performance, signals.drift, signals.fairness, *published,
                        decision, decision):  # recorded twice: still one row  # fmt: skip
            history.record(message)
    assert len(history.decisions()) == 6
    assert len(history.signals(DriftSignal)) == 6
    assert {a.key for a in history.alerts()} == {"DRIFT:MonthlyCharges", "BIAS:gender"}
    history.close()

    page = write_report(tmp_path / "history.sqlite", tmp_path / "report", policy,
                        {"gender": 0.031, "SeniorCitizen": 0.135})  # fmt: skip
    text = page.read_text()
    for name in ("performance.png", "drift.png", "fairness.png", "timeline.png"):
        assert (tmp_path / "report" / name).stat().st_size > 10_000
        assert name in text
    assert "RETRAIN" in text and "MonthlyCharges drifted" in text
    assert "Recall gaps known at deployment" in text and "<td>0.135</td>" in text


def test_retention_prunes_old_windows(tmp_path):
    history = History(tmp_path / "h.sqlite", retention_days=2)
    for day in range(5):
        history.record(drift(day))
    removed = history.prune(drift(4).window_end)  # the last window ends on March 6
    assert removed == 3  # windows starting before March 4 are older than two days
    assert [s.window_start.day for s in history.signals(DriftSignal)] == [4, 5]
    assert timedelta(days=2) == history.retention
