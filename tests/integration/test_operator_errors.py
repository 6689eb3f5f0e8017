"""What an operator gets wrong is one line naming the setting, exit code 2, no traceback and no
stray lines: each service started as a user starts it, against the real broker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def run(settings, command: list[str], **env: str) -> tuple[int, tuple[list[str], list[str]]]:
    """The exit code and the lines of standard output and of standard error."""
    base = {
        "TRUSTWATCH_BOOTSTRAP_SERVERS": settings.bootstrap_servers or "",
        "TRUSTWATCH_NAMESPACE": settings.namespace,
        "TRUSTWATCH_ARTIFACTS_DIR": str(settings.artifacts_dir),
        "TRUSTWATCH_HISTORY_PATH": str(settings.history_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "trustwatch", *command, "--max-messages", "1", "--idle-timeout",
         "1"],
        env=os.environ | base | env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.returncode, (done.stdout.splitlines(), done.stderr.splitlines())


def one_error_line(streams: tuple[list[str], list[str]]) -> str:
    """The one error line, the last of its stream (the log lines before it go to the other)."""
    lines = [line for stream in streams for line in stream]
    assert not any("Traceback" in line for line in lines), "\n".join(lines)
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, "\n".join(lines)
    assert any(stream and stream[-1] == errors[0] for stream in streams), "\n".join(lines)
    return errors[0]


def test_a_metrics_port_in_use(settings):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, lines = run(settings, ["score"], TRUSTWATCH_METRICS_PORT=str(port))
    assert code == 2
    assert f"TRUSTWATCH_METRICS_PORT={port}" in one_error_line(lines)


def test_a_history_path_that_cannot_be_created(settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, lines = run(settings, ["alert"], TRUSTWATCH_HISTORY_PATH=str(blocker / "history.db"))
    assert code == 2
    assert "TRUSTWATCH_HISTORY_PATH" in one_error_line(lines)


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("TRUSTWATCH_KAFKA_EXTRA_CONFIG", '{"no.such.property": "1"}', "no.such.property"),
        ("TRUSTWATCH_SECURITY_PROTOCOL", "carrier_pigeon", "security.protocol"),
        ("TRUSTWATCH_WINDOW_SECONDS", "-5", "TRUSTWATCH_WINDOW_SECONDS"),
        ("TRUSTWATCH_EVENT_TIME_HORIZON_DAYS", "9000000", "TRUSTWATCH_EVENT_TIME_HORIZON_DAYS"),
    ],
)
def test_invalid_client_settings(settings, variable, value, named):
    code, lines = run(settings, ["monitor", "drift"], **{variable: value})
    assert code == 2
    assert named in one_error_line(lines)
    assert not any(line.strip() == "error: 2" for stream in lines for line in stream)


def test_a_warning_threshold_above_its_critical_one(settings, tmp_path):
    import yaml

    from shared.policy import default_policy_path

    policy = yaml.safe_load(default_policy_path().read_text())
    policy["data_quality"]["quarantine_share_warning"] = 0.5
    policy["data_quality"]["quarantine_share_critical"] = 0.2
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    code, lines = run(settings, ["alert"], TRUSTWATCH_POLICY_PATH=str(path))
    assert code == 2
    assert "quarantine_share_warning (0.5) is above" in one_error_line(lines)
