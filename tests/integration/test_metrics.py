"""Every metric named in docs/metrics.md has samples after the services ran on a scenario."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from alerter.app import build as build_alerter
from alerter.notifier import build as build_notifier
from monitors.app import MonitorKind
from monitors.app import build as build_monitor
from producer.app import produce
from producer.scenario import get_scenario
from producer.stream import StreamPlan
from scorer.app import build as build_scorer
from shared.kafka import ensure_topics
from tests.integration.alertmanager import Alertmanager, WebhookReceiver

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


@pytest.fixture(scope="module")
def registries(bootstrap_servers, artifacts_dir, tmp_path_factory):
    from shared.settings import Settings

    settings = Settings(
        bootstrap_servers=bootstrap_servers, namespace="test-metrics",
        artifacts_dir=artifacts_dir, session_timeout_ms=2000, heartbeat_interval_ms=500,
        idle_flush_seconds=1.0, history_path=tmp_path_factory.mktemp("h") / "history.sqlite",
    )  # fmt: skip
    ensure_topics(settings)
    plan = StreamPlan(get_scenario("full"), 30, 200, 3, datetime(2026, 3, 1, tzinfo=UTC),
                      label_delay_days=1)  # fmt: skip
    produce(settings, plan)
    made = {"scorer": CollectorRegistry()}
    build_scorer(settings, made["scorer"]).run(idle_timeout=4)
    for kind in MonitorKind:
        made[kind.value] = CollectorRegistry()
        build_monitor(settings, kind, made[kind.value]).run(idle_timeout=4)
    made["alerter"] = CollectorRegistry()
    build_alerter(settings, made["alerter"]).run(idle_timeout=4)
    # the notifier, to a real Alertmanager
    receiver = WebhookReceiver()
    manager = Alertmanager(tmp_path_factory.mktemp("alertmanager"), receiver.url).start()
    try:
        made["notifier"] = CollectorRegistry()
        notifying = settings.model_copy(update={"alertmanager_url": manager.url})
        build_notifier(notifying, made["notifier"]).run(idle_timeout=4)
    finally:
        manager.stop()
        receiver.close()
    return made


def documented() -> list[str]:
    return re.findall(r"^\| `(trustwatch_[a-z_]+)`", DOC.read_text(), flags=re.MULTILINE)


def test_every_documented_metric_has_samples(registries):
    names = {
        sample.name
        for registry in registries.values()
        for family in registry.collect()
        for sample in family.samples
    }
    expected = documented()
    assert len(expected) >= 20
    for name in expected:
        base = name.removesuffix("_total")
        assert any(n == name or n.startswith(base + "_") or n == base for n in names), name


def test_exposition_passes_promtool(registries, tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus); CI installs it")
    for service, registry in registries.items():
        result = subprocess.run([promtool, "check", "metrics"], input=generate_latest(registry),
                                capture_output=True, check=False)  # fmt: skip
        assert result.returncode == 0, (service, result.stdout + result.stderr)
