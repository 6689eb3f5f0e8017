"""Entrypoint of the scorer service."""

from __future__ import annotations

from scorer.service import ScorerHandler
from shared.artifact import load_metadata, load_model, resolve_version_dir
from shared.loop import ConsumerLoop, LoopStats
from shared.service import prepare_broker
from shared.settings import Settings
from shared.topics import RAW_ROWS

GROUP_ID = "scorer"


def build(settings: Settings) -> ConsumerLoop:
    version_dir = resolve_version_dir(settings.artifacts_dir)
    metadata = load_metadata(version_dir)
    model = load_model(version_dir, metadata)
    handler = ScorerHandler(model, metadata, settings.quarantine_payload_chars)
    return ConsumerLoop(settings, GROUP_ID, [RAW_ROWS], handler)


def run(
    settings: Settings, max_messages: int | None = None, idle_timeout: float | None = None
) -> LoopStats:
    prepare_broker(settings)
    loop = build(settings)
    loop.install_signal_handlers()
    return loop.run(max_messages=max_messages, idle_timeout=idle_timeout)
