"""Wiring shared by every service entrypoint: logging, broker wait, topics, metrics endpoint."""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry, start_http_server

from shared.capabilities import adapt_to_broker
from shared.errors import ConfigurationError
from shared.kafka import ensure_topics, wait_for_broker
from shared.loop import ConsumerLoop, LoopStats
from shared.settings import Settings


def configure_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True
    )


def check_client_config(settings: Settings) -> None:
    """Refuse, as one line, librdkafka properties the client does not know or values it does not
    take (TRUSTWATCH_KAFKA_EXTRA_CONFIG, TRUSTWATCH_SECURITY_PROTOCOL, ...), before waiting on a
    broker that such a client could never reach."""
    from confluent_kafka import KafkaException, Producer

    from shared.kafka import producer_config

    try:
        Producer(producer_config(settings))
    except (KafkaException, ValueError, TypeError) as exc:
        reason = exc.args[0].str() if isinstance(exc, KafkaException) else str(exc)
        raise ConfigurationError(
            f"the Kafka client refuses its configuration: {reason}; check "
            "TRUSTWATCH_KAFKA_EXTRA_CONFIG and the TRUSTWATCH_SECURITY_*/SASL_*/SSL_* settings"
        ) from None


def prepare_broker(settings: Settings, timeout: float = 60.0) -> list[str]:
    """Wait for the broker (it may still be starting) and create missing topics; return the
    names created."""
    wait_for_broker(settings, timeout=timeout)
    return ensure_topics(settings)


def serve_metrics(settings: Settings, registry: CollectorRegistry) -> int | None:
    """Expose ``registry`` on ``/metrics`` when a port is configured; return the bound port."""
    if not settings.metrics_port:
        return None
    try:
        start_http_server(settings.metrics_port, addr=settings.metrics_host, registry=registry)
    except OSError as exc:
        raise ConfigurationError(
            f"TRUSTWATCH_METRICS_PORT={settings.metrics_port}: cannot serve metrics on "
            f"{settings.metrics_host}:{settings.metrics_port} ({exc.strerror or exc}); choose a "
            "free port, or 0 for none"
        ) from None
    return settings.metrics_port


def run_service(
    settings: Settings,
    build: Callable[[Settings, CollectorRegistry], ConsumerLoop],
    max_messages: int | None = None,
    idle_timeout: float | None = None,
) -> LoopStats:
    """The life of every service: broker ready, loop built, metrics served, run until stopped."""
    check_client_config(settings)
    prepare_broker(settings)
    settings = adapt_to_broker(settings)
    registry = CollectorRegistry()
    loop = build(settings, registry)
    serve_metrics(settings, registry)
    loop.install_signal_handlers()
    return loop.run(max_messages=max_messages, idle_timeout=idle_timeout)
