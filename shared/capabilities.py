"""What the broker supports, asked once at a service's start and logged: the producer settings
follow from it (idempotence and compression where the broker keeps its log and producer state)."""

from __future__ import annotations

import logging

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import ConfigResource

from shared.kafka import make_admin
from shared.settings import Settings

log = logging.getLogger(__name__)


def keeps_a_durable_log(settings: Settings, timeout: float = 10.0, attempts: int = 12) -> bool:
    """True when a broker describes its configuration with log directories (Apache Kafka); the
    embedded broker describes none (an empty configuration) and keeps everything in memory.

    Only an answer decides: a broker that cannot be reached (a cluster node restarting) is asked
    again, the next broker of the cluster first; taking that for "no durable log" set an Apache
    Kafka service up as for the embedded broker. A broker that refuses to describe itself (not
    authorised) cannot tell: the settings that work on every broker are taken."""
    admin = make_admin(settings)
    # a cluster that has just started, or a busy one, may not answer in time: asked again, for
    # two minutes by default (an empty TimeoutError from the future killed services at start, and
    # then three tries of ten seconds were not enough for a fresh cluster in CI)
    for attempt in range(1, attempts + 1):
        try:
            metadata = admin.list_topics(timeout=timeout)
            brokers = sorted(metadata.brokers)
            if not brokers:
                raise KafkaException(f"no broker in the metadata of {settings.bootstrap_servers}")
            broker = ConfigResource("broker", str(brokers[(attempt - 1) % len(brokers)]))
            config = admin.describe_configs([broker])[broker].result(timeout=timeout)
        except KafkaException as error:
            if not _transient(error):  # refused (not authorised, not supported): cannot tell
                log.warning("the broker refused to describe its configuration: %s", error)
                return False
            log.warning("the broker did not describe its configuration (attempt %d): %s",
                        attempt, error)  # fmt: skip
            continue
        except TimeoutError:
            log.warning("the broker did not describe its configuration in %.0f s (attempt %d)",
                        timeout, attempt)  # fmt: skip
            continue
        return bool(config.get("log.dirs") or config.get("log.dir"))
    raise TimeoutError(
        f"the broker at {settings.bootstrap_servers} did not describe its configuration in "
        f"{attempts} attempts of {timeout:.0f} s; is it reachable, and not overloaded?"
    )


# errors of a broker or cluster not reachable for now (a node restarting, a leader moving)
_UNREACHABLE = {
    KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._ALL_BROKERS_DOWN,
    KafkaError._RESOLVE, KafkaError.BROKER_NOT_AVAILABLE, KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_CONTROLLER, KafkaError.REQUEST_TIMED_OUT, KafkaError.NETWORK_EXCEPTION,
}  # fmt: skip


def _transient(error: KafkaException) -> bool:
    reason = error.args[0] if error.args else None
    if not isinstance(reason, KafkaError):
        return True  # our own: no broker in the metadata yet
    return reason.code() in _UNREACHABLE or reason.retriable()


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
