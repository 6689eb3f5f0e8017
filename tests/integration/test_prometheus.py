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
from collections import Counter
from pathlib import Path

import pytest
import yaml

from shared.broker import free_port
from shared.schemas import Alert, AlertStatus
from shared.settings import Settings
from shared.tail import read_back
from shared.topics import ALERTS
from tests.integration.alertmanager import Alertmanager, WebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# Grafana's variables, as a dashboard over the last hour at a few seconds' scrape would set them
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1h", "$__interval": "10s",
                     "$feature": ".*", "$attribute": ".*"}  # fmt: skip
# what the `full` scenario must leave firing: open problems, and both kinds of decision
MUST_FIRE = {"TrustwatchProblemOpen", "TrustwatchRetrainRecommended",
             "TrustwatchFairnessEscalation"}  # fmt: skip
NAMESPACE = "test-prometheus"
# the notifier sends open problems again this often (seconds, not the default minute)
RESEND_SECONDS = 2
# silenced in Alertmanager before the stream: the `full` scenario's schema faults raise it
SILENCED_TYPE = "DATA_QUALITY"


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
def alerting(tmp_path_factory):
    """A real Alertmanager with the shipped routing, notifying a receiver of the test's own, and
    a silence on one alert type set before anything fires."""
    receiver = WebhookReceiver()
    manager = Alertmanager(tmp_path_factory.mktemp("alertmanager"), receiver.url).start()
    manager.silence("type", SILENCED_TYPE)
    try:
        yield manager, receiver
    finally:
        manager.stop()
        receiver.close()


@pytest.fixture(scope="module")
def scraped(bootstrap_servers, artifacts_dir, tmp_path_factory, alerting):
    """Prometheus scraping the demo's services after the whole `full` scenario went through;
    the demo's notifier and Prometheus's rules both send to the Alertmanager of ``alerting``."""
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("prometheus is not installed (Debian package prometheus); CI installs it")
    manager, _ = alerting
    work = tmp_path_factory.mktemp("prometheus")
    targets = work / "targets" / "trustwatch.json"
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-demo.yml").read_text())
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(DEPLOY / "prometheus" / "rules.yml")]
    config["alerting"]["alertmanagers"][0]["static_configs"] = [
        {"targets": [f"127.0.0.1:{manager.port}"]}
    ]
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
    env = os.environ | _service_environment(bootstrap_servers, artifacts_dir, manager.url)
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


def _service_environment(bootstrap_servers: str, artifacts_dir, alertmanager_url: str) -> dict:
    return {
        "TRUSTWATCH_BOOTSTRAP_SERVERS": bootstrap_servers,
        "TRUSTWATCH_NAMESPACE": NAMESPACE,
        "TRUSTWATCH_ARTIFACTS_DIR": str(artifacts_dir),
        "TRUSTWATCH_SESSION_TIMEOUT_MS": "2000",
        "TRUSTWATCH_HEARTBEAT_INTERVAL_MS": "500",
        "TRUSTWATCH_ALERTMANAGER_URL": alertmanager_url,
        "TRUSTWATCH_ALERTMANAGER_RESEND_SECONDS": str(RESEND_SECONDS),
        # the test's Alertmanager waits 1 s before a group's first notification
        "TRUSTWATCH_ALERTMANAGER_GROUP_WAIT_SECONDS": "2",
    }


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
    from trustwatch.demo import ALL_SERVICES

    up = {r["metric"]["job"]: r["value"][1] for r in _query(scraped, "up")}
    assert up == dict.fromkeys(ALL_SERVICES, "1")


@pytest.mark.parametrize("board,panel,expr", _panel_queries(), ids=lambda v: str(v)[:40])
def test_every_dashboard_query_returns_data(scraped, board, panel, expr):
    assert _query(scraped, expr), f"{board} / {panel}: no data for {expr}"


def test_the_feature_and_attribute_variables_list_the_contracts_names(scraped, metadata):
    """The model-health dashboard names no feature itself: its variables list what the monitors
    report, which is the model contract's features and sensitive attributes."""
    board = json.loads((DEPLOY / "grafana" / "dashboards" / "model-health.json").read_text())
    variables = {v["name"]: v["query"] for v in board["templating"]["list"] if v["type"] == "query"}
    assert set(variables) == {"feature", "attribute"}
    listed = {}
    for name, query in variables.items():
        # Grafana's label_values(metric, label), as its Prometheus data source asks it
        metric, label = query.removeprefix("label_values(").removesuffix(")").split(", ")
        listed[name] = set(_api(scraped, f"label/{label}/values", **{"match[]": metric}))
    assert listed["feature"] >= set(metadata.contract.names)
    assert listed["attribute"] == set(metadata.contract.sensitive)


def _annotation_queries() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")):
        board = json.loads(path.read_text())
        for annotation in board.get("annotations", {}).get("list", []):
            expr = annotation["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            found.append((board["title"], annotation["name"], expr))
    return found


@pytest.mark.parametrize("board,name,expr", _annotation_queries(), ids=lambda v: str(v)[:40])
def test_every_annotation_marks_the_scenarios_problems_on_the_time_axis(scraped, board, name,
                                                                        expr):  # fmt: skip
    # as Grafana asks it: over the dashboard's range, a step of $__interval
    now = time.time()
    found = _api(scraped, "query_range", query=expr, start=now - 600, end=now, step=10)["result"]
    assert found, f"{board} / {name}: no data for {expr}"


def test_every_metric_a_dashboard_or_rule_names_is_exported(scraped):
    named = set()
    for _, _, expr in _panel_queries():
        named |= _metric_names(expr)
    for _, _, expr in _annotation_queries():
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


# --- Alertmanager ---------------------------------------------------------------------------


def _topic_problems(bootstrap_servers: str) -> tuple[dict[tuple[str, str], Alert], set]:
    """The problems on the alert topic by (key, day of the window it fired in), following each
    key's lifecycle in order: each problem's firing message, and the ones that resolved."""
    settings = Settings(bootstrap_servers=bootstrap_servers, namespace=NAMESPACE)
    alerts = [m.value for m in read_back(settings, [ALERTS]) if isinstance(m.value, Alert)]
    fired: dict[tuple[str, str], Alert] = {}
    resolved: set[tuple[str, str]] = set()
    living: dict[str, tuple[str, str]] = {}
    for alert in alerts:
        if alert.status is AlertStatus.FIRING:
            living[alert.key] = (alert.key, f"{alert.window_start:%Y-%m-%d}")
            fired[living[alert.key]] = alert
        elif alert.status is AlertStatus.RESOLVED:
            resolved.add(living.pop(alert.key))
    return fired, resolved


def _notified(receiver: WebhookReceiver) -> Counter:
    """(problem key, day fired, firing|resolved) -> how many notifications carried it."""
    return Counter(
        (a["labels"]["problem"], a["labels"]["fired"], a["status"])
        for a in receiver.alerts()
        if "problem" in a["labels"]
    )


def test_every_problem_is_notified_once_and_its_resolution_once(
    scraped, alerting, bootstrap_servers, artifacts_dir
):
    from model.artifact import load_metadata, resolve_version_dir

    _, receiver = alerting
    fired, resolved = _topic_problems(bootstrap_servers)
    notifiable = {i for i, alert in fired.items() if alert.type.value != SILENCED_TYPE}
    assert notifiable and resolved & notifiable, (fired.keys(), resolved)
    expected = Counter({(*i, "firing"): 1 for i in notifiable})
    expected.update({(*i, "resolved"): 1 for i in resolved & notifiable})
    deadline = time.monotonic() + 60
    while set(expected) - set(_notified(receiver)) and time.monotonic() < deadline:
        time.sleep(1)
    missing = set(expected) - set(_notified(receiver))
    assert not missing, f"not notified: {sorted(missing)}; notified: {_notified(receiver)}"
    time.sleep(4 * RESEND_SECONDS)  # open problems were sent again meanwhile: no new notification
    assert _notified(receiver) == expected
    version = load_metadata(resolve_version_dir(artifacts_dir)).model_version
    runbooks = (ROOT / "docs" / "runbooks.md").read_text().lower()
    for alert in receiver.alerts():
        labels, annotations = alert["labels"], alert["annotations"]
        if "problem" not in labels:
            continue
        first = fired[(labels["problem"], labels["fired"])]
        assert labels["type"] == first.type.value and labels["subject"] == first.subject
        assert labels["severity"] == first.severity.value.lower()
        assert labels["model_version"] == version
        assert annotations["description"] and annotations["summary"]
        page, anchor = annotations["runbook_url"].split("#")
        assert page == "docs/runbooks.md" and f"\n## {anchor}\n" in runbooks
    assert any("decision" in alert["annotations"] for alert in receiver.alerts())


def test_a_silenced_alert_type_is_not_notified(scraped, alerting, bootstrap_servers):
    _, receiver = alerting
    fired, _ = _topic_problems(bootstrap_servers)
    assert any(alert.type.value == SILENCED_TYPE for alert in fired.values())
    assert not [a for a in receiver.alerts() if a["labels"].get("type") == SILENCED_TYPE]


def test_prometheus_rules_reach_alertmanager_and_the_receiver(scraped, alerting):
    manager, receiver = alerting
    firing = {a["labels"]["alertname"] for a in _api(scraped, "alerts")["alerts"]
              if a["state"] == "firing"}  # fmt: skip
    assert MUST_FIRE <= firing

    def arrived() -> bool:
        held = {a["labels"]["alertname"] for a in manager.alerts()}
        notified = {a["labels"]["alertname"] for a in receiver.alerts()}
        return MUST_FIRE <= held & notified

    _wait(arrived, 60, f"{sorted(MUST_FIRE)} in Alertmanager and notified")


def test_restarting_the_notifier_and_alertmanager_notifies_nothing_again(
    scraped, alerting, bootstrap_servers, artifacts_dir, tmp_path
):
    manager, receiver = alerting
    fired, resolved = _topic_problems(bootstrap_servers)
    still_open = {i for i in fired if i not in resolved}
    before = _notified(receiver)
    manager.stop()
    manager.start()  # the same storage: its notification log and silences
    # a second notifier of the same group: it reads the topics back and sends every problem again
    env = os.environ | _service_environment(bootstrap_servers, artifacts_dir, manager.url)
    with open(tmp_path / "notifier.log", "wb") as log:
        notifier = subprocess.Popen([sys.executable, "-m", "trustwatch", "notify"], env=env,
                                    cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:

        def resent() -> bool:
            held = {(a["labels"].get("problem"), a["labels"].get("fired"))
                    for a in manager.alerts()}  # fmt: skip
            return still_open <= held

        _wait(resent, 60, "the open problems in the restarted Alertmanager")
        time.sleep(4 * RESEND_SECONDS)
        assert _notified(receiver) == before
    finally:
        notifier.terminate()
        notifier.wait(timeout=30)
