"""Quarantine records: what a stage publishes in place of a message it could not use.

Every record says where the message was read (topic, partition, offset), why it was refused (one
issue per reason, each with a code), and keeps a bounded copy of its payload, so that every row
produced ends as scored or quarantined, with its reason.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING

from shared.handler import Inbound, Outbound
from shared.schemas import FieldIssue, IssueCode, QuarantinedRow
from shared.topics import EVENT_ID_HEADER, EVENT_TIME_HEADER, QUARANTINE_MARK_HEADER

if TYPE_CHECKING:  # records are built from the client's messages, without importing the client
    from confluent_kafka import KafkaError, Message


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


def refused_record(
    output: Outbound, topic: str, error: KafkaError, payload_chars: int
) -> QuarantinedRow:
    """The quarantine record of an output the broker refused: the output's own time and id (so
    the row it came from is still accounted for), the topic, and the reason."""
    payload = output.topic.encode(output.value)
    text = payload.decode("utf-8", errors="replace")
    value = output.value
    event_time = value.event_time
    event_id = getattr(value, "event_id", None)
    issue = FieldIssue(field="$", code=IssueCode.PUBLISH_REFUSED,
                       detail=f"{topic} refused it: {error.str()}"[:500])  # fmt: skip
    return QuarantinedRow(
        event_time=event_time,
        event_id=event_id if isinstance(event_id, str) else None,
        source_topic=topic,
        source_partition=-1,  # never published: it has no partition or offset
        source_offset=-1,
        issues=(issue,),
        payload=text[:payload_chars],
        payload_bytes=len(payload),
        payload_truncated=len(text) > payload_chars,
    )


def quarantine_record(
    record: Message, issues, payload_chars: int, event_time: datetime
) -> QuarantinedRow:
    """A quarantine message for ``record`` at ``event_time``, keeping a bounded copy of its
    payload."""
    raw = record.value() or b""
    text = raw.decode("utf-8", errors="replace")
    return QuarantinedRow(
        event_time=event_time,
        event_id=salvage_event_id(record),
        source_topic=record.topic(),
        source_partition=record.partition(),
        source_offset=record.offset(),
        issues=tuple(issues),
        payload=text[:payload_chars],
        payload_bytes=len(raw),
        payload_truncated=len(text) > payload_chars,
    )


def failed_record(item: Inbound, error: Exception, payload_chars: int) -> QuarantinedRow:
    """The quarantine record of a message whose handling raised ``error``: it cannot stop the
    stage (a restart would meet it again), so it is set aside with what went wrong."""
    where = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    at = f" at {where.filename.rsplit('/', 1)[-1]}:{where.lineno}" if where else ""
    detail = f"{type(error).__name__}{at}: {error}"
    return set_aside_record(item, IssueCode.PROCESSING_FAILED, detail, payload_chars)


def set_aside_record(
    item: Inbound, code: IssueCode, detail: str, payload_chars: int
) -> QuarantinedRow:
    """The quarantine record of a decoded message a stage refuses to use, and why."""
    issue = FieldIssue(field="$", code=code, detail=detail[:500])
    return refused_message_record(item, (issue,), payload_chars)


def refused_message_record(
    item: Inbound,
    issues: tuple[FieldIssue, ...],
    payload_chars: int,
    event_time: datetime | None = None,
) -> QuarantinedRow:
    """The quarantine record of a decoded message refused for ``issues``, filed at
    ``event_time`` (its own by default)."""
    payload = item.topic.encode(item.value)
    text = payload.decode("utf-8", errors="replace")
    event_id = getattr(item.value, "event_id", None)
    return QuarantinedRow(
        event_time=event_time or item.value.event_time,
        event_id=event_id if isinstance(event_id, str) else None,
        source_topic=item.source,
        source_partition=item.partition,
        source_offset=item.offset,
        issues=issues,
        payload=text[:payload_chars],
        payload_bytes=len(payload),
        payload_truncated=len(text) > payload_chars,
    )
