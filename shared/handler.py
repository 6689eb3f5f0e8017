"""What a service plugs into the consumer loop, and the messages it gets and gives (pure: no
Kafka client here, so that every handler and calculator can be tested and imported without one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from shared.schemas import Message, QuarantinedRow
from shared.topics import Topic

PartitionKey = tuple[str, int]


@dataclass(slots=True)
class Inbound:
    """A decoded message and where it came from. Not frozen, though nothing changes it: one is
    built per message, and a frozen dataclass costs three times as much to build."""

    topic: Topic
    value: Message
    key: bytes | None
    partition: int
    offset: int
    source: str  # the topic's name on the broker (namespace included)
    timestamp_ms: int = 0  # broker timestamp: when the message was produced (wall clock)
    # Quarantine partition -> offset: its publisher's quarantine records up to there precede it.
    quarantine_marks: Mapping[int, int] = field(default_factory=dict)
    # The message as read (None: built here, not read): what a quarantine record keeps of it.
    payload: bytes | None = None
    headers: Sequence[tuple[str, bytes | None]] | None = None

    @property
    def partition_key(self) -> PartitionKey:
        return (self.source, self.partition)


@dataclass(slots=True)
class Outbound:
    """A message to publish: the topic checks that ``value`` is its model."""

    topic: Topic
    value: Message
    key: str | bytes | None = None
    headers: list[tuple[str, bytes | None]] | None = None  # quarantine records only


class Handler:
    """What a service plugs into the loop. Override :meth:`handle`; the rest is optional."""

    def handle(self, batch: Sequence[Inbound]) -> Sequence[Outbound]:
        raise NotImplementedError

    def on_idle(self) -> Sequence[Outbound]:
        """Called when nothing arrived for ``idle_flush_seconds``: close what can be closed."""
        return ()

    def held_offsets(self) -> Mapping[PartitionKey, int]:
        """Lowest offset per partition whose effect is not yet published (kept in open state)."""
        return {}

    def on_assign(self, partitions: Mapping[PartitionKey, int]) -> None:
        """The partitions this instance now reads (after a rebalance), each with the offset reading
        starts from: the group's committed offset, or a negative number when there is none."""

    def on_rejected(self, row: QuarantinedRow) -> None:
        """A message of this loop could not be decoded and went to quarantine."""


class FanOutHandler(Handler):
    """Several handlers on one consumer: each sees every batch; offsets are held for all."""

    def __init__(self, *handlers: Handler):
        self.handlers = handlers

    def handle(self, batch: Sequence[Inbound]) -> list[Outbound]:
        return [output for handler in self.handlers for output in handler.handle(batch)]

    def on_idle(self) -> list[Outbound]:
        return [output for handler in self.handlers for output in handler.on_idle()]

    def held_offsets(self) -> dict[PartitionKey, int]:
        held: dict[PartitionKey, int] = {}
        for handler in self.handlers:
            for key, offset in handler.held_offsets().items():
                held[key] = min(offset, held.get(key, offset))
        return held

    def on_assign(self, partitions: Mapping[PartitionKey, int]) -> None:
        for handler in self.handlers:
            handler.on_assign(partitions)

    def on_rejected(self, row: QuarantinedRow) -> None:
        for handler in self.handlers:
            handler.on_rejected(row)
