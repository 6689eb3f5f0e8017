"""Entrypoint of the monitor services: one process (and consumer group) per monitor kind."""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import CollectorRegistry

from monitors.attribution import LinearAttribution
from monitors.service import (
    DriftCalculator,
    EstimatedPerformanceCalculator,
    FairnessCalculator,
    MonitorHandler,
    PerformanceCalculator,
)
from shared.artifact import load_metadata, load_model, load_reference, resolve_version_dir
from shared.loop import ConsumerLoop, FanOutHandler, Handler, LoopStats
from shared.metrics import LoopMetrics
from shared.policy import load_policy
from shared.service import run_service
from shared.settings import Settings
from shared.tail import read_back
from shared.topics import DRIFT_SIGNALS, FAIRNESS_SIGNALS, QUARANTINE, SCORED_ROWS


class MonitorKind(StrEnum):
    PERFORMANCE = "performance"
    DRIFT = "drift"
    FAIRNESS = "fairness"


def build(
    settings: Settings, kind: MonitorKind, registry: CollectorRegistry | None = None
) -> ConsumerLoop:
    registry = registry or CollectorRegistry()
    policy = load_policy(settings.policy_path)
    version_dir = resolve_version_dir(settings.artifacts_dir)
    metadata = load_metadata(version_dir)
    estimate = None
    if kind == MonitorKind.PERFORMANCE:
        calculator = PerformanceCalculator(metadata, policy)
        # windows whose labels are late get a provisional estimate first
        estimate = MonitorHandler(
            EstimatedPerformanceCalculator(metadata), settings, primary=SCORED_ROWS
        )
    elif kind == MonitorKind.DRIFT:
        reference = load_reference(version_dir, metadata)
        attribution = LinearAttribution(
            load_model(version_dir, metadata),
            reference.sample(min(len(reference), 1000), random_state=metadata.seed),
        )
        calculator = DriftCalculator(reference, metadata, policy, attribution)
        # a restarted drift monitor confirms severities as an uninterrupted one would
        calculator.restore(
            m.value  # type: ignore[misc]
            for m in read_back(settings, [DRIFT_SIGNALS], quiet=0.5, first_wait=1.0)
        )
    else:
        calculator = FairnessCalculator(policy)
        # a restarted fairness monitor judges gaps over the same rolling span
        calculator.restore(
            m.value  # type: ignore[misc]
            for m in read_back(settings, [FAIRNESS_SIGNALS], quiet=0.5, first_wait=1.0)
        )
    handler: Handler = MonitorHandler(calculator, settings, primary=SCORED_ROWS)
    if estimate is not None:
        handler = FanOutHandler(handler, estimate)
    topics = [SCORED_ROWS, QUARANTINE] if kind == MonitorKind.DRIFT else [SCORED_ROWS]
    return ConsumerLoop(
        settings,
        f"monitor-{kind.value}",
        topics,
        handler,
        metrics=LoopMetrics(registry, f"monitor-{kind.value}"),
    )


def run(
    settings: Settings,
    kind: MonitorKind,
    max_messages: int | None = None,
    idle_timeout: float | None = None,
) -> LoopStats:
    return run_service(
        settings, lambda s, registry: build(s, kind, registry), max_messages, idle_timeout
    )
