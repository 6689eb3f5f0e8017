import random
import subprocess
import sys
from datetime import timedelta

import pytest

from monitors.changepoint import AdwinDetector
from shared.schemas import Alert, AlertStatus, AlertType, DriftKind, ScenarioEvent
from tests.unit.signals import DAY, ORIGIN
from trustwatch.evaluation import score_injections


def step(kind=DriftKind.COVARIATE, target="MonthlyCharges", start_day=7, end_day=None):
    return ScenarioEvent(
        event_time=ORIGIN, scenario="s", run_id="r", step_id=f"{kind}-{target}", kind=kind,
        target=target, start=ORIGIN + start_day * DAY,
        end=None if end_day is None else ORIGIN + end_day * DAY, description="",
    )  # fmt: skip


def alert(day, type_=AlertType.DRIFT, subject="MonthlyCharges", status=AlertStatus.FIRING):
    return Alert(
        event_time=ORIGIN, key=f"{type_}:{subject}", status=status, type=type_,
        severity="CRITICAL", subject=subject, explanation="", window_start=ORIGIN + day * DAY,
        window_end=ORIGIN + (day + 1) * DAY,
    )  # fmt: skip


@pytest.mark.parametrize(
    "alerts,caught_by,delay",
    [
        ([alert(7)], "DRIFT", 0),
        ([alert(9), alert(8)], "DRIFT", 1),
        ([alert(5)], None, None),  # before onset: a false alarm, not a catch
        ([alert(8, subject="tenure")], None, None),  # wrong feature
        ([alert(8, status=AlertStatus.RESOLVED)], None, None),
        ([alert(8, type_=AlertType.BIAS)], None, None),
        ([], None, None),
    ],
)
def test_score_injections(alerts, caught_by, delay):
    outcome = score_injections([step()], alerts, timedelta(days=1))[0]
    assert (outcome.caught_by, outcome.delay_windows) == (caught_by, delay)


def test_alert_after_a_step_ended_does_not_catch_it():
    outcome = score_injections([step(start_day=3, end_day=5)], [alert(6)], timedelta(days=1))[0]
    assert outcome.caught_by is None


def test_adwin_adapter_matches_river_used_directly():
    import random

    from river.drift import ADWIN

    rng = random.Random(11)
    values = [float(rng.random() < 0.2) for _ in range(3000)]
    values += [float(rng.random() < 0.5) for _ in range(2000)]
    ours, theirs = AdwinDetector(delta=0.002), ADWIN(delta=0.002)
    our_hits, their_hits = [], []
    for index, value in enumerate(values):
        if ours.update(value).drift_detected:
            our_hits.append(index)
        theirs.update(value)
        if theirs.drift_detected:
            their_hits.append(index)
    assert our_hits == their_hits
    assert our_hits and 3000 <= our_hits[0] < 3300  # found within 300 rows of the change


PURE_MODULES = [
    "shared.schemas", "shared.topics", "shared.policy", "model.features", "shared.validation",
    "model.datasets", "model.artifact", "monitors.drift", "monitors.performance",
    "monitors.fairness", "monitors.windowing", "alerter.rules", "alerter.lifecycle",
    "alerter.decisions", "producer.scenario", "producer.stream", "scorer.validation",
    "trustwatch.evaluation", "monitors.calculators", "monitors.sketch", "monitors.changepoint",
    "monitors.service", "shared.handler", "shared.eventtime", "shared.records", "scorer.service",
]  # fmt: skip


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_modules_import_no_kafka_or_prometheus(module):
    code = (
        f"import sys, {module}; "
        "bad = [m for m in ('confluent_kafka', 'prometheus_client') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_shared_never_imports_a_service():
    code = (
        "import sys, pkgutil, importlib, shared; "
        "[importlib.import_module('shared.' + m.name) "
        "for m in pkgutil.iter_modules(shared.__path__)]; "
        "print(','.join(sorted({n.split('.')[0] for n in sys.modules} & "
        "{'producer', 'scorer', 'monitors', 'alerter', 'trustwatch'})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_change_watch_dates_the_start_of_the_change():
    from datetime import UTC, datetime, timedelta

    from monitors.changepoint import ChangeWatch

    rng = random.Random(5)
    start = datetime(2026, 3, 1, tzinfo=UTC)
    watch = ChangeWatch("x", AdwinDetector(delta=0.002))
    found = None
    for index in range(6000):
        value = float(rng.random() < (0.2 if index < 4000 else 0.6))
        found = watch.observe(value, start + timedelta(minutes=index)) or found
        if found:
            break
    assert found is not None and found.mean_after > found.mean_before
    began = (found.estimated_start - start) / timedelta(minutes=1)
    assert 3600 <= began <= 4400  # within 400 rows of the true change at row 4000


def test_a_run_is_judged_per_step_and_per_phase_by_hand():
    """Two steps (days 4-6 and 12-14) in 20 windows, settling 3 windows after each end: windows
    0-3 are before, 9-11 between (6-8 settle the first), 17-19 after. Alerts: the first step's
    DRIFT fires at onset and a CHANGE_POINT two windows later (two problems), both resolve by
    day 8 (window end 9: 3 windows after the end); a false alarm fires on day 2 and one on
    day 11; the second step's BIAS fires on day 13 and never resolves."""
    from trustwatch.evaluation import judge_run

    first = step(start_day=4, end_day=6)
    second = step(DriftKind.GROUP_BIAS, "gender", start_day=12, end_day=14)

    def fired(day, type_, subject, status=AlertStatus.FIRING, fired_day=None):
        raised = alert(day, type_, subject, status)
        return raised.model_copy(update={"fired_window": ORIGIN + (fired_day or day) * DAY})

    alerts = [
        fired(2, AlertType.PERFORMANCE, "recall"),
        fired(2, AlertType.PERFORMANCE, "recall", AlertStatus.RESOLVED, fired_day=2),
        fired(4, AlertType.DRIFT, "MonthlyCharges"),
        fired(6, AlertType.CHANGE_POINT, "error_rate"),
        fired(7, AlertType.DRIFT, "MonthlyCharges", AlertStatus.RESOLVED, fired_day=4),
        fired(8, AlertType.CHANGE_POINT, "error_rate", AlertStatus.RESOLVED, fired_day=6),
        fired(11, AlertType.DRIFT, "tenure"),
        fired(13, AlertType.BIAS, "gender"),
    ]
    run = judge_run([second, first], alerts, ORIGIN, DAY, 20)
    assert run.clean_windows == {"before": 4, "between": 3, "after": 3}
    assert run.false_alarms == {"before": 1, "between": 1, "after": 0}
    covariate, bias = run.steps
    assert (covariate.caught_by, covariate.delay_windows, covariate.problems) == ("DRIFT", 0, 2)
    assert (covariate.resolved_windows, covariate.unresolved) == (3, False)
    assert (bias.caught_by, bias.delay_windows, bias.problems) == ("BIAS", 1, 1)
    assert (bias.resolved_windows, bias.unresolved) == (None, True)
