"""The compose stack as processes: what `docker compose up` runs, without a Docker engine.

Every trustwatch service of docker-compose.yml runs its own command with its own environment (the
image's and the compose file's) against the Apache Kafka of the Kafka suites, each in a working
directory of its own, as each container has one. Where Docker's network is what makes it work,
this test maps it: the compose host names become loopback addresses, and every service gets a
metrics port of its own (each container has its own network; processes share one). Prometheus
runs deploy/prometheus/prometheus.yml, changed only where Docker's DNS discovery must become a
file of those addresses, with its rules.

Two changes to the compose commands: the producer streams the `full` scenario once and flat out
(`--rate 0`, no `--loop`) instead of one simulated day every 25 s for ever, and the namespace is
one of this run's, so that runs on one broker do not mix. Not covered: the image build, Docker's
networking, restart policies, healthchecks and volumes, scaling by `--scale`, and Grafana (the
dashboards' queries run against a real Prometheus in test_prometheus.py). Alertmanager runs the
compose configuration with its receiver's address mapped, and the webhook receiver must print a
trustwatch problem that the notifier sent through it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from shared.broker import free_port
from shared.schemas import Decision, ScenarioEvent
from shared.settings import Settings
from shared.tail import read_back
from shared.topics import DECISIONS, SCENARIO
from tests.integration.alertmanager import Alertmanager
from tests.integration.test_prometheus import _query, _ready, _wait

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ROOT = Path(__file__).resolve().parents[2]
# the compose services reached by name and port (Kafka, Alertmanager, the webhook receiver)
COMPOSE_ADDRESSES = ("kafka:9092", "alertmanager:9093", "webhook:9095")
METRICS_PORT = "9400"  # what every trustwatch container serves /metrics on
# the alerts each kind of injected problem must show as (test_demo.py asks the same of the demo)
CAUGHT_BY = {"covariate": {"DRIFT"}, "schema": {"DATA_QUALITY"},
             "concept": {"PERFORMANCE", "CHANGE_POINT"}, "group_bias": {"BIAS"},
             "prior": {"DRIFT", "PERFORMANCE"}}  # fmt: skip
# an alert as `trustwatch watch alerts` prints it (wrapped at 80 columns when not on a terminal):
# the window, the status or severity, the type; the problem's other symptoms as TYPE:subject
ALERT_ENTRY = re.compile(r"^(\d{4}-\d{2}-\d{2}) (\w+)\s+([A-Z_]+)\s", re.MULTILINE)
SYMPTOM = re.compile(r"\b([A-Z_]{4,}):\w")
# a trustwatch problem as the webhook receiver prints it
FIRING = re.compile(r"^FIRING Trustwatch[A-Za-z]+ [A-Z_]+:\S+: ", re.MULTILINE)


def _image_environment(artifacts_dir: Path, history: Path) -> dict[str, str]:
    """The image's TRUSTWATCH_* settings (Dockerfile ENV), with its paths made local."""
    found = dict(re.findall(r"(TRUSTWATCH_\w+)=(\S+)", (ROOT / "Dockerfile").read_text()))
    assert set(found) == {"TRUSTWATCH_ARTIFACTS_DIR", "TRUSTWATCH_HISTORY_PATH"}, found
    return {"TRUSTWATCH_ARTIFACTS_DIR": str(artifacts_dir), "TRUSTWATCH_HISTORY_PATH": str(history)}


def _trustwatch_services() -> dict[str, dict]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return {name: service for name, service in compose["services"].items()
            if service.get("image", "").startswith("trustwatch")}  # fmt: skip


def _command(name: str, service: dict, hosts: dict[str, str]) -> list[str]:
    command = list(service["command"])
    if name == "producer":
        assert "--loop" in command and "--rate" in command, command
        command.remove("--loop")
        command[command.index("--rate") + 1] = "0"
    if name == "webhook":  # listens where the receiver's compose address now leads
        command[command.index("--port") + 1] = hosts["webhook:9095"].rsplit(":", 1)[1]
        command[command.index("--host") + 1] = "127.0.0.1"
    return [sys.executable, "-m", "trustwatch", *command]


def _environment(service: dict, hosts: dict[str, str], port: int, namespace: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTWATCH_")}
    for key, value in service["environment"].items():
        for host, address in hosts.items():
            value = str(value).replace(host, address)
        env[key] = value
    assert env["TRUSTWATCH_METRICS_PORT"] == METRICS_PORT and env["TRUSTWATCH_NAMESPACE"]
    env.update(TRUSTWATCH_METRICS_HOST="127.0.0.1", TRUSTWATCH_METRICS_PORT=str(port),
               TRUSTWATCH_NAMESPACE=namespace)  # fmt: skip
    return env


def _prometheus_config(work: Path, ports: dict[str, int], hosts: dict[str, str]) -> Path:
    """deploy/prometheus/prometheus.yml with DNS discovery turned into files of the services'
    loopback addresses, and the same for the static targets named by compose host."""
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    for manager in config["alerting"]["alertmanagers"]:
        for static in manager["static_configs"]:
            static["targets"] = [hosts[target] for target in static["targets"]]
    config["rule_files"] = [str(ROOT / "deploy" / "prometheus" / rule)
                            for rule in config["rule_files"]]  # fmt: skip
    (work / "targets").mkdir()
    for job in config["scrape_configs"]:
        names = [name for sd in job.pop("dns_sd_configs", []) for name in sd["names"]]
        for static in job.pop("static_configs", []):
            names += [target.rsplit(":", 1)[0] for target in static["targets"]]
        targets = work / "targets" / f"{job['job_name']}.json"
        targets.write_text(json.dumps([{"targets": [f"127.0.0.1:{ports[n]}" for n in names]}]))
        job["file_sd_configs"] = [{"files": [str(targets)], "refresh_interval": "1s"}]
    path = work / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_the_compose_services_as_processes_show_the_scenarios_problems_and_are_scraped(
    bootstrap_servers, artifacts_dir, tmp_path
):
    if os.environ.get("TRUSTWATCH_TEST_BROKER") != "kafka":
        pytest.skip("runs with the suites on Apache Kafka (make integration-kafka)")
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.skip("prometheus is not installed (Debian package prometheus); CI installs it")
    services = _trustwatch_services()
    assert {"topics", "producer", "scorer", "alerter", "alert-watcher", "notifier",
            "webhook"} <= set(services)  # fmt: skip
    namespace = f"compose-{uuid.uuid4().hex[:8]}"
    receiver = f"127.0.0.1:{free_port('127.0.0.1')}"
    # the compose Alertmanager's own configuration and timers; its receiver's address mapped
    manager = Alertmanager(tmp_path / "alertmanager", f"http://{receiver}/", timers=None)
    hosts = dict(zip(COMPOSE_ADDRESSES, [bootstrap_servers, f"127.0.0.1:{manager.port}",
                                         receiver], strict=True))  # fmt: skip
    ports = {name: free_port("127.0.0.1") for name in services}
    image = _image_environment(artifacts_dir, tmp_path / "alerter" / "history.sqlite")

    def start(name: str) -> subprocess.Popen:
        home = tmp_path / name
        home.mkdir(exist_ok=True)
        env = image | _environment(services[name], hosts, ports[name], namespace)
        with open(tmp_path / f"{name}.log", "wb") as log:
            return subprocess.Popen(_command(name, services[name], hosts), env=env, cwd=home,
                                    stdout=log, stderr=subprocess.STDOUT)  # fmt: skip

    # the one-shot topics service first: the others depend on its success
    assert start("topics").wait(timeout=120) == 0, (tmp_path / "topics.log").read_text()
    config = _prometheus_config(tmp_path, ports, hosts)
    manager.start()
    server = subprocess.Popen(
        [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{ports.setdefault('prometheus', free_port())}"],
        stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prometheus.log", "w"),  # noqa: SIM115
    )  # fmt: skip
    base = f"http://127.0.0.1:{ports['prometheus']}"
    running = {name: start(name) for name in services if name != "topics"}
    settings = Settings(bootstrap_servers=bootstrap_servers, namespace=namespace)
    try:

        def decided() -> bool:
            dead = [n for n, p in running.items() if p.poll() not in (None, 0)]
            assert not dead, f"{dead} exited; logs in {tmp_path}"
            found = read_back(settings, [DECISIONS])
            return len({m.value.window_start for m in found if isinstance(m.value, Decision)}) >= 30

        _wait(decided, 420, "a decision for every window of the full scenario")
        _wait(lambda: _ready(base), 60, "Prometheus to be ready")
        jobs = {job["job_name"] for job in yaml.safe_load(config.read_text())["scrape_configs"]}

        def all_up() -> bool:
            up = {r["metric"]["job"]: r["value"][1] for r in _query(base, "up")}
            return up == dict.fromkeys(jobs, "1")

        _wait(all_up, 60, f"every Prometheus target ({', '.join(sorted(jobs))}) up")
        # the notifier's problems went through Alertmanager (its 30 s group wait) to the webhook
        webhook_log = tmp_path / "webhook.log"
        _wait(lambda: FIRING.search(webhook_log.read_text()), 90, "a notification at the webhook")
        time.sleep(2)  # the watcher prints what it read
    finally:
        for process in [*running.values(), server]:
            process.terminate()
        for process in [*running.values(), server]:
            process.wait(timeout=30)
        manager.stop()

    # the alert watcher showed each injected problem as one of its alerts, within its step
    steps = [m.value for m in read_back(settings, [SCENARIO]) if isinstance(m.value, ScenarioEvent)]
    assert {step.kind.value for step in steps} == set(CAUGHT_BY)
    shown = (tmp_path / "alert-watcher.log").read_text()
    entries = list(ALERT_ENTRY.finditer(shown))
    assert entries, shown
    # window -> the types an open problem showed then: its headline and its symptoms (which
    # monitor's signal comes first, and so heads the problem, depends on timing)
    seen: dict[str, set[str]] = {}
    for entry, following in zip(entries, [*entries[1:], None], strict=True):
        if entry[2] == "RESOLVED":
            continue
        text = shown[entry.start() : following.start() if following else len(shown)]
        seen.setdefault(entry[1], set()).update({entry[3], *SYMPTOM.findall(text)})
    assert any(entry[2] in ("INFO", "WARNING", "CRITICAL") for entry in entries), shown
    for step in steps:
        start = step.start.date()
        end = (step.end or step.start + timedelta(days=365)).date() + timedelta(days=1)
        caught = {kind for day, kinds in seen.items()
                  if start.isoformat() <= day <= end.isoformat() for kind in kinds}  # fmt: skip
        assert caught & CAUGHT_BY[step.kind.value], (step.kind, step.start, seen)
