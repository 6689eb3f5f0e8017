"""The dashboards and rules against a real Prometheus scraping the demo's real services.

The demo runs the `full` scenario with every service serving /metrics and writes their addresses
for Prometheus's file discovery (the job names are the compose deployment's); Prometheus, started
here on loopback with the shipped demo config and rules, scrapes them. Then every dashboard
panel's query must return data, every rule must evaluate cleanly, and the rules that the `full`
scenario must trigger must be firing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from shared.broker import free_port

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# Grafana's variables, as a dashboard over the last hour at a few seconds' scrape would set them
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "10s"}
# what the `full` scenario must leave firing: open problems, and both kinds of decision
MUST_FIRE = {"TrustwatchProblemOpen", "TrustwatchRetrainRecommended",
             "TrustwatchFairnessEscalation"}  # fmt: skip


def _api(base: str, path: str, **params) -> dict:
    url = f"{base}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 (loopback)
        body = json.load(response)
    assert body["status"] == "success", body
    return body["data"]


def _query(base: str, expr: str) -> list:
    return _api(base, "query", query=expr)["result"]


def _panel_queries() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for target in panel["targets"]:
                expr = target["expr"]
                for variable, value in GRAFANA_VARIABLES.items():
                    expr = expr.replace(variable, value)
                found.append((board["title"], panel["title"], expr))
    return found


def _rules() -> list[dict]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"]]


def _metric_names(expr: str) -> set[str]:
    names = set(re.findall(r"\b(trustwatch_[a-z_]+|up)\b", expr))
    return {name for name in names if name not in {"trustwatch_"}}


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.fixture(scope="module")
def scraped(bootstrap_servers, artifacts_dir, tmp_path_factory):
    """Prometheus scraping the demo's services after the whole `full` scenario went through."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("prometheus is not installed (Debian package prometheus); CI installs it")
    work = tmp_path_factory.mktemp("prometheus")
    targets = work / "targets" / "trustwatch.json"
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-demo.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(DEPLOY / "prometheus" / "rules.yml")]
    config["scrape_configs"][0]["file_sd_configs"][0].update(
        files=[str(work / "targets" / "*.json")], refresh_interval="1s"
    )
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port("127.0.0.1")
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [prometheus, f"--config.file={work / 'prometheus.yml'}",
         f"--storage.tsdb.path={work / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=open(work / "prometheus.log", "w"),  # noqa: SIM115
    )  # fmt: skip
    env = os.environ | {
        "TRUSTWATCH_BOOTSTRAP_SERVERS": bootstrap_servers,
        "TRUSTWATCH_NAMESPACE": "test-prometheus",
        "TRUSTWATCH_ARTIFACTS_DIR": str(artifacts_dir),
        "TRUSTWATCH_SESSION_TIMEOUT_MS": "2000",
        "TRUSTWATCH_HEARTBEAT_INTERVAL_MS": "500",
    }
    demo = subprocess.Popen(
        [sys.executable, "-m", "trustwatch", "demo", "--rate", "0", "--hold", "120",
         "--prometheus-targets", str(targets), "--report-dir", str(work / "report")],
        env=env, cwd=work, stdout=open(work / "demo.log", "w"), stderr=subprocess.STDOUT,  # noqa: SIM115
    )  # fmt: skip
    try:
        _wait(lambda: _ready(base), 60, "Prometheus to be ready")
        # every window decided, as scraped: 30 days of the full scenario
        _wait(lambda: _sum(base, "trustwatch_decisions_total") >= 30, 240, "30 decisions")
        time.sleep(3)  # a few more scrapes and rule evaluations of the settled state
        yield base
    finally:
        demo.send_signal(signal.SIGINT)  # the demo stops its services on an interrupt
        try:
            demo.wait(timeout=60)
        except subprocess.TimeoutExpired:
            demo.kill()
        server.terminate()
        server.wait(timeout=30)


def _ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:  # noqa: S310
            return response.status == 200
    except OSError:
        return False


def _sum(base: str, metric: str) -> float:
    result = _query(base, f"sum({metric})")
    return float(result[0]["value"][1]) if result else 0.0


def test_every_service_is_scraped_under_its_job(scraped):
    from trustwatch.demo import SERVICES

    up = {r["metric"]["job"]: r["value"][1] for r in _query(scraped, "up")}
    assert up == dict.fromkeys(SERVICES, "1")


@pytest.mark.parametrize("board,panel,expr", _panel_queries(), ids=lambda v: str(v)[:40])
def test_every_dashboard_query_returns_data(scraped, board, panel, expr):
    assert _query(scraped, expr), f"{board} / {panel}: no data for {expr}"


def test_every_metric_a_dashboard_or_rule_names_is_exported(scraped):
    named = set()
    for _, _, expr in _panel_queries():
        named |= _metric_names(expr)
    for rule in _rules():
        named |= _metric_names(rule["expr"])
    every = 'group by (__name__) ({__name__=~"trustwatch_.*|up"})'
    exported = {r["metric"]["__name__"] for r in _query(scraped, every)}
    assert named - exported == set()


def test_every_rule_evaluates_and_the_scenarios_problems_fire(scraped):
    groups = _api(scraped, "rules")["groups"]
    loaded = {rule["name"]: rule for group in groups for rule in group["rules"]}
    assert set(loaded) == {rule["alert"] for rule in _rules()}
    for name, rule in loaded.items():
        assert rule["health"] == "ok", (name, rule.get("lastError"))
    firing = {a["labels"]["alertname"] for a in _api(scraped, "alerts")["alerts"]
              if a["state"] == "firing"}  # fmt: skip
    assert MUST_FIRE <= firing, firing
    # the stream is healthy: nothing down, no lag left
    assert not {"TrustwatchServiceDown", "TrustwatchConsumerLagHigh"} & firing
