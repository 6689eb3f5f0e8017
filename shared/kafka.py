"""Building confluent-kafka clients from settings, readiness checks and idempotent topic creation.

Only standard client features are used so the same code runs on Apache Kafka and on the embedded
broker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from shared.settings import Settings
from shared.topics import ALL_TOPICS, Topic

log = logging.getLogger(__name__)

# What the client or broker refuses for the message itself: sending it again cannot help, so it
# is replaced by a quarantine record instead of failing the batch (and re-reading it forever).
REFUSED_ERRORS = frozenset({
    KafkaError.MSG_SIZE_TOO_LARGE,
    KafkaError.RECORD_LIST_TOO_LARGE,
    KafkaError.INVALID_RECORD,
    KafkaError.INVALID_MSG,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
    KafkaError.TOPIC_EXCEPTION,
    KafkaError._INVALID_ARG,
})  # fmt: skip


def send(
    producer: Producer,
    topic: str,
    payload: bytes | None,
    key: str | bytes | None = None,
    headers: Sequence[tuple[str, bytes | None]] | None = None,
    on_delivery: Callable[..., None] | None = None,
) -> KafkaError | None:
    """Queue one message, waiting while the client's local queue is full; what the client
    refuses for the message itself is returned (see REFUSED_ERRORS), any other error raised.
    Every service and the stream producer publish through it."""
    while True:
        try:
            producer.produce(topic, value=payload, key=key, headers=headers,
                             on_delivery=on_delivery)  # fmt: skip
            return None
        except BufferError:
            producer.poll(0.05)  # let deliveries drain
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() not in REFUSED_ERRORS:
                raise
            return error


# The group coordinator is moving or still loading its offsets (a broker just started, or one
# failed over): Kafka's protocol says to ask again.
COORDINATOR_NOT_READY = frozenset({
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError._TIMED_OUT,
})  # fmt: skip


def committed_offsets(
    consumer: Consumer, partitions: list[TopicPartition], timeout: float = 60.0
) -> list[TopicPartition]:
    """The group's committed offsets of ``partitions``, asked again with backoff while the
    coordinator is not ready (on a fresh Apache Kafka the offsets topic is created by the first
    group that asks); any other error, or one that outlasts ``timeout``, is raised."""
    return _asked_again(
        lambda: consumer.committed(partitions, timeout=10),
        COORDINATOR_NOT_READY, timeout, "committed offsets",
    )  # fmt: skip


# A partition's leader is being elected or has just moved (a topic just created on a cluster, a
# broker failed over), or the client dropped its connection to the broker it asked (as on a
# fresh three-node cluster in CI: "Broker handle destroyed without termination"): its offsets
# are asked again.
LEADER_NOT_READY = frozenset({
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError._TIMED_OUT,
    KafkaError._DESTROY_BROKER,
    KafkaError._TRANSPORT,
})  # fmt: skip


def watermark_offsets(
    consumer: Consumer, partition: TopicPartition, timeout: float = 60.0
) -> tuple[int, int]:
    """The partition's (low, high) watermarks, asked again with backoff while its leader is not
    ready; any other error, or one that outlasts ``timeout``, is raised."""
    return _asked_again(
        lambda: consumer.get_watermark_offsets(partition, timeout=10),
        LEADER_NOT_READY, timeout, f"{partition.topic}[{partition.partition}] watermarks",
    )  # fmt: skip


T = TypeVar("T")


def _asked_again(ask: Callable[[], T], not_ready: frozenset[int], timeout: float, what: str) -> T:
    """``ask()``, again with backoff (0.2 s doubling to 2 s) while it fails with one of
    ``not_ready``, for at most ``timeout`` seconds; any other error is raised at once."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        try:
            return ask()
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() not in not_ready or time.monotonic() + delay > deadline:
                raise
            log.info("%s not available yet (%s); asking again", what, error.str())
        time.sleep(delay)
        delay = min(2.0, delay * 2)


def producer_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """Our producer defaults, then TRUSTWATCH_KAFKA_EXTRA_CONFIG's producer properties (they
    win), then the caller's ``overrides``."""
    idempotent = bool(settings.producer_idempotence)
    config = settings.kafka_config() | {
        "acks": "all",
        # Idempotent where the broker keeps producer state (shared.capabilities): retries are
        # deduplicated and order kept with several requests in flight. Otherwise (the embedded
        # broker: an idempotent producer dies with its restart) at-least-once delivery plus
        # deduplication by event id downstream, and one request in flight so that a retried one
        # cannot overtake a later one (the monitors window each partition by its order).
        "enable.idempotence": idempotent,
        "max.in.flight.requests.per.connection": 5 if idempotent else 1,
        "compression.type": settings.producer_compression or "none",
        # rows and labels keyed by customer land where Java's default partitioner puts them, so
        # labels written by another Kafka client still meet their rows
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "message.timeout.ms": 30_000,
    }
    return config | settings.extra_config("producer") | overrides


def consumer_config(settings: Settings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """Our consumer defaults, then TRUSTWATCH_KAFKA_EXTRA_CONFIG's consumer properties (they
    win, but for what the loop's offset handling rests on), then the caller's ``overrides``."""
    config = settings.kafka_config() | {
        "group.id": group_id,
        # Offsets are stored by the loop only after the outputs of a message are delivered;
        # librdkafka then commits what was stored.
        "enable.auto.commit": True,
        "enable.auto.offset.store": False,
        # `latest` is unreliable on the embedded broker; a new group reads from the beginning.
        "auto.offset.reset": "earliest",
        "session.timeout.ms": settings.session_timeout_ms,
        "heartbeat.interval.ms": min(
            settings.heartbeat_interval_ms, settings.session_timeout_ms // 3
        ),
        "queued.max.messages.kbytes": settings.consumer_prefetch_kbytes,
    }
    return config | settings.extra_config("consumer") | overrides


def make_producer(settings: Settings, **overrides: Any) -> Producer:
    return Producer(producer_config(settings, **overrides))


def make_consumer(settings: Settings, group_id: str, **overrides: Any) -> Consumer:
    return Consumer(consumer_config(settings, group_id, **overrides))


def make_admin(settings: Settings) -> AdminClient:
    return AdminClient(settings.kafka_config())


def broker_answers(bootstrap_servers: str, timeout: float = 1.0, **config: Any) -> bool:
    """True when a broker at ``bootstrap_servers`` answers a metadata request."""
    # A probe of a broker that is still starting is expected to fail: keep librdkafka quiet.
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 0, **config})
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException:
        return False
    return bool(metadata.brokers)


def wait_for_broker(settings: Settings, timeout: float = 60.0) -> None:
    """Block until the configured broker answers, retrying; raise TimeoutError otherwise."""
    deadline = time.monotonic() + timeout
    extra = {k: v for k, v in settings.kafka_config().items() if k != "bootstrap.servers"}
    while True:
        if broker_answers(settings.bootstrap_servers or "", timeout=2.0, **extra):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"broker {settings.bootstrap_servers} did not answer in {timeout}s")
        time.sleep(0.5)


def ensure_topics(
    settings: Settings, topics: Iterable[Topic] = ALL_TOPICS, timeout: float = 30.0
) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    Existing topics are left as they are, so every service can call this at start.
    """
    admin = make_admin(settings)
    wanted = list(topics)
    existing = set(_topic_names(admin, timeout))
    missing = [t for t in wanted if settings.topic_name(t) not in existing]
    if not missing:
        return []
    futures = admin.create_topics(
        [
            NewTopic(
                settings.topic_name(t),
                num_partitions=t.partitions,
                replication_factor=settings.topic_replication_factor,
                config=topic_config(settings, t),
            )
            for t in missing
        ],
        request_timeout=timeout,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    _wait_for_topics(admin, [settings.topic_name(t) for t in missing], timeout)
    return created


def topic_config(settings: Settings, topic: Topic) -> dict[str, str]:
    """The configuration a topic is created with."""
    config: dict[str, str] = {}
    if settings.topic_min_insync_replicas is not None:
        config["min.insync.replicas"] = str(settings.topic_min_insync_replicas)
    if topic.internal:  # partial windows: kept long enough for a combiner's replay
        config["retention.ms"] = str(int(settings.partials_retention_hours * 3_600_000))
    if topic.compacted:
        config["cleanup.policy"] = "compact"
    return config


def _topic_names(admin: AdminClient, timeout: float, attempts: int = 4) -> list[str]:
    """The topics on the broker; a metadata request that times out is made again (a cluster
    that has just started, or is electing a controller, may not answer at once)."""
    attempt = 1
    while True:
        try:
            return list(admin.list_topics(timeout=timeout).topics)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._TIMED_OUT or attempt >= attempts:
                raise
            log.warning("the broker did not list its topics in %.0f s (attempt %d)",
                        timeout, attempt)  # fmt: skip
        attempt += 1


def _wait_for_topics(admin: AdminClient, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metadata = admin.list_topics(timeout=timeout)
        if all(n in metadata.topics and not metadata.topics[n].error for n in names):
            return
        time.sleep(0.2)
    raise TimeoutError(f"topics {names} did not appear within {timeout}s")
