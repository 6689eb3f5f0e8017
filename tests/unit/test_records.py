"""What a quarantine record keeps of its message: the original byte for byte within a limit, cut
beyond it with the whole value's size and hash."""

import hashlib
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.handler import Inbound
from shared.records import Keep, original_message, quarantine_outbound, refused_message_record
from shared.schemas import FieldIssue, IssueCode
from shared.settings import Settings
from shared.topics import QUARANTINE, QUARANTINE_MARK_HEADER, RAW_ROWS
from tests.unit.test_validation import VALID

# not UTF-8, not JSON: kept as it came
BROKEN = b"\xff\xfe{broken \x00" + bytes(range(256))


def test_a_message_within_the_limit_is_kept_whole_and_round_trips_through_the_topic():
    headers = [("event_id", b"e1"), ("empty", None), (QUARANTINE_MARK_HEADER, b"0:7")]
    original = original_message(BROKEN, b"\x00key", headers, limit=4096)
    assert original.value == BROKEN and original.key == b"\x00key"
    # a publisher's quarantine mark is where it had got to: a replay must not carry it
    assert original.headers == (("event_id", b"e1"), ("empty", None))
    assert original.size == len(BROKEN) and not original.truncated
    assert original.sha256 == hashlib.sha256(BROKEN).hexdigest()
    item = Inbound(RAW_ROWS, RAW_ROWS.decode(_valid()), b"k", 2, 40, "t.rows.raw", 0, {}, BROKEN)
    issue = FieldIssue(field="$", code=IssueCode.INVALID, detail="x")
    record = refused_message_record(item, (issue,), Keep(16, 4096))
    assert QUARANTINE.decode(QUARANTINE.encode(record)) == record
    assert record.original.value == BROKEN
    assert record.payload_truncated and len(record.payload) == 16


def test_a_longer_value_is_cut_at_the_limit_and_keeps_its_size_and_hash():
    value = bytes(range(256)) * 40
    original = original_message(value, "c1", [("h", b"12345")], limit=1000)
    room = 1000 - len(b"c1") - len("h") - len(b"12345")
    assert original.value == value[:room]
    assert original.truncated and original.size == len(value)
    assert original.sha256 == hashlib.sha256(value).hexdigest()
    assert original.key == b"c1" and original.headers == (("h", b"12345"),)


def test_key_and_headers_beyond_the_limit_are_left_out_and_the_value_starts_the_copy():
    original = original_message(b"v" * 50, b"k" * 40, [("h", b"x" * 100)], limit=64)
    assert original.key is None and original.headers == ()
    assert original.value == b"v" * 50 and original.truncated


def test_a_tombstone_stays_a_tombstone():
    original = original_message(None, None, None, limit=64)
    assert original.value is None and original.size == 0 and not original.truncated


def test_the_record_is_published_under_the_original_key_with_its_reasons_in_headers():
    item = Inbound(RAW_ROWS, RAW_ROWS.decode(_valid()), b"c9", 1, 5, "t.rows.raw", 0, {},
                   _valid(), [("event_id", b"e1")])  # fmt: skip
    issues = (FieldIssue(field="tenure", code=IssueCode.OUT_OF_RANGE, detail="-1"),
              FieldIssue(field="Contract", code=IssueCode.UNSEEN_CATEGORY, detail="x"),
              FieldIssue(field="gender", code=IssueCode.OUT_OF_RANGE, detail="y"))  # fmt: skip
    output = quarantine_outbound(refused_message_record(item, issues, Keep(2048, 65_536)))
    assert output.topic is QUARANTINE and output.key == b"c9"
    assert output.headers == [
        ("event_id", b"e1"),
        ("quarantine_reasons", b"OUT_OF_RANGE,UNSEEN_CATEGORY"),
        ("quarantine_source", b"t.rows.raw:1:5"),
    ]


def test_settings_refuse_an_original_that_would_not_fit_the_quarantine_topic():
    with pytest.raises(ValidationError, match="TRUSTWATCH_QUARANTINE_ORIGINAL_BYTES"):
        Settings(quarantine_original_bytes=300_000)
    assert Settings(quarantine_original_bytes=150_000).quarantine_original_bytes == 150_000


def _valid() -> bytes:
    import json

    return json.dumps(VALID | {"event_time": datetime(2026, 3, 1, tzinfo=UTC).isoformat()}).encode()
