"""Strict JSON at every decode: a key given twice in one object, NaN and Infinity are refused with
their reason codes; valid payloads (whitespace anywhere, '":' inside strings, extra keys a model
ignores) are not."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from model.messages import RowMessages
from shared.schemas import IssueCode
from shared.topics import DRIFT_SIGNALS, QUARANTINE, RAW_ROWS
from shared.validation import issues_from_validation_error
from tests.conftest import TELCO_CONTRACT
from tests.unit.signals import drift
from tests.unit.test_validation import VALID


def codes(topic, payload) -> list[IssueCode]:
    try:
        topic.decode(payload)
    except ValidationError as exc:
        return [issue.code for issue in issues_from_validation_error(exc)]
    return []


def with_duplicate(text: str, key: str, value: str, spaced: str = "") -> str:
    """``text`` with ``"key": value`` given a second time right after its first occurrence."""
    first = text.index(f'"{key}"')
    end = text.index(",", first)
    return text[:end] + f', "{key}"{spaced}: {value}' + text[end:]


@settings(max_examples=60, deadline=None)
@given(
    key=st.sampled_from(["event_id", "label", "tenure", "Contract", "MonthlyCharges"]),
    spaced=st.sampled_from(["", " ", "\t", "\n ", "  \r\n"]),
    indent=st.sampled_from([None, 1, 4]),
)
def test_a_key_given_twice_is_refused_however_the_json_is_spaced(key, spaced, indent):
    document = json.loads(json.dumps(VALID))
    text = json.dumps(document, indent=indent)
    value = '"Two year"' if key == "Contract" else ('"e2"' if key == "event_id" else "0")
    assert codes(RAW_ROWS, text) == []
    assert codes(RAW_ROWS, with_duplicate(text, key, value, spaced)) == [IssueCode.DUPLICATE_KEY]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_nan_and_infinity_are_refused(number):
    text = json.dumps(VALID)
    value = VALID["features"]["MonthlyCharges"]
    bad = text.replace(f'"MonthlyCharges": {value}', f'"MonthlyCharges": {number}')
    assert codes(RowMessages.of(TELCO_CONTRACT).raw, bad) == [IssueCode.OUT_OF_RANGE]


def test_valid_payloads_with_colons_in_strings_and_ignored_keys_pass():
    document = json.loads(json.dumps(VALID))
    document["event_id"] = 'a": "b": "c'
    document["features"]["not_a_feature"] = 1  # features ignore keys they do not know
    assert codes(RAW_ROWS, json.dumps(document)) == []
    signal = drift(0, quarantined={"OUT_OF_RANGE": 2, "NULL": 1})
    encoded = DRIFT_SIGNALS.encode(signal).decode()
    assert DRIFT_SIGNALS.decode(encoded) == signal
    doubled = encoded.replace('"NULL":1', '"NULL":1,"NULL":7')
    assert codes(DRIFT_SIGNALS, doubled) == [IssueCode.DUPLICATE_KEY]


def test_a_quarantine_record_carrying_a_broken_payload_decodes():
    from datetime import UTC, datetime

    from shared.schemas import FieldIssue, QuarantinedRow

    payload = '{"tenure": 1, "tenure": 2}'  # the broken payload it keeps, as text
    record = QuarantinedRow(
        event_time=datetime(2026, 3, 1, tzinfo=UTC), event_id="e1", source_topic="t.rows.raw",
        source_partition=0, source_offset=1,
        issues=(FieldIssue(field="tenure", code=IssueCode.DUPLICATE_KEY, detail="twice"),),
        payload=payload, payload_bytes=len(payload), payload_truncated=False,
    )  # fmt: skip
    assert QUARANTINE.decode(QUARANTINE.encode(record)) == record
