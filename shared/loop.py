"""The one consumer loop every service runs.

poll → decode → handle → publish outputs → store offsets. Offsets are stored only after every
output of a message has been acknowledged by the broker (at-least-once; the publishing, retries
and quarantine of refused outputs are ``shared.publisher``'s); librdkafka commits what was
stored. A batch does not wait for its acknowledgements before the next one is read: its
offsets are stored once its outputs and those of every earlier batch are in. A message that
cannot be decoded goes to the quarantine topic with its reason instead of stopping the loop.
Stateful handlers (windowed monitors) hold back the offsets of rows that sit in still-open
windows, so a restart re-reads them rather than losing them.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from confluent_kafka import KafkaError, KafkaException, Message, TopicPartition

from shared.errors import ConfigurationError
from shared.handler import Handler, Inbound, Outbound, PartitionKey
from shared.kafka import (
    committed_offsets,
    ensure_topics,
    make_consumer,
)
from shared.metrics import LoopMetrics
from shared.publisher import Publisher
from shared.records import (
    NO_MARKS,
    failed_record,
    header_event_time,
    quarantine_marks,
    quarantine_outbound,
    quarantine_record,
)
from shared.schemas import FieldIssue, IssueCode, QuarantinedRow
from shared.settings import Settings
from shared.topics import (
    QUARANTINE,
    Topic,
)
from shared.validation import decode_payload

log = logging.getLogger(__name__)

__all__ = ["ConsumerLoop", "Handler", "Inbound", "LoopStats", "Outbound",
           "PartitionKey"]  # fmt: skip

PROGRESS_LOG_SECONDS = 10.0
# A broker that lost its topics (the embedded one keeps them in memory only) is asked to create
# them again at most this often.
RECREATE_TOPICS_SECONDS = 2.0
MISSING_TOPIC_ERRORS = (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC)
LAG_REPORT_SECONDS = 1.0


def _freeze_start_up_heap() -> None:
    """Take what the process built before its loop (modules, the model, reference data, some
    hundred thousand objects that live as long as it does) out of the cyclic garbage collector's
    reach. The messages of every batch are container objects that trigger collections, and each
    full collection would walk that heap again: with it frozen, a relay hop moved about 40 % more
    rows a second on the embedded broker. Objects freed by their reference count still are; only
    reference cycles among the frozen objects are no longer collected."""
    gc.collect()
    gc.freeze()


@dataclass
class LoopStats:
    consumed: int = 0
    quarantined: int = 0
    produced: int = 0
    batches: int = 0
    started: float = field(default_factory=time.monotonic)
    # when the last outputs were acknowledged and their offsets stored, at the end of a run
    settled: float | None = None


class ConsumerLoop:
    """Run a :class:`Handler` over topics with at-least-once delivery.

    ``run(max_messages=..., idle_timeout=...)`` stops by itself, for tests and batch jobs; otherwise
    it runs until :meth:`stop` (SIGTERM or SIGINT once :meth:`install_signal_handlers` was called).
    """

    def __init__(
        self,
        settings: Settings,
        group_id: str,
        topics: Sequence[Topic],
        handler: Handler,
        *,
        on_batch: Callable[[LoopStats], None] | None = None,
        consumer_overrides: Mapping[str, object] | None = None,
        metrics: LoopMetrics | None = None,
    ):
        self.settings = settings
        self.group_id = group_id
        self.topics = {settings.topic_name(topic): topic for topic in topics}
        # only a stage that reads the quarantine topic waits on the marks rows carry
        self._reads_quarantine = QUARANTINE in topics
        # per topic on the broker: the topic, and the payload size it takes (internal topics
        # carry the services' own larger messages)
        self._inputs = {
            name: (topic, settings.max_internal_payload_bytes if topic.large
                   else settings.max_payload_bytes)
            for name, topic in self.topics.items()
        }  # fmt: skip
        self.handler = handler
        self.on_batch = on_batch
        self.consumer_overrides = dict(consumer_overrides or {})
        self.metrics = metrics
        self._lag_reported = 0.0
        self._start_offsets: dict[PartitionKey, int] = {}
        self.stats = LoopStats()
        self._stop = threading.Event()
        self.publisher = Publisher(settings, on_delivered=self._delivered)
        self._read_to: dict[PartitionKey, int] = {}  # next offset to read, per partition read
        self._topics_missing_since: float | None = None
        self._topics_recreated_at = 0.0
        # event times outside these bounds are quarantined at decoding; a replay's ceiling is
        # fixed, a live stream's follows the wall clock
        self._bounds = settings.event_time_bounds()
        self._earliest = self._bounds.earliest
        self._ceiling = None if self._bounds.live else self._bounds.latest()
        # the event time of the last message decoded on each partition: a broken message's time
        self._recent_times: dict[PartitionKey, datetime] = {}
        self._failures_logged: set[str] = set()

    # --- lifecycle -----------------------------------------------------------------------------

    def stop(self, *_: object) -> None:
        self._stop.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def run(self, max_messages: int | None = None, idle_timeout: float | None = None) -> LoopStats:
        _freeze_start_up_heap()
        consumer = make_consumer(
            self.settings, self.settings.group_id(self.group_id), **self.consumer_overrides
        )
        consumer.subscribe(list(self.topics), on_assign=self._assigned, on_revoke=self._revoked)
        last_message_at = time.monotonic()
        last_report = last_message_at
        idle_since = last_message_at  # last message, or the last call of on_idle
        idle_lag_reported = False
        log.info(
            "consuming %s as group %s from %s",
            ", ".join(self.topics),
            self.settings.group_id(self.group_id),
            self.settings.describe().get("bootstrap.servers"),
        )
        try:
            while not self._stop.is_set():
                if max_messages is not None and self.stats.consumed >= max_messages:
                    break
                wanted = self.settings.batch_size
                if max_messages is not None:
                    wanted = min(wanted, max_messages - self.stats.consumed)
                messages = consumer.consume(num_messages=wanted, timeout=0.2)
                records = [m for m in messages if self._usable(m)]
                now = time.monotonic()
                if now - last_report >= PROGRESS_LOG_SECONDS:
                    last_report = now
                    self._report("running")
                if records:
                    last_message_at = idle_since = now
                    idle_lag_reported = False
                    self._process(consumer, records)
                    continue
                self._settle(consumer)
                idle_for = now - last_message_at
                if self.metrics is not None and not idle_lag_reported and idle_for >= 1.0:
                    # caught up: the lag gauge must come down too (once per quiet spell)
                    idle_lag_reported = True
                    self._set_lag(self._behind(consumer))
                if idle_for >= RECREATE_TOPICS_SECONDS:
                    self._recreate_missing_topics(consumer)
                # again while the input stays quiet: a stage may wait on another one's idle flush
                if now - idle_since >= self.settings.idle_flush_seconds:
                    idle_since = now
                    flushed = list(self.handler.on_idle())
                    if flushed:
                        log.info("input idle for %.1fs: published %d", idle_for, len(flushed))
                    self._settle(consumer, wait=True)
                    self.publisher.deliver(flushed)
                    self._store_held(consumer)
                if idle_timeout is not None and idle_for >= idle_timeout:
                    break
        finally:
            try:
                self._settle(consumer, wait=True)  # what is acknowledged, stored before closing
                self.stats.settled = time.monotonic()
            except Exception:  # noqa: BLE001 - the loop is ending anyway; re-read after restart
                log.exception("outputs in flight could not be settled; they will be re-read")
            try:
                consumer.close()  # commits the stored offsets
            finally:
                self.publisher.flush(10)
            self._report("stopped")
        return self.stats

    def _revoked(self, consumer, partitions: list[TopicPartition]) -> None:
        # store what is acknowledged while the partitions are still ours (committed on revoke)
        self._settle(consumer, wait=True)

    def _report(self, state: str) -> None:
        stats = self.stats
        log.info(
            "%s: consumed %d, quarantined %d, published %d in %.0fs",
            state,
            stats.consumed,
            stats.quarantined,
            stats.produced,
            time.monotonic() - stats.started,
        )

    def _assigned(self, consumer, partitions: list[TopicPartition]) -> None:
        # Where reading starts on each partition: the committed offset, else the beginning.
        self._start_offsets = {}
        # positions read under an earlier assignment may be stale or no longer ours
        self._read_to = {}
        try:
            committed = committed_offsets(consumer, partitions)
        except KafkaException as exc:
            log.warning("could not read the committed offsets: %s", exc)
            committed = []
        for tp in committed:
            self._start_offsets[(tp.topic, tp.partition)] = tp.offset
        log.info(
            "assigned %s",
            ", ".join(f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in committed) or "nothing",
        )
        # A rebalance also follows a broker that lost its data, whose offsets start again at 0:
        # start the marks afresh. Cheap otherwise: a monitor lets a row wait behind the rows read
        # before it in its partition, which carried the marks, and the records a mark would name
        # were acknowledged the seconds a rebalance takes before.
        self.publisher.quarantine_marks.clear()
        self.handler.on_assign(
            {(tp.topic, tp.partition): self._start_offsets.get((tp.topic, tp.partition), -1)
             for tp in partitions}
        )  # fmt: skip

    def _behind(self, consumer) -> dict[PartitionKey, int | None]:
        """Messages not yet delivered per assigned partition (None: not known yet).

        The high watermark comes from the consumer's own fetch responses (admin queries for end
        offsets are wrong on the embedded broker). Before a partition's first message is
        delivered, reading starts at its committed offset, else at its low watermark.
        """
        behind: dict[PartitionKey, int | None] = {}
        for tp in consumer.position(consumer.assignment()):
            key = (tp.topic, tp.partition)
            low, high = consumer.get_watermark_offsets(tp, cached=True)
            if high is None or high < 0:
                behind[key] = None
                continue
            position = tp.offset
            if position < 0:
                start = self._start_offsets.get(key, -1)
                position = start if start >= 0 else low
            behind[key] = max(0, high - position)
        return behind

    # --- one batch ---------------------------------------------------------------------------

    def _usable(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            return True
        if error.code() in MISSING_TOPIC_ERRORS:
            if self._topics_missing_since is None:
                self._topics_missing_since = time.monotonic()
            return False
        if error.code() == KafkaError.INVALID_SESSION_TIMEOUT:  # it would never join its group
            raise ConfigurationError(
                f"TRUSTWATCH_SESSION_TIMEOUT_MS={self.settings.session_timeout_ms}: the broker "
                "refuses it (outside its group.min.session.timeout.ms and "
                "group.max.session.timeout.ms); choose one within them"
            )
        if error.code() != KafkaError._PARTITION_EOF:
            log.warning("consumer error: %s", error)
        return False

    def _recreate_missing_topics(self, consumer) -> None:
        """After a broker lost its topics (a restart of the in-memory embedded broker), create
        them again so that every service resumes without manual action. Kafka keeps its topics
        across restarts and never gets here. Checked while idle, at most every
        RECREATE_TOPICS_SECONDS: the client does not always report a subscribed topic that
        vanished."""
        now = time.monotonic()
        if now - self._topics_recreated_at < RECREATE_TOPICS_SECONDS:
            return
        self._topics_recreated_at = now
        try:
            if self._topics_missing_since is None:
                known = consumer.list_topics(timeout=2.0).topics
                if all(name in known and known[name].error is None for name in self.topics):
                    return
            created = ensure_topics(self.settings, timeout=5.0)
        except Exception as exc:  # noqa: BLE001 - the broker may still be coming back
            log.warning("could not check or create the topics: %s", exc)
            return
        self._topics_missing_since = None
        if created:
            log.warning("topics were missing on the broker; created %s", ", ".join(created))

    def _process(self, consumer, records: list[Message]) -> None:
        started = time.perf_counter()
        inbound: list[Inbound] = []
        rejected: list[Outbound] = []
        for record in records:
            decoded = self._decode(record)
            if isinstance(decoded, QuarantinedRow):
                rejected.append(quarantine_outbound(decoded))
                self.handler.on_rejected(decoded)
            else:
                inbound.append(decoded)
        quarantined = len(rejected)
        if rejected and self._reads_quarantine:
            self._await_own_quarantine(rejected, inbound)
            rejected = []
        outputs = rejected + (self._handle(inbound) if inbound else [])
        # Broken rows are acknowledged before the rows read after them are published, which then
        # carry the quarantine offsets reached (QUARANTINE_MARK_HEADER): a monitor that sees a row
        # knows which quarantine records it must have read before the row's time counts.
        self.publisher.deliver([o for o in outputs if o.topic is QUARANTINE])
        rows_out = [o for o in outputs if o.topic is not QUARANTINE]
        self.stats.consumed += len(records)
        self.stats.quarantined += quarantined
        self.stats.batches += 1
        if self.metrics is not None:
            # counted per topic and batch: a labelled increment per message costs as much as
            # decoding it
            for topic_name, count in Counter(record.topic() for record in records).items():
                topic = self.topics[topic_name].name
                self.metrics.consumed.labels(topic).inc(count)
            self._report_lag(consumer)
            self.metrics.batch_seconds.observe(time.perf_counter() - started)

        # a partition's records come in offset order: its last one in the batch is the highest
        last = {(record.topic(), record.partition()): record.offset() for record in records}
        for key, offset in last.items():
            self._read_to[key] = max(self._read_to.get(key, 0), offset + 1)
        # every partition read so far, not only this batch's: a window that closed now may
        # release the hold on a partition that delivered nothing in this batch
        held = self.handler.held_offsets()
        offsets = {key: min(at, held.get(key, at)) for key, at in self._read_to.items()}
        self.publisher.publish(rows_out, offsets)
        self._settle(consumer)
        if self.on_batch is not None:
            self.on_batch(self.stats)

    def _await_own_quarantine(self, rejected: list[Outbound], inbound: list[Inbound]) -> None:
        """A stage that reads the quarantine topic counts the records it quarantines itself as
        it reads them back: published first, their offsets are marks on the batch's other
        messages, which then wait for them as rows wait for the scorer's records. Without it a
        monitor could close a broken row's window before reading its record back."""
        self.publisher.deliver(rejected)
        for item in inbound:
            item.quarantine_marks = self._with_own_marks(item.quarantine_marks)

    def _with_own_marks(self, marks: Mapping[int, int]) -> Mapping[int, int]:
        """``marks`` raised to the quarantine offsets this stage's own records reached."""
        own = self.publisher.quarantine_marks
        if not own:
            return marks
        merged = dict(marks)
        for partition, offset in own.items():
            merged[partition] = max(offset, merged.get(partition, 0))
        return merged

    def _handle(self, inbound: list[Inbound]) -> list[Outbound]:
        """The handler's outputs for ``inbound``. A message whose handling raises does not stop
        the stage (a restart would meet it again): the batch is halved until the message is
        found, and it goes to quarantine with the error. The handlers check a message before
        changing their state by it, so the halves already handled are not handled twice."""
        try:
            return list(self.handler.handle(inbound))
        except Exception as exc:  # noqa: BLE001 - any error of one message's handling
            if len(inbound) > 1:
                middle = len(inbound) // 2
                return self._handle(inbound[:middle]) + self._handle(inbound[middle:])
            item = inbound[0]
            kind = type(exc).__name__
            if kind not in self._failures_logged:  # the traceback once per kind of error
                self._failures_logged.add(kind)
                log.exception("handling %s[%d]@%d failed; it is quarantined", item.source,
                              item.partition, item.offset)  # fmt: skip
            else:
                log.warning("handling %s[%d]@%d failed (%s: %s); it is quarantined",
                            item.source, item.partition, item.offset, kind, exc)  # fmt: skip
            record = failed_record(item, exc, self.publisher.keep)
            self.handler.on_rejected(record)
            return [quarantine_outbound(record)]

    def _report_lag(self, consumer) -> None:
        now = time.monotonic()
        if self.metrics is None or now - self._lag_reported < LAG_REPORT_SECONDS:
            return
        self._lag_reported = now
        self._set_lag(self._behind(consumer))

    def _set_lag(self, behind: Mapping[PartitionKey, int | None]) -> None:
        metrics = self.metrics
        if metrics is None:
            return
        lag: dict[str, int] = {}
        for (topic_name, _), count in behind.items():
            if count is not None:
                topic = self.topics[topic_name].name
                lag[topic] = lag.get(topic, 0) + count
        for topic, count in lag.items():
            metrics.lag.labels(topic).set(count)

    def _store(self, consumer, next_offsets: Mapping[PartitionKey, int]) -> None:
        held = self.handler.held_offsets()
        self._store_offsets(consumer, {
            key: min(offset, held.get(key, offset)) for key, offset in next_offsets.items()
        })  # fmt: skip

    def _store_offsets(self, consumer, to_store: Mapping[PartitionKey, int]) -> None:
        offsets = [TopicPartition(t, p, offset) for (t, p), offset in to_store.items()]
        if offsets:
            try:
                consumer.store_offsets(offsets=offsets)
            except KafkaException as exc:  # partition revoked meanwhile: it is re-read later
                log.info("could not store offsets (%s); they will be re-read", exc)

    def _store_held(self, consumer) -> None:
        held = self.handler.held_offsets()
        assigned = {(tp.topic, tp.partition) for tp in consumer.assignment()}
        self._store(consumer, {key: offset for key, offset in held.items() if key in assigned})

    def _decode(self, record: Message) -> Inbound | QuarantinedRow:
        name = record.topic()
        topic, limit = self._inputs[name]
        payload = record.value() or b""
        value = decode_payload(topic, payload, limit)
        if isinstance(value, tuple):
            return quarantine_record(record, value, self.publisher.keep,
                                     self._neighbour_time(record))  # fmt: skip
        if not self._earliest <= value.event_time <= self._latest():
            return quarantine_record(record, (self._time_issue(value.event_time),),
                                     self.publisher.keep, self._neighbour_time(record))  # fmt: skip
        self._recent_times[(name, record.partition())] = value.event_time
        _, timestamp_ms = record.timestamp()
        marks = NO_MARKS
        if self._reads_quarantine:
            marks = self._with_own_marks(quarantine_marks(record))
        return Inbound(
            topic, value, record.key(), record.partition(), record.offset(),
            name, max(0, timestamp_ms or 0), marks, payload, record.headers(),
        )  # fmt: skip

    def _latest(self) -> datetime:
        return self._ceiling if self._ceiling is not None else self._bounds.latest()

    def _time_issue(self, event_time: datetime) -> FieldIssue:
        problem = self._bounds.problem(event_time) or "out of range"
        return FieldIssue(field="event_time", code=IssueCode.EVENT_TIME_OUT_OF_RANGE,
                          detail=problem)  # fmt: skip

    def _neighbour_time(self, record: Message) -> datetime:
        """The time of a message that has no usable one of its own: its header when plausible,
        else the time of the message read before it on its partition (else on any partition
        read here), else the stream's origin; never the wall clock, which a replay is far
        from."""
        header = header_event_time(record)
        if header is not None and self._bounds.contains(header):
            return header
        own = self._recent_times.get((record.topic(), record.partition()))
        if own is not None:
            return own
        if self._recent_times:
            return max(self._recent_times.values())
        return self._bounds.origin

    # --- delivery ------------------------------------------------------------------------------

    def _settle(self, consumer, wait: bool = False) -> None:
        """Store the offsets of the batches whose outputs are all acknowledged, oldest first
        (``Publisher.settle``)."""
        for offsets in self.publisher.settle(wait):
            self._store_offsets(consumer, offsets)

    def _delivered(self, delivered: list[Outbound]) -> None:
        """Count the outputs the broker acknowledged."""
        self.stats.produced += len(delivered)
        metrics = self.metrics
        if metrics is None:
            return
        for name, count in Counter(output.topic.name for output in delivered).items():
            metrics.published.labels(name).inc(count)
        codes = Counter(
            code
            for output in delivered
            if isinstance(output.value, QuarantinedRow)
            for code in {issue.code.value for issue in output.value.issues}
        )
        for code, count in sorted(codes.items()):
            metrics.quarantined.labels(code).inc(count)
