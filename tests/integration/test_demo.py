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


def test_every_row_is_scored_or_quarantined(demo_summary):
    rows = demo_summary["rows"]
    assert rows["produced"] == 14 * 500
    assert rows["produced"] == rows["scored"] + rows["quarantined"]


def test_high_drift_on_monthly_charges_within_two_windows_and_none_before(demo_summary):
    step = demo_summary["injected"][0]
    assert (step["kind"], step["target"]) == ("covariate", "MonthlyCharges")
    onset = datetime.fromisoformat(step["start"])
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
    first = min(datetime.fromisoformat(a["window_start"]) for a in high_on_target)
    assert onset <= first < onset + timedelta(days=2)
    assert all(datetime.fromisoformat(a["window_start"]) >= onset for a in drift_alerts)
    assert step["caught_by"] == "DRIFT" and step["delay_windows"] in (0, 1)


def test_a_retrain_decision_and_one_decision_per_window(demo_summary):
    decisions = demo_summary["decisions"]
    assert len(decisions) == 14
    assert len({d["window_start"] for d in decisions}) == 14
    assert any(d["action"] == "RETRAIN" for d in decisions)
    onset = datetime.fromisoformat(demo_summary["injected"][0]["start"])
    assert all(
        d["action"] == "NO_ACTION"
        for d in decisions
        if datetime.fromisoformat(d["window_start"]) < onset
    )
