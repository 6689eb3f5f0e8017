"""Problems a user can fix are one clear line and exit code 2, not a traceback."""

from typer.testing import CliRunner

from trustwatch.cli import app

runner = CliRunner()


def test_a_service_without_a_broker_says_how_to_get_one(monkeypatch):
    monkeypatch.delenv("TRUSTWATCH_BOOTSTRAP_SERVERS", raising=False)
    result = runner.invoke(app, ["score"])
    assert result.exit_code == 2
    text = " ".join(result.output.split())  # the console wraps long lines
    assert "No broker" in text and "trustwatch broker" in text
    assert "Traceback" not in result.output


def test_an_unknown_scenario_lists_the_built_in_ones():
    result = runner.invoke(app, ["produce", "--scenario", "nope"])
    assert result.exit_code == 2
    assert "baseline" in result.output and "full" in result.output


def test_bad_settings_name_the_variable(monkeypatch):
    monkeypatch.setenv("TRUSTWATCH_NAMESPACE", "bad name")
    result = runner.invoke(app, ["score"])
    assert result.exit_code == 2
    assert "TRUSTWATCH_NAMESPACE" in result.output and len(result.output.splitlines()) == 1


def test_report_without_history_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["report", "--history", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 2
    assert "no history" in result.output


def test_demo_services_die_with_the_demo_however_it_dies():
    """A service started by the demo gets SIGTERM when the demo process is killed outright."""
    import os
    import subprocess
    import sys
    import time

    parent = (
        "import subprocess, sys, time; from shared.process import stop_with_parent; "
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], "
        "preexec_fn=stop_with_parent); print(child.pid, flush=True); time.sleep(60)"
    )
    process = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    child = int(process.stdout.readline())
    process.kill()  # SIGKILL: no cleanup code of the parent runs
    process.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(child, 9)
    raise AssertionError("the child outlived its parent")
