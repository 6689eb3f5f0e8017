"""Quarantine records: what a stage publishes in place of a message it could not use.

Every record says where the message was read (topic, partition, offset), why it was refused (one
issue per reason, each with a code), and keeps a bounded copy of its payload, so that every row
produced ends as scored or quarantined, with its reason.
"""

from __future__ import annotations

import hashlib
import json
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING

from shared.handler import Inbound, Outbound
from shared.schemas import FieldIssue, IssueCode, OriginalMessage, QuarantinedRow
from shared.topics import (
    EVENT_ID_HEADER,
    EVENT_TIME_HEADER,
    QUARANTINE,
    QUARANTINE_MARK_HEADER,
    QUARANTINE_REASONS_HEADER,
    QUARANTINE_SOURCE_HEADER,
)

if TYPE_CHECKING:  # records are built from the client's messages, without importing the client
    from confluent_kafka import KafkaError, Message

    from shared.settings import Settings

Headers = Sequence[tuple[str, bytes | None]]


@dataclass(frozen=True)
class Keep:
    """How much of a quarantined message its record keeps: a text excerpt for people, and the
    original bytes (value, key, headers) for a replay."""

    payload_chars: int
    original_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> Keep:
        return cls(settings.quarantine_payload_chars, settings.quarantine_original_bytes)


def original_message(
    value: bytes | None, key: bytes | str | None, headers: Headers | None, limit: int
) -> OriginalMessage:
    """The message byte for byte within ``limit`` bytes: the key and headers first (all or
    none), then the value, cut where the limit falls. A message's quarantine mark is left out:
    it says where its publisher had got to, which a replay must not repeat."""
    key_bytes = key.encode() if isinstance(key, str) else key
    kept = tuple((name, data) for name, data in headers or () if name != QUARANTINE_MARK_HEADER)
    whole = value or b""
    room = limit - len(key_bytes or b"") - sum(len(n) + len(d or b"") for n, d in kept)
    truncated = room < 0
    if truncated:  # key and headers alone are too large: keep the value's start only
        key_bytes, kept, room = None, (), limit
    if len(whole) > room:
        truncated = True
    return OriginalMessage(
        value=None if value is None else whole[:room],
        key=key_bytes,
        headers=kept,
        size=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        truncated=truncated,
    )


def quarantine_outbound(record: QuarantinedRow) -> Outbound:
    """``record`` as published: under its original's key and headers, with its reasons and
    source in headers too, for tools that read headers only."""
    original = record.original
    reasons = ",".join(dict.fromkeys(issue.code.value for issue in record.issues))
    source = f"{record.source_topic}:{record.source_partition}:{record.source_offset}"
    headers = [(name, data) for name, data in original.headers] if original else []
    headers += [(QUARANTINE_REASONS_HEADER, reasons.encode()),
                (QUARANTINE_SOURCE_HEADER, source.encode())]  # fmt: skip
    return Outbound(QUARANTINE, record, key=original.key if original else None, headers=headers)


def _header(record: Message, name: str) -> str | None:
    for key, value in record.headers() or ():
        if key == name and value is not None:
            return value.decode("utf-8", errors="replace")
    return None


NO_MARKS: Mapping[int, int] = MappingProxyType({})


def quarantine_marks(record: Message) -> Mapping[int, int]:
    """The quarantine offsets a message was published after (QUARANTINE_MARK_HEADER); a header
    that does not parse counts as none (the row is still processed, only not waited for)."""
    header = None
    for key, value in record.headers() or ():
        if key == QUARANTINE_MARK_HEADER and value is not None:
            header = value.decode("utf-8", errors="replace")
    if not header:
        return NO_MARKS
    marks: dict[int, int] = {}
    for part in header.split(","):
        partition, _, offset = part.partition(":")
        if partition.strip().isdigit() and offset.strip().isdigit():
            marks[int(partition)] = int(offset)
    return marks


def salvage_event_id(record: Message) -> str | None:
    """The ``event_id`` of a message that failed validation: its header, else its payload.

    It lets every produced row be accounted for by id, faulty ones included.
    """
    from_header = _header(record, EVENT_ID_HEADER)
    if from_header:
        return from_header
    try:
        document = json.loads(record.value() or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(document, dict) and isinstance(document.get("event_id"), str):
        return document["event_id"]
    return None


def header_event_time(record: Message) -> datetime | None:
    """The event time a message's header states, if it states a valid one."""
    header = _header(record, EVENT_TIME_HEADER)
    if not header:
        return None
    try:
        parsed = datetime.fromisoformat(header)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def refused_record(output: Outbound, topic: str, error: KafkaError, keep: Keep) -> QuarantinedRow:
    """The quarantine record of an output the broker refused: the output's own time and id (so
    the row it came from is still accounted for), the topic, and the reason."""
    payload = output.topic.encode(output.value)
    event_id = getattr(output.value, "event_id", None)
    issue = FieldIssue(field="$", code=IssueCode.PUBLISH_REFUSED,
                       detail=f"{topic} refused it: {error.str()}"[:500])  # fmt: skip
    return _record(
        output.value.event_time,
        event_id if isinstance(event_id, str) else None,
        (topic, -1, -1),  # never published: it has no partition or offset
        (issue,),
        original_message(payload, output.key, output.headers, keep.original_bytes),
        keep,
    )


def quarantine_record(
    record: Message, issues: Sequence[FieldIssue], keep: Keep, event_time: datetime
) -> QuarantinedRow:
    """A quarantine message for ``record`` at ``event_time``, keeping its payload (an excerpt,
    and the original within the limits)."""
    return _record(
        event_time,
        salvage_event_id(record),
        (record.topic(), record.partition(), record.offset()),
        tuple(issues),
        original_message(record.value(), record.key(), record.headers(), keep.original_bytes),
        keep,
    )


def failed_record(item: Inbound, error: Exception, keep: Keep) -> QuarantinedRow:
    """The quarantine record of a message whose handling raised ``error``: it cannot stop the
    stage (a restart would meet it again), so it is set aside with what went wrong."""
    where = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    at = f" at {where.filename.rsplit('/', 1)[-1]}:{where.lineno}" if where else ""
    detail = f"{type(error).__name__}{at}: {error}"
    return set_aside_record(item, IssueCode.PROCESSING_FAILED, detail, keep)


def set_aside_record(item: Inbound, code: IssueCode, detail: str, keep: Keep) -> QuarantinedRow:
    """The quarantine record of a decoded message a stage refuses to use, and why."""
    issue = FieldIssue(field="$", code=code, detail=detail[:500])
    return refused_message_record(item, (issue,), keep)


def refused_message_record(
    item: Inbound,
    issues: tuple[FieldIssue, ...],
    keep: Keep,
    event_time: datetime | None = None,
) -> QuarantinedRow:
    """The quarantine record of a decoded message refused for ``issues``, filed at
    ``event_time`` (its own by default); the message as read when the loop kept it, else as
    its model encodes it."""
    payload = item.payload if item.payload is not None else item.topic.encode(item.value)
    event_id = getattr(item.value, "event_id", None)
    return _record(
        event_time or item.value.event_time,
        event_id if isinstance(event_id, str) else None,
        (item.source, item.partition, item.offset),
        issues,
        original_message(payload, item.key, item.headers, keep.original_bytes),
        keep,
    )


def _record(
    event_time: datetime,
    event_id: str | None,
    source: tuple[str, int, int],
    issues: tuple[FieldIssue, ...],
    original: OriginalMessage,
    keep: Keep,
) -> QuarantinedRow:
    # a character takes at most four bytes: the excerpt's bytes without decoding the rest
    head = (original.value or b"")[: 4 * keep.payload_chars]
    text = head.decode("utf-8", errors="replace")
    return QuarantinedRow(
        event_time=event_time,
        event_id=event_id,
        source_topic=source[0],
        source_partition=source[1],
        source_offset=source[2],
        issues=issues,
        payload=text[: keep.payload_chars],
        payload_bytes=original.size,
        payload_truncated=len(text) > keep.payload_chars or len(head) < original.size,
        original=original,
    )
