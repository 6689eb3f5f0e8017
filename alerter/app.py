"""Entrypoint of the alerter service."""

from __future__ import annotations

import logging
import sqlite3

from prometheus_client import CollectorRegistry

from alerter.history import History
from alerter.metrics import AlerterMetrics
from alerter.service import AlerterHandler
from model.artifact import load_metadata, resolve_version_dir
from shared.errors import ConfigurationError
from shared.loop import ConsumerLoop, LoopStats
from shared.metrics import LoopMetrics
from shared.policy import load_policy
from shared.schemas import Alert, Decision
from shared.service import run_service
from shared.settings import Settings
from shared.tail import committed_offset, read_back, read_range
from shared.topics import ALERTS, DECISIONS, DRIFT_SIGNALS, SIGNAL_TOPICS

log = logging.getLogger(__name__)

GROUP_ID = "alerter"


def build(settings: Settings, registry: CollectorRegistry) -> ConsumerLoop:
    policy = load_policy(settings.policy_path)
    metadata = load_metadata(resolve_version_dir(settings.artifacts_dir))
    try:
        history = History(settings.history_path, settings.history_retention_days)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigurationError(
            f"TRUSTWATCH_HISTORY_PATH={settings.history_path}: cannot open the alerter's history "
            f"there ({exc}); point it at a writable file"
        ) from None

    def record(message) -> None:
        history.record(message)
        if isinstance(message, Decision):
            history.prune(message.window_end)

    metrics = AlerterMetrics(registry)
    metrics.observe_configuration(policy, metadata.model_version, metadata.deployment_gaps())
    handler = AlerterHandler(policy, metadata, metrics, record)
    restore(settings, handler)
    return ConsumerLoop(
        settings, GROUP_ID, list(SIGNAL_TOPICS), handler, metrics=LoopMetrics(registry)
    )


def restore(settings: Settings, handler: AlerterHandler) -> None:
    """Rebuild the open alerts, the last decided window and the drift streaks from the topics
    after a restart, so a restarted alerter neither fires an open alert again, nor loses its
    resolution, nor restarts a streak of drifted windows."""
    # only the alerter writes these: they are quiet while it is down
    history = read_back(settings, [ALERTS, DECISIONS])
    alerts = [m.value for m in history if isinstance(m.value, Alert)]
    decided = [m.value.window_start for m in history if isinstance(m.value, Decision)]
    # the drift monitor goes on publishing: read what this group has consumed, the rest comes
    # through the loop
    consumed = committed_offset(settings, GROUP_ID, DRIFT_SIGNALS, 0)
    drifts = [value for _, value in read_range(settings, DRIFT_SIGNALS, 0, 0, consumed)]
    handler.restore(alerts, decided, drifts)
    if history:
        log.info("restored %d alerts and %d decided windows (the last %s)", len(alerts),
                 len(decided), max(decided) if decided else None)  # fmt: skip


def run(
    settings: Settings, max_messages: int | None = None, idle_timeout: float | None = None
) -> LoopStats:
    return run_service(settings, build, max_messages, idle_timeout)
