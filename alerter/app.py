"""Entrypoint of the alerter service."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from alerter.metrics import AlerterMetrics
from alerter.service import AlerterHandler
from shared.artifact import load_metadata, resolve_version_dir
from shared.loop import ConsumerLoop, LoopStats
from shared.policy import load_policy
from shared.service import prepare_broker, serve_metrics
from shared.settings import Settings
from shared.topics import SIGNAL_TOPICS

GROUP_ID = "alerter"


def build(settings: Settings, registry: CollectorRegistry) -> ConsumerLoop:
    policy = load_policy(settings.policy_path)
    metadata = load_metadata(resolve_version_dir(settings.artifacts_dir))
    handler = AlerterHandler(policy, metadata, AlerterMetrics(registry))
    return ConsumerLoop(settings, GROUP_ID, list(SIGNAL_TOPICS), handler)


def run(
    settings: Settings, max_messages: int | None = None, idle_timeout: float | None = None
) -> LoopStats:
    prepare_broker(settings)
    registry = CollectorRegistry()
    loop = build(settings, registry)
    serve_metrics(settings, registry)
    loop.install_signal_handlers()
    return loop.run(max_messages=max_messages, idle_timeout=idle_timeout)
