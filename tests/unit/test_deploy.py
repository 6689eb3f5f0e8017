"""The deployment files, checked without Docker: the compose file against the compose spec, the
compose services against the embedded demo's, Prometheus's config and rules with promtool, the
Grafana provisioning, and the package data the image installs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml

from shared.settings import Settings
from trustwatch.demo import ALL_SERVICES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _promtool() -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus); CI installs it")
    return promtool


def test_compose_file_follows_the_compose_spec():
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(ROOT / "docker-compose.yml")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_the_demos_services_with_the_same_commands_and_known_settings():
    services = _compose()["services"]
    for name, command in ALL_SERVICES.items():
        assert services[name]["command"] == command, name
    known = {f"TRUSTWATCH_{name.upper()}" for name in Settings.model_fields}
    for name, service in services.items():
        variables = {k for k in service.get("environment", {}) if k.startswith("TRUSTWATCH_")}
        assert variables <= known, (name, variables - known)
    # the broker is the only difference: a healthcheck gates the one-shot topic creation
    assert "healthcheck" in services["kafka"]
    assert services["topics"]["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert services["scorer"]["depends_on"]["topics"]["condition"] == (
        "service_completed_successfully")  # fmt: skip
    assert "ports" not in services["scorer"] and "container_name" not in services["scorer"]


def test_prometheus_scrapes_every_service_under_the_demos_job_names():
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert {job["job_name"] for job in config["scrape_configs"]} == set(ALL_SERVICES)
    # the rules' alerts go to the compose Alertmanager, as trustwatch's own problems do
    [manager] = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    notifier_env = _compose()["services"]["notifier"]["environment"]
    assert notifier_env["TRUSTWATCH_ALERTMANAGER_URL"] == f"http://{manager}"


def test_published_ports_listen_on_loopback_and_grafana_has_no_default_admin_password():
    services = _compose()["services"]
    published = {name: s["ports"] for name, s in services.items() if "ports" in s}
    assert set(published) == {"prometheus", "grafana", "alertmanager"}
    for name, ports in published.items():
        assert all(str(port).startswith("127.0.0.1:") for port in ports), (name, ports)
    password = services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"]
    # ${VAR:?message}: compose refuses to start until the variable is set
    assert password.startswith("${GRAFANA_ADMIN_PASSWORD:?"), password


def test_every_long_running_python_service_has_a_healthcheck_on_what_it_serves():
    services = _compose()["services"]
    for name in ALL_SERVICES:
        check = " ".join(services[name]["healthcheck"]["test"])
        assert "9400/metrics" in check, name
        assert services[name]["environment"]["TRUSTWATCH_METRICS_PORT"] == "9400", name
    assert "9095" in " ".join(services["webhook"]["healthcheck"]["test"])
    assert services["webhook"]["command"][-1] == "9095"


def test_alertmanager_config_is_valid_and_groups_one_notification_per_problem():
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.skip("amtool is not installed (Debian package prometheus-alertmanager)")
    path = DEPLOY / "alertmanager" / "alertmanager.yml"
    result = subprocess.run([amtool, "check-config", str(path)], capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    route = yaml.safe_load(path.read_text())["route"]
    assert {"problem", "fired"} <= set(route["group_by"])
    mounts = _compose()["services"]["alertmanager"]["volumes"]
    assert "./deploy/alertmanager:/etc/alertmanager:ro" in mounts


def test_every_rule_links_a_runbook_section_that_exists():
    from alerter.notifications import ALERT_NAMES, runbook_anchor

    sections = {
        line[3:].strip().lower()
        for line in (ROOT / "docs" / "runbooks.md").read_text().splitlines()
        if line.startswith("## ")
    }
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    for rule in (rule for group in rules["groups"] for rule in group["rules"]):
        page, anchor = rule["annotations"]["runbook_url"].split("#")
        assert page == "docs/runbooks.md" and anchor == runbook_anchor(rule["alert"])
        assert anchor in sections, rule["alert"]
    assert {runbook_anchor(name) for name in ALERT_NAMES.values()} <= sections


def test_the_image_installs_its_dependencies_from_the_lock_with_hashes():
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lock = (ROOT / "requirements.lock").read_text()
    pinned = {}
    for block in lock.split("\n"):
        if block and not block[0].isspace() and not block.startswith("#"):
            name, _, version = block.split(" ")[0].partition("==")
            pinned[canonicalize_name(name)] = version
    assert lock.count("--hash=sha256:") >= len(pinned) > 0
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        requirement = Requirement(spec)
        version = pinned.get(canonicalize_name(requirement.name))
        assert version and requirement.specifier.contains(version), (spec, version)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install --require-hashes --no-deps -r requirements.lock" in dockerfile
    assert "pip install --no-deps ." in dockerfile
    assert "FROM python:3.11" in dockerfile and "--python-version 3.11" in lock


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus-demo.yml"])
def test_promtool_accepts_the_configs(config):
    result = subprocess.run([_promtool(), "check", "config", config], cwd=DEPLOY / "prometheus",
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests_pass():
    promtool = _promtool()
    prometheus_dir = DEPLOY / "prometheus"
    checked = subprocess.run([promtool, "check", "rules", "rules.yml"], cwd=prometheus_dir,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([promtool, "test", "rules", "rules-test.yml"], cwd=prometheus_dir,
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr
    rules = yaml.safe_load((prometheus_dir / "rules.yml").read_text())
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tested_names = set()
    for case in yaml.safe_load((prometheus_dir / "rules-test.yml").read_text())["tests"]:
        tested_names |= {t["alertname"] for t in case["alert_rule_test"] if t["exp_alerts"]}
    # every rule has a case where it fires, except the ones only the live run can show
    assert names - tested_names <= {"TrustwatchRecallGapWide", "TrustwatchFairnessEscalation",
                                    "TrustwatchConsumerLagHigh"}  # fmt: skip


def test_the_dashboards_are_those_grafanas_foundation_sdk_builds():
    built = subprocess.run([sys.executable, str(DEPLOY / "grafana" / "build.py"), "--check"],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboards_read_the_datasource_variable_whose_default_is_the_provisioned_one(path):
    datasource = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    board = json.loads(path.read_text())
    variable, *label_variables = board["templating"]["list"]
    assert (variable["name"], variable["type"], variable["query"]) == (
        "datasource", "datasource", "prometheus")  # fmt: skip
    assert variable["current"]["value"] == datasource["uid"]
    # the others list label values of the chosen data source (the model contract's names)
    for other in label_variables:
        assert other["type"] == "query" and other["datasource"]["uid"] == "${datasource}"
        assert other["query"].startswith("label_values(") and other["includeAll"]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)) and board["uid"].startswith("trustwatch-")
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        for target in [*panel["targets"], panel]:
            assert target["datasource"]["uid"] == "${datasource}"
        assert all(target["expr"].strip() for target in panel["targets"])
    for annotation in board.get("annotations", {}).get("list", []):
        assert annotation["datasource"]["uid"] == "${datasource}" and annotation["expr"]


def test_model_health_shows_problems_fired_and_resolved_as_annotations():
    board = json.loads((DEPLOY / "grafana" / "dashboards" / "model-health.json").read_text())
    exprs = [a["expr"] for a in board["annotations"]["list"] if a["enable"]]
    assert any("trustwatch_alerts_fired_total" in e for e in exprs)
    assert any("trustwatch_alerts_resolved_total" in e for e in exprs)


def test_dashboard_provider_loads_the_directory_compose_mounts():
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "trustwatch.yml").read_text()
    )["providers"][0]
    mounts = _compose()["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert len(DASHBOARDS) == 2


def test_the_wheel_the_image_installs_carries_the_data_policy_and_scenarios(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v",
         "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    # setuptools says nothing of our metadata (a license table, data dirs not declared ...)
    assert "Deprecat" not in result.stdout + result.stderr, result.stdout + result.stderr
    (wheel,) = tmp_path.glob("trustwatch-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "model/data/telco-customer-churn.csv" in names
    assert "shared/policy.yaml" in names
    scenarios = {p.name for p in (ROOT / "producer" / "scenarios").glob("*.yaml")}
    assert {f"producer/scenarios/{name}" for name in scenarios} <= names
    # what the image's build step runs, from the installed files alone (not this checkout)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    env = {**os.environ, "PYTHONPATH": str(site), "TRUSTWATCH_ARTIFACTS_DIR": str(tmp_path / "a")}
    check = (
        "import shared, producer.scenario as s; "
        f"assert shared.__file__.startswith({str(site)!r}), shared.__file__; "
        "print(sorted(s.builtin_names())); s.get_scenario('full')"
    )
    listed = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == str(sorted(p.removesuffix(".yaml") for p in scenarios))
    trained = subprocess.run([sys.executable, "-m", "trustwatch", "train"], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert trained.returncode == 0, trained.stdout + trained.stderr
    assert list((tmp_path / "a").glob("*/model.joblib"))
