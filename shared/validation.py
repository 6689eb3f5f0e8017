"""Turning decode failures into field-level quarantine reasons (pure, no I/O)."""

from __future__ import annotations

from typing import TypeVar

from pydantic import ValidationError

from shared.schemas import FieldIssue, IssueCode, Message
from shared.topics import Topic

M = TypeVar("M", bound=Message)

PAYLOAD_FIELD = "$"

_TYPE_ERRORS = {
    "bool_type", "int_type", "float_type", "string_type", "dict_type", "list_type",
    "model_type", "model_attributes_type", "int_from_float", "datetime_type", "datetime_parsing",
    "int_parsing", "float_parsing", "bool_parsing", "timezone_aware", "is_instance_of",
}  # fmt: skip
_RANGE_ERRORS = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "finite_number",
}


def issues_from_validation_error(error: ValidationError) -> tuple[FieldIssue, ...]:
    """One issue per failing field, classified into a reason code.

    Examples
    --------
    >>> from shared.schemas import RawRow
    >>> try:
    ...     RawRow.model_validate_json('{"event_id": "e1"')
    ... except ValidationError as exc:
    ...     [i.code.value for i in issues_from_validation_error(exc)]
    ['MALFORMED_JSON']
    """
    issues = []
    for item in error.errors(include_url=False):
        location = ".".join(str(part) for part in item["loc"]) or PAYLOAD_FIELD
        kind = item["type"]
        if kind == "json_invalid":
            code, location = IssueCode.MALFORMED_JSON, PAYLOAD_FIELD
        elif kind == "duplicate_key":
            code = IssueCode.DUPLICATE_KEY
        elif kind == "missing":
            code = IssueCode.MISSING_FIELD
        elif item.get("input", ...) is None:
            code = IssueCode.NULL
        elif kind in _TYPE_ERRORS:
            code = IssueCode.WRONG_TYPE
        elif kind in _RANGE_ERRORS:
            code = IssueCode.OUT_OF_RANGE
        else:
            code = IssueCode.INVALID
        issues.append(FieldIssue(field=location, code=code, detail=item["msg"]))
    return tuple(issues)


def oversized_issue(size: int, limit: int) -> FieldIssue:
    return FieldIssue(
        field=PAYLOAD_FIELD,
        code=IssueCode.OVERSIZED,
        detail=f"payload of {size} bytes exceeds the limit of {limit} bytes",
    )


def decode_payload(topic: Topic[M], payload: bytes, limit: int) -> M | tuple[FieldIssue, ...]:
    """``payload`` as ``topic``'s model, or why it cannot be: what every stage does with the
    bytes it reads before its handler sees them (a payload over ``limit`` is not parsed).

    Examples
    --------
    >>> from shared.topics import LABELS
    >>> [issue.code.value for issue in decode_payload(LABELS, b'{"event_id": 1}', 10)]
    ['OVERSIZED']
    """
    if len(payload) > limit:
        return (oversized_issue(len(payload), limit),)
    try:
        return topic.decode(payload)
    except ValidationError as exc:
        return issues_from_validation_error(exc)
