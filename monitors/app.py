"""Entrypoint of the monitor services: one consumer group per monitor kind, of one instance or
several (each reads its share of the row partitions; one of them combines the partial windows)."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from model.artifact import load_metadata, load_model, load_reference, resolve_version_dir
from model.contract import ModelContract
from model.messages import RowMessages
from monitors.attribution import LinearAttribution
from monitors.calculators import (
    DriftCalculator,
    EstimatedPerformanceCalculator,
    FairnessCalculator,
    PerformanceCalculator,
    StreamClock,
    WindowCalculator,
)
from monitors.service import monitor_handler
from shared.loop import ConsumerLoop, LoopStats
from shared.metrics import LoopMetrics
from shared.policy import load_policy
from shared.service import run_service
from shared.settings import Settings
from shared.tail import read_range
from shared.topics import (
    DRIFT_WINDOWS,
    FAIRNESS_WINDOWS,
    PERFORMANCE_WINDOWS,
    QUARANTINE,
    Topic,
)


class MonitorKind(StrEnum):
    PERFORMANCE = "performance"
    DRIFT = "drift"
    FAIRNESS = "fairness"


PARTIALS = {
    MonitorKind.PERFORMANCE: PERFORMANCE_WINDOWS,
    MonitorKind.DRIFT: DRIFT_WINDOWS,
    MonitorKind.FAIRNESS: FAIRNESS_WINDOWS,
}


def inputs_of(kind: MonitorKind, contract: ModelContract) -> list[Topic]:
    """The topics a monitor reads: the scored rows (as the contract's messages), the quarantine
    (drift only, for data quality) and its own partial windows."""
    secondary = [QUARANTINE] if kind == MonitorKind.DRIFT else []
    return [RowMessages.of(contract).scored, *secondary, PARTIALS[kind]]


def calculators_of(settings: Settings, kind: MonitorKind) -> list[WindowCalculator]:
    """The window calculators of a monitor, fitted on the current model artifact."""
    policy = load_policy(settings.policy_path)
    version_dir = resolve_version_dir(settings.artifacts_dir)
    metadata = load_metadata(version_dir)
    calculators: list[WindowCalculator]
    clock = StreamClock(
        settings.simulation_start,
        timedelta(seconds=settings.window_seconds),
        policy.summaries.stream_buckets,
    )
    if kind == MonitorKind.PERFORMANCE:
        # windows whose labels are late get a provisional estimate first
        calculators = [
            PerformanceCalculator(metadata, policy, clock),
            EstimatedPerformanceCalculator(metadata, policy),
        ]
    elif kind == MonitorKind.DRIFT:
        reference = load_reference(version_dir, metadata)
        model = load_model(version_dir, metadata)
        attribution = None
        if LinearAttribution.supports(model):
            background = reference.sample(min(len(reference), 1000), random_state=metadata.seed)
            attribution = LinearAttribution(model, background, metadata.contract.names)
        calculators = [DriftCalculator(reference, metadata, policy, clock, attribution)]
    else:
        calculators = [FairnessCalculator(policy, metadata.contract.sensitive)]
    return calculators


def build(
    settings: Settings, kind: MonitorKind, registry: CollectorRegistry | None = None
) -> ConsumerLoop:
    registry = registry or CollectorRegistry()
    contract = load_metadata(resolve_version_dir(settings.artifacts_dir)).contract
    primary, *secondary, partials = inputs_of(kind, contract)

    def read(topic: Topic, partition: int, start: int, end: int) -> list[tuple[int, BaseModel]]:
        return read_range(settings, topic, partition, start, end)

    calculators = calculators_of(settings, kind)
    handler = monitor_handler(calculators, settings, primary, partials, read, secondary)
    return ConsumerLoop(
        settings,
        f"monitor-{kind.value}",
        inputs_of(kind, contract),
        handler,
        metrics=LoopMetrics(registry),
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
