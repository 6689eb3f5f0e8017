"""The demo as a user runs it: every service a separate process, on a real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
def demo_summary(bootstrap_servers, artifacts_dir, tmp_path_factory):
    """The default demo (scenario `full`), streamed flat out."""
    out = tmp_path_factory.mktemp("demo") / "summary.json"
    env = os.environ | {
        "TRUSTWATCH_BOOTSTRAP_SERVERS": bootstrap_servers,
        "TRUSTWATCH_NAMESPACE": "test-demo",
        "TRUSTWATCH_ARTIFACTS_DIR": str(artifacts_dir),
        "TRUSTWATCH_SESSION_TIMEOUT_MS": "2000",
        "TRUSTWATCH_HEARTBEAT_INTERVAL_MS": "500",
    }
    completed = subprocess.run(
        [sys.executable, "-m", "trustwatch", "demo", "--rate", "0", "--summary-json", str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return json.loads(out.read_text())


def _day(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_every_row_is_scored_or_quarantined(demo_summary):
    rows = demo_summary["rows"]
    assert rows["produced"] == 30 * 500
    assert rows["produced"] == rows["scored"] + rows["quarantined"]
    assert rows["quarantined"] == sum(demo_summary["faults_injected"].values()) > 0


def test_every_window_counts_all_its_rows_none_late(demo_summary):
    """Read from the alerter's history: each window's drift signal counts its scored and
    quarantined rows, the label-based monitors the same scored rows, and no row is late."""
    import sqlite3
    from pathlib import Path

    history = sqlite3.connect(Path(demo_summary["logs_dir"]) / "history.sqlite")
    by_window: dict[str, dict] = {}
    for kind, start, payload in history.execute(
        "SELECT kind, window_start, payload FROM signals WHERE provisional = 0"
    ):
        by_window.setdefault(start, {})[kind] = json.loads(payload)
    assert len(by_window) == 30
    quarantined = 0
    for start, signals in by_window.items():
        drift = signals["drift"]
        counts = {kind: (s["rows"], s["late_rows"]) for kind, s in signals.items()}
        assert drift["rows"] + drift["quarantined_rows"] == 500, (start, counts)
        assert set(counts) == {"drift", "performance", "fairness"}, start
        assert set(counts.values()) == {(drift["rows"], 0)}, (start, counts)
        quarantined += drift["quarantined_rows"]
    assert quarantined == demo_summary["rows"]["quarantined"]


def test_high_drift_on_monthly_charges_within_two_windows_and_none_before(demo_summary):
    step = next(s for s in demo_summary["injected"] if s["kind"] == "covariate")
    assert step["target"] == "MonthlyCharges"
    onset = _day(step["start"])
    drift_alerts = [
        a for a in demo_summary["alerts"] if a["type"] == "DRIFT" and a["status"] == "FIRING"
    ]
    high_on_target = [
        a
        for a in drift_alerts
        if a["subject"] == "MonthlyCharges" and a["severity"] == "CRITICAL"
        and "drifted HIGH" in a["explanation"]
    ]  # fmt: skip
    assert high_on_target
    first = min(_day(a["window_start"]) for a in high_on_target)
    assert onset <= first < onset + timedelta(days=2)
    assert all(_day(a["window_start"]) >= onset for a in drift_alerts)


def test_every_injected_step_is_caught_soon_after_onset(demo_summary):
    kinds = {step["kind"]: step for step in demo_summary["injected"]}
    assert set(kinds) == {"covariate", "schema", "concept", "group_bias", "prior"}
    expected = {"covariate": {"DRIFT"}, "schema": {"DATA_QUALITY"},
                "concept": {"PERFORMANCE", "CHANGE_POINT"}, "group_bias": {"BIAS"},
                "prior": {"DRIFT", "PERFORMANCE"}}  # fmt: skip
    for kind, step in kinds.items():
        assert step["caught_by"] in expected[kind], step
        assert step["delay_windows"] is not None and step["delay_windows"] <= 1, step


def test_decisions_one_per_window_with_retrain_and_no_action_before_trouble(demo_summary):
    decisions = demo_summary["decisions"]
    assert len(decisions) == len({d["window_start"] for d in decisions}) == 30
    actions = {d["action"] for d in decisions}
    assert {"RETRAIN", "ESCALATE_FAIRNESS", "NO_ACTION"} <= actions
    first_onset = min(_day(step["start"]) for step in demo_summary["injected"])
    assert all(
        d["action"] == "NO_ACTION" for d in decisions if _day(d["window_start"]) < first_onset
    )
    schema = next(s for s in demo_summary["injected"] if s["kind"] == "schema")
    during_schema = [
        d
        for d in decisions
        if _day(schema["start"]) <= _day(d["window_start"]) < _day(schema["end"])
    ]
    assert during_schema and all(d["action"] != "RETRAIN" for d in during_schema)


def _during(step, moment: datetime) -> bool:
    if step["end"] is None:
        return _day(step["start"]) <= moment
    return _day(step["start"]) <= moment < _day(step["end"]) + timedelta(days=1)


def test_one_alert_per_injected_problem(demo_summary):
    """Every problem shows on several monitors at once; each is still one alert, fired within
    its step (or the window after), with its symptoms listed as members."""
    fired = [a for a in demo_summary["alerts"] if a["status"] == "FIRING"]
    steps = demo_summary["injected"]
    assert len(fired) == len(steps), [(a["key"], a["window_start"]) for a in fired]
    for step in steps:
        (alert,) = [a for a in fired if _during(step, _day(a["window_start"]))]
        assert alert["key"] in alert["members"] or "@" in alert["key"]
    concept = next(s for s in steps if s["kind"] == "concept")
    (problem,) = [a for a in fired if _during(concept, _day(a["window_start"]))]
    headline_and_symptoms = {
        m for a in demo_summary["alerts"] if a["key"] == problem["key"] for m in a["members"]
    }
    assert {"PERFORMANCE:recall", "CHANGE_POINT:error_rate"} <= headline_and_symptoms


def test_decisions_follow_the_problem(demo_summary):
    """Concept drift retrains; group bias escalates once the gap is shown to be confined to one
    group; broken data never retrains."""
    steps = {s["kind"]: s for s in demo_summary["injected"]}

    def actions(kind):
        return [d["action"] for d in demo_summary["decisions"]
                if _during(steps[kind], _day(d["window_start"]))]  # fmt: skip

    assert "RETRAIN" in actions("concept") and "ESCALATE_FAIRNESS" not in actions("concept")
    assert "ESCALATE_FAIRNESS" in actions("group_bias")
    assert "RETRAIN" not in actions("schema")


def test_the_in_process_simulation_opens_and_resolves_the_demos_problems(demo_summary,
                                                                        artifacts_dir):  # fmt: skip
    """``trustwatch.simulation`` (the detection benchmark's pipeline: the same handlers, no
    broker) counts the same rows, and its problems fire and resolve in the same windows as the
    services' did on the broker, every injected step caught. Which condition a problem is first
    named after may differ: the alerter judges each signal as it arrives, and on a broker the
    three monitors' signals of a window arrive in any order (here: performance, drift,
    fairness)."""
    from model.datasets import load_clean, split
    from producer.scenario import get_scenario
    from producer.stream import StreamPlan
    from shared.settings import Settings
    from trustwatch.evaluation import score_injections
    from trustwatch.simulation import Simulation

    settings = Settings(artifacts_dir=artifacts_dir)
    scenario = get_scenario(demo_summary["scenario"])
    plan = StreamPlan(scenario, scenario.days, 500, demo_summary["seed"],
                      settings.simulation_start)  # fmt: skip
    result = Simulation(settings, split(load_clean(), seed=42).production).run(plan)

    def problems(alerts):
        return sorted((a["status"], _day(a["window_start"])) for a in alerts
                      if a["status"] != "UPDATED")  # fmt: skip

    simulated = [a.model_dump(mode="json") for a in result.alerts]
    assert problems(simulated) == problems(demo_summary["alerts"])
    assert result.rows == demo_summary["rows"]["produced"]
    assert (result.scored, result.quarantined) == (
        demo_summary["rows"]["scored"], demo_summary["rows"]["quarantined"])  # fmt: skip
    caught = score_injections(result.steps, result.alerts, plan.day_length)
    assert [(s.kind, s.caught_by) for s in caught] == [
        (s["kind"], s["caught_by"]) for s in demo_summary["injected"]]  # fmt: skip
