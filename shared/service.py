"""Wiring shared by every service entrypoint: logging, broker wait, topics, metrics endpoint."""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry, start_http_server

from shared.kafka import ensure_topics, wait_for_broker
from shared.loop import ConsumerLoop, LoopStats
from shared.settings import Settings


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )


def prepare_broker(settings: Settings, timeout: float = 60.0) -> list[str]:
    """Wait for the broker (it may still be starting) and create missing topics; return the
    names created."""
    wait_for_broker(settings, timeout=timeout)
    return ensure_topics(settings)


def serve_metrics(settings: Settings, registry: CollectorRegistry) -> int | None:
    """Expose ``registry`` on ``/metrics`` when a port is configured; return the bound port."""
    if not settings.metrics_port:
        return None
    start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    return settings.metrics_port


def run_service(
    settings: Settings,
    build: Callable[[Settings, CollectorRegistry], ConsumerLoop],
    max_messages: int | None = None,
    idle_timeout: float | None = None,
) -> LoopStats:
    """The life of every service: broker ready, loop built, metrics served, run until stopped."""
    prepare_broker(settings)
    registry = CollectorRegistry()
    loop = build(settings, registry)
    serve_metrics(settings, registry)
    loop.install_signal_handlers()
    return loop.run(max_messages=max_messages, idle_timeout=idle_timeout)
