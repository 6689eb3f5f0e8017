"""Entrypoint of the scorer service."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import CollectorRegistry, Gauge

from model.artifact import load_metadata, load_model, resolve_version_dir
from model.messages import RowMessages
from scorer.service import ScorerHandler
from shared.loop import ConsumerLoop, LoopStats
from shared.metrics import LoopMetrics, count_of
from shared.records import Keep
from shared.service import run_service
from shared.settings import Settings
from shared.topics import LABELS

GROUP_ID = "scorer"


def scorer_handler(settings: Settings) -> ScorerHandler:
    """The scorer of the current model artifact, as the settings configure it."""
    version_dir = resolve_version_dir(settings.artifacts_dir)
    metadata = load_metadata(version_dir)
    return ScorerHandler(
        load_model(version_dir, metadata),
        metadata,
        Keep.of(settings),
        settings.label_buffer_rows,
        max_skew=timedelta(seconds=settings.event_time_max_skew_seconds),
        jump_rows=settings.event_time_jump_rows,
    )


def build(settings: Settings, registry: CollectorRegistry | None = None) -> ConsumerLoop:
    handler = scorer_handler(settings)
    rows = RowMessages.of(handler.metadata.contract)
    registry = registry or CollectorRegistry()
    Gauge(
        "trustwatch_scorer_labels_pending",
        "Predictions published and waiting for their label.",
        registry=registry,
    ).set_function(lambda: handler.join.pending)
    count_of(registry, "trustwatch_scorer_label_buffer_evictions",
             "Entries dropped from the full label-join buffer since start.",
             lambda: handler.join.evicted)  # fmt: skip
    count_of(registry, "trustwatch_scorer_orphan_labels",
             "Labels whose row was quarantined or evicted, since start.",
             lambda: handler.join.orphaned)  # fmt: skip
    return ConsumerLoop(
        settings, GROUP_ID, [rows.raw, LABELS], handler, metrics=LoopMetrics(registry)
    )


def run(
    settings: Settings, max_messages: int | None = None, idle_timeout: float | None = None
) -> LoopStats:
    return run_service(settings, build, max_messages, idle_timeout)
