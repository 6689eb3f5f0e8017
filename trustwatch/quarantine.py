"""Sending quarantined messages back to the topic they were read from, once their source is fixed
(``trustwatch quarantine replay``).

Which records go is decided by :func:`choose`, without a broker; :func:`replay` reads the
quarantine topic around it and publishes. A quarantine record keeps its message byte for byte
(``QuarantinedRow.original``), so what goes back is what came: the same value, key and headers,
plus ``quarantine_replay_of`` naming the record. Only the pipeline's inputs (rows and labels) are
sent back; a record whose original was kept cut cannot be.

A message is sent back once. After publishing, the replay records each message on the replay
topic by its source position (topic, partition, offset), and the next replay reads those first:
running it twice, or a message quarantined twice (a stage restarted before committing), sends
nothing again. A message that fails again gets a new record at its new position, and can be
replayed once more when that is fixed. If the replay dies between publishing and recording, the
next one sends those messages again: the monitors count a row once by its id (within their
duplicate memory), and the accounting by event id counts it once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.publisher import Publisher
from shared.schemas import IssueCode, QuarantinedRow, QuarantineReplay
from shared.settings import Settings
from shared.topics import LABELS, QUARANTINE, QUARANTINE_REPLAYS, RAW_ROWS, REPLAY_OF_HEADER

# What a replay may send back: the pipeline's inputs. A scored row, a partial window or a signal
# is re-made by the stage that made it once its input is back.
REPLAYABLE = (RAW_ROWS, LABELS)

SourcePosition = tuple[str, int, int]  # topic on the broker, partition, offset


@dataclass(frozen=True)
class ReplayFilter:
    """Which quarantine records a replay is asked for: any of ``reasons`` (none given: any
    reason), with an event time in [``since``, ``until``)."""

    reasons: frozenset[IssueCode] = frozenset()
    since: datetime | None = None
    until: datetime | None = None

    def admits(self, record: QuarantinedRow) -> bool:
        if self.reasons and not any(issue.code in self.reasons for issue in record.issues):
            return False
        if self.since is not None and record.event_time < self.since:
            return False
        return self.until is None or record.event_time < self.until


@dataclass
class ReplayPlan:
    """What a replay sends (quarantine offset and record, oldest first) and what it leaves, by
    why."""

    send: list[tuple[int, QuarantinedRow]] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)

    def by_reason(self) -> Counter[str]:
        """The records sent, by their first issue's code."""
        return Counter(record.issues[0].code.value for _, record in self.send)


def source_of(record: QuarantinedRow | QuarantineReplay) -> SourcePosition:
    return (record.source_topic, record.source_partition, record.source_offset)


def choose(
    records: Iterable[tuple[int, QuarantinedRow]],
    replayed: Iterable[SourcePosition],
    inputs: Iterable[str],
    wanted: ReplayFilter,
) -> ReplayPlan:
    """The records to send back: those ``wanted`` admits, read from one of ``inputs`` (topic
    names on the broker), with their whole original, whose source position was not
    ``replayed`` before; each position once."""
    done = set(replayed)
    replayable = set(inputs)
    plan = ReplayPlan()
    for offset, record in records:
        original = record.original
        if not wanted.admits(record):
            plan.skipped["not asked for"] += 1
        elif record.source_topic not in replayable:
            plan.skipped["not from an input topic"] += 1
        elif original is None:
            plan.skipped["no original kept"] += 1
        elif original.truncated:
            plan.skipped["original kept cut"] += 1
        elif source_of(record) in done:
            plan.skipped["replayed before"] += 1
        else:
            done.add(source_of(record))
            plan.send.append((offset, record))
    return plan


def replay(
    settings: Settings,
    wanted: ReplayFilter,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ReplayPlan:
    """Read the quarantine topic and the replay topic to their ends, send back what
    :func:`choose` picks (nothing with ``dry_run``), and record it. ``progress(sent, total)``
    is called as messages are acknowledged."""
    from shared.kafka import ensure_topics
    from shared.tail import read_back

    ensure_topics(settings, [QUARANTINE, QUARANTINE_REPLAYS])
    found = read_back(settings, [QUARANTINE, QUARANTINE_REPLAYS])
    replayed = [source_of(m.value) for m in found if isinstance(m.value, QuarantineReplay)]
    records = [(m.offset, m.value) for m in found if isinstance(m.value, QuarantinedRow)]
    inputs = [settings.topic_name(topic) for topic in REPLAYABLE]
    plan = choose(records, replayed, inputs, wanted)
    if dry_run or not plan.send:
        return plan
    publisher = Publisher(settings)
    for offset, record in plan.send:
        original = record.original
        if original is None:  # not chosen without one
            continue
        headers = [(k, v) for k, v in original.headers if k != REPLAY_OF_HEADER]
        headers.append((REPLAY_OF_HEADER, f"{QUARANTINE.name}:{offset}".encode()))
        publisher.send(record.source_topic, original.value, original.key, headers)
        if progress is not None:
            progress(sum(publisher.acknowledged.values()), len(plan.send))
    _flush(publisher, "sending back")
    now = datetime.now(tz=UTC)
    ledger = settings.topic_name(QUARANTINE_REPLAYS)
    for offset, record in plan.send:
        mark = QuarantineReplay(
            event_time=record.event_time, source_topic=record.source_topic,
            source_partition=record.source_partition, source_offset=record.source_offset,
            event_id=record.event_id, quarantine_offset=offset, replayed_at=now,
        )  # fmt: skip
        key = "{}:{}:{}".format(*source_of(record))
        publisher.send(ledger, QUARANTINE_REPLAYS.encode(mark), key)
    _flush(publisher, "recording what was sent back")
    if progress is not None:
        progress(len(plan.send), len(plan.send))
    return plan


def _flush(publisher: Publisher, doing: str, timeout: float = 60.0) -> None:
    left = publisher.flush(timeout)
    if left or publisher.failed:
        failed = ", ".join(f"{count} on {topic}" for topic, count in publisher.failed.items())
        problem = f"{left} messages not acknowledged in {timeout}s" if left else f"{failed} failed"
        raise RuntimeError(f"the replay failed {doing}: {problem}")
