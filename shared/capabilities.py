"""What the broker supports, asked once at a service's start and logged: the producer settings
follow from it (idempotence and compression where the broker keeps its log and producer state)."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaException
from confluent_kafka.admin import ConfigResource

from shared.kafka import make_admin
from shared.settings import Settings

log = logging.getLogger(__name__)


def keeps_a_durable_log(settings: Settings, timeout: float = 10.0, attempts: int = 12) -> bool:
    """True when a broker describes its configuration with log directories (Apache Kafka); the
    embedded broker describes none and keeps everything in memory."""
    admin = make_admin(settings)
    # a cluster that has just started, or a busy one, may not answer in time: asked again, for
    # two minutes by default (an empty TimeoutError from the future killed services at start, and
    # then three tries of ten seconds were not enough for a fresh cluster in CI)
    for attempt in range(1, attempts + 1):
        try:
            metadata = admin.list_topics(timeout=timeout)
            broker = ConfigResource("broker", str(next(iter(metadata.brokers))))
            config = admin.describe_configs([broker])[broker].result(timeout=timeout)
        except (KafkaException, StopIteration, ValueError):
            return False
        except TimeoutError:
            log.warning("the broker did not describe its configuration in %.0f s (attempt %d)",
                        timeout, attempt)  # fmt: skip
            continue
        return bool(config.get("log.dirs") or config.get("log.dir"))
    raise TimeoutError(
        f"the broker at {settings.bootstrap_servers} did not describe its configuration in "
        f"{attempts * timeout:.0f} s; is it overloaded?"
    )


def adapt_to_broker(settings: Settings) -> Settings:
    """The settings with what was left to the broker decided, logged once."""
    if settings.producer_idempotence is not None and settings.producer_compression is not None:
        return settings
    durable = keeps_a_durable_log(settings)
    decided = settings.model_copy(update={
        "producer_idempotence": durable if settings.producer_idempotence is None
        else settings.producer_idempotence,
        "producer_compression": ("zstd" if durable else "none")
        if settings.producer_compression is None else settings.producer_compression,
    })  # fmt: skip
    log.info(
        "broker %s a durable log: producers %sidempotent, compression %s",
        "keeps" if durable else "does not keep",
        "" if decided.producer_idempotence else "not ",
        decided.producer_compression,
    )
    return decided
