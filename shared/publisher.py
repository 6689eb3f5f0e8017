"""Publishing to the broker, once for every service: the consumer loop's outputs, the stream
producer's rows and the quarantine replay's messages.

A :class:`Publisher` holds one client, made again after a fatal error or a broker that stopped
answering (librdkafka does not recover an idempotent producer from either). It publishes in two
ways:

- **Outputs of a batch** (:meth:`Publisher.publish`, then :meth:`Publisher.settle`): the batch
  goes on its way with the offsets its loop may store once every output is acknowledged;
  ``settle`` hands back those offsets, oldest batch first, after sending again what failed and
  putting a quarantine record in place of what the broker refused for good. Past
  ``MAX_IN_FLIGHT_OUTPUTS`` it waits for the oldest batch only, so the pipeline never drains.
  :meth:`Publisher.deliver` does the same for outputs that must be in before anything else goes
  (quarantine records, whose offsets the messages after them carry: ``QUARANTINE_MARK_HEADER``).
- **Messages as bytes** (:meth:`Publisher.send`, then :meth:`Publisher.flush`): the stream
  producer's rows and the replay's originals, counted per topic as acknowledged or failed.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, Producer

from shared.handler import Outbound, PartitionKey
from shared.kafka import REFUSED_ERRORS, make_producer, send
from shared.records import Headers, Keep, quarantine_outbound, refused_record
from shared.settings import Settings
from shared.topics import QUARANTINE, QUARANTINE_MARK_HEADER, Topic

log = logging.getLogger(__name__)

# Longer than librdkafka's own message timeout would be pointless; shorter hides slow brokers.
FLUSH_TIMEOUT_SECONDS = 30.0
# Outputs that may be on their way at once (each held until acknowledged, with its message object
# for a retry: some kilobytes); past it the loop waits for the broker's oldest acknowledgements.
# What a service holds is bounded by it and the consumer's prefetch, whatever its backlog.
MAX_IN_FLIGHT_OUTPUTS = 5_000


class DeliveryError(RuntimeError):
    """Outputs could not be delivered after retries; offsets were not stored."""


@dataclass
class InFlight:
    """One batch's outputs on their way to the broker, and the offsets to store once every one
    of them is acknowledged (taken when the batch was handled: what its handler held then)."""

    outputs: list[Outbound]
    offsets: dict[PartitionKey, int]
    outstanding: int
    failed: list[Outbound] = field(default_factory=list)
    refused: list[tuple[Outbound, KafkaError]] = field(default_factory=list)


class Publisher:
    """One producer client and what is on its way through it (see the module's text).

    ``on_delivered`` hears of the outputs the broker acknowledged, a batch at a time (the loop
    counts them in its statistics and metrics).
    """

    def __init__(
        self,
        settings: Settings,
        on_delivered: Callable[[list[Outbound]], None] | None = None,
        **producer_overrides: Any,
    ):
        self.settings = settings
        self.keep = Keep.of(settings)
        self.on_delivered = on_delivered
        self.producer_overrides = producer_overrides
        self._producer: Producer | None = None
        self._fatal = False
        self._in_flight: deque[InFlight] = deque()
        self._names: dict[str, str] = {}  # base name -> name on the broker
        # quarantine partition -> offset after the last quarantine record this publisher delivered
        self.quarantine_marks: dict[int, int] = {}
        # messages sent as bytes: acknowledged and failed, per topic on the broker
        self.acknowledged: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()

    # --- outputs of a batch ----------------------------------------------------------------------

    def publish(self, outputs: list[Outbound], offsets: dict[PartitionKey, int]) -> None:
        """Send ``outputs``; ``offsets`` come back from :meth:`settle` once all are in."""
        batch = InFlight(outputs, offsets, len(outputs))
        self._in_flight.append(batch)
        if outputs:
            self._send(outputs, batch)

    def settle(self, wait: bool = False) -> list[dict[PartitionKey, int]]:
        """The offsets of the batches whose outputs are all acknowledged, oldest first; what
        failed is sent again and what was refused quarantined before. ``wait``, or too many
        outputs on their way: wait for the broker first."""
        producer = self._producer
        if producer is None or not self._in_flight:
            done = [batch.offsets for batch in self._in_flight]
            self._in_flight.clear()
            return done
        producer.poll(0)
        if wait:
            unanswered = producer.flush(FLUSH_TIMEOUT_SECONDS) > 0
        elif len(self._in_flight) > 1 and self.outstanding() > MAX_IN_FLIGHT_OUTPUTS:
            # only until the oldest batch is in: a flush would drain the whole pipeline
            oldest = self._in_flight[0]
            deadline = time.monotonic() + FLUSH_TIMEOUT_SECONDS
            while oldest.outstanding and time.monotonic() < deadline:
                producer.poll(0.05)
            unanswered = oldest.outstanding > 0
        else:
            unanswered = False
        if unanswered:
            # still queued after the timeout: send everything unacknowledged again with a new
            # client (duplicates are counted once downstream)
            self._fatal = True
            for batch in self._in_flight:
                if batch.outstanding:
                    answered = {id(o) for o in batch.failed} | {id(o) for o, _ in batch.refused}
                    batch.failed += [o for o in batch.outputs if id(o) not in answered]
                    batch.outstanding = 0
        done = []
        while self._in_flight and self._in_flight[0].outstanding == 0:
            batch = self._in_flight.popleft()
            if batch.refused:
                self.deliver(self._replace_refused(batch.refused))
            if batch.failed:
                log.warning("%d outputs not delivered; sending them again", len(batch.failed))
                self.deliver(batch.failed)
            self._count_delivered(batch)
            done.append(batch.offsets)
        return done

    def outstanding(self) -> int:
        """Outputs on their way, not yet acknowledged."""
        return sum(batch.outstanding for batch in self._in_flight)

    def deliver(self, outputs: list[Outbound], attempts: int = 5) -> None:
        """Publish and wait for the broker's acknowledgements, retrying what failed for a while
        (a broker that does not answer: DeliveryError, and a restart re-reads); what the broker
        refuses for good goes to quarantine in its place."""
        pending = outputs
        for attempt in range(attempts):
            if not pending:
                return
            pending, refused = self._produce_and_wait(pending)
            if refused:
                self.deliver(self._replace_refused(refused), attempts)
            if pending:
                log.warning("%d outputs not delivered (attempt %d)", len(pending), attempt + 1)
                time.sleep(min(2.0, 0.2 * 2**attempt))
        if pending:
            raise DeliveryError(f"{len(pending)} outputs could not be delivered")

    # --- messages as bytes -----------------------------------------------------------------------

    def send(
        self,
        topic: str,
        payload: bytes | None,
        key: str | bytes | None = None,
        headers: Headers | None = None,
    ) -> None:
        """Queue one message for ``topic`` (its name on the broker); it is counted in
        ``acknowledged`` or ``failed`` as the broker answers (``flush`` waits for that)."""
        client = self._client()
        refused = send(client, topic, payload, key, headers, self._counted)
        if refused is not None:  # by the client itself: too large, a bad argument
            self.failed[topic] += 1
        client.poll(0)

    def flush(self, timeout: float = FLUSH_TIMEOUT_SECONDS) -> int:
        """Wait for the broker's answers; the messages still unanswered after ``timeout``."""
        return self._producer.flush(timeout) if self._producer is not None else 0

    def _counted(self, error, message) -> None:
        (self.failed if error is not None else self.acknowledged)[message.topic()] += 1

    # --- inside ----------------------------------------------------------------------------------

    def _replace_refused(self, refused: list[tuple[Outbound, KafkaError]]) -> list[Outbound]:
        """A quarantine record for each refused output, naming the topic and the broker's reason.
        A refused quarantine record has nowhere left to go: it is logged with its content."""
        replacements = []
        for output, error in refused:
            topic = self.settings.topic_name(output.topic)
            if output.topic is QUARANTINE:
                log.error("the quarantine topic %s refused a record (%s): %s", topic,
                          error.str(), output.topic.encode(output.value)[:2048])  # fmt: skip
                continue
            log.error("%s refused a %s (%s); it goes to quarantine", topic,
                      type(output.value).__name__, error.str())  # fmt: skip
            replacements.append(
                quarantine_outbound(refused_record(output, topic, error, self.keep))
            )
        return replacements

    def _produce_and_wait(
        self, outputs: list[Outbound]
    ) -> tuple[list[Outbound], list[tuple[Outbound, KafkaError]]]:
        """(outputs to try again, outputs refused for good with the reason)."""
        batch = InFlight(outputs, {}, len(outputs))
        self._send(outputs, batch)
        remaining = self._client().flush(FLUSH_TIMEOUT_SECONDS)
        if remaining:
            # Still queued after the timeout: treat all as unsent, retry with a new client.
            self._fatal = True
            return outputs, []
        self._count_delivered(batch)
        return batch.failed, batch.refused

    def _delivered(self, batch: InFlight, output: Outbound, error, message) -> None:
        """librdkafka's report on one output of ``batch``."""
        batch.outstanding -= 1
        if error is not None:
            if error.code() in REFUSED_ERRORS:
                batch.refused.append((output, error))
                return
            batch.failed.append(output)
            if error.fatal():
                self._fatal = True
        elif output.topic is QUARANTINE:
            # assigned, not maxed: a broker that restarted empty starts offsets again at 0
            self.quarantine_marks[message.partition()] = message.offset() + 1

    def _send(self, outputs: list[Outbound], batch: InFlight) -> None:
        """Hand ``outputs`` to the producer; their reports arrive on ``batch``."""
        producer = self._client()
        marks = self.quarantine_marks
        headers: list[tuple[str, bytes | None]] | None = None
        if marks:
            text = ",".join(f"{partition}:{offset}" for partition, offset in sorted(marks.items()))
            headers = [(QUARANTINE_MARK_HEADER, text.encode())]
        report = self._delivered
        for output in outputs:
            refused = send(
                producer,
                self._name_of(output.topic),
                output.topic.encode(output.value),
                key=output.key,
                headers=output.headers if output.topic is QUARANTINE else headers,
                on_delivery=functools.partial(report, batch, output),
            )
            if refused is not None:  # by the client: too large, a bad argument
                batch.outstanding -= 1
                batch.refused.append((output, refused))
        producer.poll(0)

    def _count_delivered(self, batch: InFlight) -> None:
        if self.on_delivered is None:
            return
        undelivered = {id(o) for o in batch.failed} | {id(o) for o, _ in batch.refused}
        self.on_delivered([o for o in batch.outputs if id(o) not in undelivered])

    def _name_of(self, topic: Topic) -> str:
        name = self._names.get(topic.name)
        if name is None:
            name = self._names[topic.name] = self.settings.topic_name(topic)
        return name

    def _client(self) -> Producer:
        if self._producer is None or self._fatal:
            if self._producer is not None:
                log.warning("recreating the producer after a fatal error")
            self._producer = make_producer(self.settings, **self.producer_overrides)
            self._fatal = False
        return self._producer
