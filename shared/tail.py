"""Reading topics for people and for the demo: every partition from the beginning, no group.

Assigning partitions instead of joining a group avoids the group-join delay and leaves no committed
offsets behind. Messages older than ``since`` (broker timestamp, milliseconds) are skipped, which is
how "only new messages" works without asking the broker for its end offsets.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition
from pydantic import BaseModel, ValidationError

from shared.kafka import committed_offsets, make_consumer, watermark_offsets
from shared.settings import Settings
from shared.topics import M, Topic

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TailedMessage:
    topic: Topic
    value: BaseModel
    timestamp_ms: int
    partition: int = 0
    offset: int = -1


def tail(
    settings: Settings,
    topics: Sequence[Topic],
    stop: threading.Event,
    since_ms: int | None = None,
    poll_seconds: float = 0.2,
    until: Mapping[tuple[str, int], int] | None = None,
) -> Iterator[TailedMessage]:
    """Yield decoded messages of ``topics`` until ``stop`` is set, or, with ``until`` (the
    offset to read to on each partition), once every partition has been read to it."""
    left = {key for key, end in (until or {}).items() if end > 0}
    consumer = make_consumer(
        settings,
        group_id=settings.group_id(f"tail-{uuid.uuid4().hex[:8]}"),
        **{"enable.auto.commit": False},
    )
    by_name = {settings.topic_name(topic): topic for topic in topics}
    consumer.assign(
        [
            TopicPartition(settings.topic_name(topic), partition, OFFSET_BEGINNING)
            for topic in topics
            for partition in range(topic.partitions)
        ]
    )
    try:
        while not stop.is_set() and (until is None or left):
            for record in consumer.consume(num_messages=1000, timeout=poll_seconds):
                error = record.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("tail: %s", error)
                    continue
                if until is not None and record.offset() + 1 >= until.get(
                    (record.topic(), record.partition()), 0
                ):
                    left.discard((record.topic(), record.partition()))
                _, timestamp = record.timestamp()
                if since_ms is not None and timestamp < since_ms:
                    continue
                topic = by_name[record.topic()]
                try:
                    value = topic.decode(record.value() or b"")
                except ValidationError:
                    log.warning("tail: undecodable message on %s", record.topic())
                    continue
                yield TailedMessage(topic, value, timestamp, record.partition(), record.offset())
    finally:
        consumer.close()


def read_back(
    settings: Settings, topics: Sequence[Topic], quiet: float = 1.0, first_wait: float = 3.0
) -> list[TailedMessage]:
    """Everything on ``topics`` now: on a broker that keeps a durable log (Apache Kafka), read to
    each partition's high watermark as it stands when asked; elsewhere (the embedded broker
    reports wrong end offsets) until nothing new came for ``quiet`` seconds, ``first_wait``
    bounding the wait when the topics are empty. Either way, never longer than a quiet spell
    after the last message."""
    import time

    from shared.capabilities import keeps_a_durable_log

    until = high_watermarks(settings, topics) if keeps_a_durable_log(settings) else None
    if until is not None:
        quiet, first_wait = max(quiet, 5.0), max(first_wait, 5.0)  # a safety net only
    stop = threading.Event()
    found: list[TailedMessage] = []
    last = started = time.monotonic()

    def watchdog() -> None:
        while not stop.is_set():
            now = time.monotonic()
            if (found and now - last > quiet) or (not found and now - started > first_wait):
                stop.set()
            time.sleep(0.05)

    guard = threading.Thread(target=watchdog, daemon=True)
    guard.start()
    for message in tail(settings, topics, stop, until=until):
        found.append(message)
        last = time.monotonic()
    stop.set()
    return found


def high_watermarks(settings: Settings, topics: Sequence[Topic]) -> dict[tuple[str, int], int]:
    """The offset after the last message of each partition of ``topics``, as the broker says
    now (partitions empty or emptied by retention say 0)."""
    consumer = make_consumer(settings, group_id=settings.group_id(f"ends-{uuid.uuid4().hex[:8]}"))
    try:
        ends = {}
        for topic in topics:
            name = settings.topic_name(topic)
            for partition in range(topic.partitions):
                low, high = watermark_offsets(consumer, TopicPartition(name, partition))
                ends[(name, partition)] = high if high > low else 0
        return ends
    finally:
        consumer.close()


def read_range(
    settings: Settings, topic: Topic[M], partition: int, start: int, end: int, timeout: float = 60.0
) -> list[tuple[int, M]]:
    """The decoded messages of one partition from offset ``start`` up to ``end`` (exclusive), with
    their offsets: how a stage rebuilds its state from a log (Kafka Streams restores a store from
    its changelog the same way). The end is known (a committed offset), so no end offset is asked
    of the broker; offsets the broker no longer has are skipped."""
    import time

    if end <= max(start, 0):
        return []
    consumer = make_consumer(
        settings,
        group_id=settings.group_id(f"restore-{uuid.uuid4().hex[:8]}"),
        **{"enable.auto.commit": False},
    )
    consumer.assign([TopicPartition(settings.topic_name(topic), partition, max(start, 0))])
    found: list[tuple[int, M]] = []
    deadline = time.monotonic() + timeout
    next_offset = max(start, 0)
    try:
        while next_offset < end:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"read {topic.name}[{partition}] to offset {next_offset} of {end} in {timeout}s"
                )
            for record in consumer.consume(num_messages=1000, timeout=0.2):
                if record.error() is not None:
                    continue
                next_offset = record.offset() + 1
                if record.offset() >= end:
                    break
                try:
                    found.append((record.offset(), topic.decode(record.value() or b"")))
                except ValidationError:
                    log.warning("restore: undecodable message on %s", record.topic())
    finally:
        consumer.close()
    return found


def committed_offset(settings: Settings, group: str, topic: Topic, partition: int) -> int:
    """Where ``group`` resumes reading a partition (negative when it has committed nothing).

    Asking does not join the group, so a service can ask before its own consumer starts."""
    consumer = make_consumer(settings, settings.group_id(group), **{"enable.auto.commit": False})
    try:
        (found,) = committed_offsets(
            consumer, [TopicPartition(settings.topic_name(topic), partition)]
        )
    finally:
        consumer.close()
    return found.offset
