"""Entrypoint of the monitor services: one process (and consumer group) per monitor kind."""

from __future__ import annotations

from enum import StrEnum

from monitors.service import (
    DriftCalculator,
    FairnessCalculator,
    MonitorHandler,
    PerformanceCalculator,
)
from shared.artifact import load_metadata, load_reference, resolve_version_dir
from shared.loop import ConsumerLoop, LoopStats
from shared.policy import load_policy
from shared.service import prepare_broker
from shared.settings import Settings
from shared.topics import SCORED_ROWS


class MonitorKind(StrEnum):
    PERFORMANCE = "performance"
    DRIFT = "drift"
    FAIRNESS = "fairness"


def build(settings: Settings, kind: MonitorKind) -> ConsumerLoop:
    policy = load_policy(settings.policy_path)
    version_dir = resolve_version_dir(settings.artifacts_dir)
    metadata = load_metadata(version_dir)
    if kind == MonitorKind.PERFORMANCE:
        calculator = PerformanceCalculator(metadata, policy)
    elif kind == MonitorKind.DRIFT:
        calculator = DriftCalculator(load_reference(version_dir, metadata), metadata, policy)
    else:
        calculator = FairnessCalculator(policy)
    handler = MonitorHandler(calculator, settings)
    return ConsumerLoop(settings, f"monitor-{kind.value}", [SCORED_ROWS], handler)


def run(
    settings: Settings,
    kind: MonitorKind,
    max_messages: int | None = None,
    idle_timeout: float | None = None,
) -> LoopStats:
    prepare_broker(settings)
    loop = build(settings, kind)
    loop.install_signal_handlers()
    return loop.run(max_messages=max_messages, idle_timeout=idle_timeout)
