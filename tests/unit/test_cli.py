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
    assert "namespace" in result.output


def test_report_without_history_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["report", "--history", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 2
    assert "no history" in result.output
