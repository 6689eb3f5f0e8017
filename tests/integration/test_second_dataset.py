"""Bring your own model and data, on a second real dataset with another schema: the arrests data
inside scikit-lego's wheel (outcome ``released``, sensitive ``colour`` and ``sex``, numeric and
categorical inputs). Its model is trained by ``trustwatch train``, and every service runs as a
separate process on a real broker (``trustwatch demo``), as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from model.features import FEATURES, LABEL_COLUMN

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture(scope="module")
def arrests_artifacts(tmp_path_factory):
    directory = tmp_path_factory.mktemp("arrests-artifacts")
    completed = subprocess.run(
        [sys.executable, "-m", "trustwatch", "train", "--dataset", "arrests"],
        env=os.environ | {"TRUSTWATCH_ARTIFACTS_DIR": str(directory)},
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "contract 'arrests': label 'released' (positive 'No')" in completed.stdout
    return directory


def run_demo(bootstrap_servers, artifacts, out, scenario: str) -> dict:
    env = os.environ | {
        "TRUSTWATCH_BOOTSTRAP_SERVERS": bootstrap_servers,
        "TRUSTWATCH_NAMESPACE": f"test-arrests-{scenario}",
        "TRUSTWATCH_ARTIFACTS_DIR": str(artifacts),
        "TRUSTWATCH_SESSION_TIMEOUT_MS": "2000",
        "TRUSTWATCH_HEARTBEAT_INTERVAL_MS": "500",
    }
    summary = out / f"{scenario}.json"
    completed = subprocess.run(
        [sys.executable, "-m", "trustwatch", "demo", "--dataset", "arrests", "--scenario",
         scenario, "--rate", "0", "--summary-json", str(summary), "--report-dir",
         str(out / f"report-{scenario}")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "training one" not in completed.stdout  # the artifact trained above is the arrests one
    return json.loads(summary.read_text())


def test_covariate_drift_and_group_bias_are_caught_by_their_alert_types(
    bootstrap_servers, arrests_artifacts, tmp_path
):
    summary = run_demo(bootstrap_servers, arrests_artifacts, tmp_path, "arrests-full")
    rows = summary["rows"]
    assert rows["produced"] == 26 * 500 == rows["scored"] + rows["quarantined"]
    caught = {step["kind"]: (step["target"], step["caught_by"]) for step in summary["injected"]}
    assert caught["covariate"] == ("age", "DRIFT")
    assert caught["group_bias"] == ("sex", "BIAS")
    assert caught["schema"] == ("payload", "DATA_QUALITY")
    fired = {(a["type"], a["subject"]) for a in summary["alerts"] if a["status"] == "FIRING"}
    assert ("DRIFT", "age") in fired
    # alerts name the contract's own columns: nothing of the Telco demo's shows
    assert not {subject for _, subject in fired} & {*FEATURES, LABEL_COLUMN}, fired
    assert "ESCALATE_FAIRNESS" in {d["action"] for d in summary["decisions"]}
    # the model's own gaps at deployment are measured on its held-out set and shown as known
    assert set(summary["known_gaps"]) == {"colour", "sex"}


def test_the_baseline_stream_raises_nothing(bootstrap_servers, arrests_artifacts, tmp_path):
    summary = run_demo(bootstrap_servers, arrests_artifacts, tmp_path, "baseline")
    assert summary["rows"]["produced"] == summary["rows"]["scored"] == 14 * 500
    assert summary["alerts"] == []
    assert {d["action"] for d in summary["decisions"]} == {"NO_ACTION"}


def test_produce_from_a_users_file_streams_it_in_time_order(
    bootstrap_servers, arrests_artifacts, tmp_path
):
    """`trustwatch produce --from FILE --time COL`: the user's own rows, in the contract's schema,
    on the broker in the order of their time column; a file lacking a contract column is refused
    in one line before anything is published."""
    import pandas as pd

    from model.datasets import load_arrests
    from shared.settings import Settings
    from shared.topics import RAW_ROWS
    from tests.integration.helpers import read_all

    frame = load_arrests().sample(60, random_state=3)
    frame["arrested_at"] = pd.date_range("2002-01-01", periods=60, freq="D")[::-1]
    path = tmp_path / "arrests.csv"
    frame.to_csv(path, index=False)
    env = os.environ | {
        "TRUSTWATCH_BOOTSTRAP_SERVERS": bootstrap_servers,
        "TRUSTWATCH_NAMESPACE": "test-arrests-from",
        "TRUSTWATCH_ARTIFACTS_DIR": str(arrests_artifacts),
    }
    command = [sys.executable, "-m", "trustwatch", "produce", "--from", str(path), "--time",
               "arrested_at", "--days", "2", "--rows-per-day", "30"]  # fmt: skip
    completed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    settings = Settings(bootstrap_servers=bootstrap_servers, namespace="test-arrests-from")
    rows = sorted(read_all(settings, RAW_ROWS, expected=60), key=lambda r: r.event_time)
    expected = frame.sort_values("arrested_at")
    assert [r.features["age"] for r in rows] == expected["age"].tolist()
    assert [r.label for r in rows] == (expected["released"] == "No").astype(int).tolist()

    frame.drop(columns="checks").to_csv(path, index=False)
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2
    assert "the data has no column 'checks' (contract 'arrests')" in " ".join(
        refused.stdout.split()
    )
