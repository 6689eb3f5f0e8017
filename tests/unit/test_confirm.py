from datetime import UTC, datetime, timedelta

from monitors.confirm import SeverityConfirmer
from shared.schemas import DriftSeverity, FeatureDrift

H, M, L, N = DriftSeverity.HIGH, DriftSeverity.MEDIUM, DriftSeverity.LOW, DriftSeverity.NONE
DAY0 = datetime(2026, 3, 1, tzinfo=UTC)
STREAM = {"MonthlyCharges": [N, H, H, N, H, N, N, M, M, N],
          "tenure": [M, N, M, M, H, H, L, N, N, N]}  # fmt: skip


def drift(feature, severity):
    return FeatureDrift(feature=feature, psi=0.0, statistic=0.0, p_value=1.0, importance_share=0.1,
                        significant=severity != N, severity=severity)  # fmt: skip


def confirmed(confirmer, windows):
    return [
        {f: confirmer.level(f, STREAM[f][w], DAY0 + timedelta(days=w)) for f in STREAM}
        for w in windows
    ]


def test_a_restarted_confirmer_rebuilt_from_published_signals_matches_an_uninterrupted_one():
    windows = range(len(STREAM["tenure"]))
    uninterrupted = confirmed(SeverityConfirmer(3, 2), windows)
    for crash_after in range(1, len(windows)):
        restarted = SeverityConfirmer(3, 2)
        for w in range(crash_after):  # what the published signals say of each window
            restarted.restore(DAY0 + timedelta(days=w), [drift(f, STREAM[f][w]) for f in STREAM])
        assert confirmed(restarted, windows[crash_after:]) == uninterrupted[crash_after:]


def test_a_replayed_window_changes_nothing():
    once, twice = SeverityConfirmer(3, 2), SeverityConfirmer(3, 2)
    expected = confirmed(once, range(6))
    confirmed(twice, range(4))
    confirmed(twice, [3])  # window 3 again, as after a crash between publishing and committing
    assert confirmed(twice, [4, 5]) == expected[4:]
    # by hand, 2 of the last 3: tenure M, N, M, M, H, H reads LOW (one MEDIUM so far), NONE,
    # MEDIUM, MEDIUM, MEDIUM (one HIGH), HIGH
    assert [e["tenure"] for e in expected] == [L, N, M, M, M, H]


def test_a_fairness_window_rebuilt_from_its_published_groups_has_the_same_counts(policy):
    import random

    from monitors.fairness import GroupWindow

    rng = random.Random(11)
    attributes = tuple(policy.fairness.attributes)
    window = GroupWindow(attributes)
    for _ in range(700):
        values = {
            "gender": rng.choice(["Female", "Male"]),
            "SeniorCitizen": rng.choice("01"),
            "Partner": rng.choice(["Yes", "No"]),
            "Dependents": rng.choice(["Yes", "No"]),
        }
        window.update(values, rng.random() < 0.3, rng.random() < 0.4)  # fmt: skip
    groups, _ = window.result(30, 30, 0.95)
    rebuilt = GroupWindow.from_groups(attributes, [g.message() for g in groups], window.rows)
    assert rebuilt.cells == window.cells and rebuilt.rows == window.rows


def test_a_restarted_fairness_monitor_judges_the_same_rolling_span(policy):
    from monitors.fairness import GroupWindow
    from monitors.service import FairnessCalculator
    from monitors.windowing import ClosedWindow

    def window(day):
        w = GroupWindow(tuple(policy.fairness.attributes))
        for i in range(200 + 10 * day):
            values = {"gender": "Female" if i % 2 else "Male", "SeniorCitizen": str(i % 5 == 0),
                      "Partner": "Yes", "Dependents": "No"}  # fmt: skip
            w.update(values, i % 3 == 0, (i + day) % 4 == 0)
        start = DAY0 + timedelta(days=day)
        return ClosedWindow(start, start + timedelta(days=1), w, 0)

    whole = FairnessCalculator(policy)
    expected = [whole.signal(window(day)) for day in range(10)]
    restarted = FairnessCalculator(policy)
    restarted.restore(expected[:6])
    replayed = restarted.signal(window(5))  # the last published window, read again
    assert replayed.rolling_gaps == expected[5].rolling_gaps
    assert [restarted.signal(window(day)) for day in range(6, 10)] == expected[6:]
