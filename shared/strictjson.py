"""Refusing JSON that parses but is ambiguous: a key given twice in one object.

pydantic's JSON parser keeps the last of two equal keys, so ``{"tenure": 3, "tenure": 500}`` would
be read as 500 without a word. A full second parse to look for duplicates would cost as much as
decoding itself, on every message of every hop. Instead: a payload has at least as many
``"...":`` tokens as keys, and a decoded model knows how many keys it was built from; only when
the tokens outnumber them (a duplicate, an ignored extra key, or ``":`` inside a string) is the
payload parsed again to find the duplicate. NaN and Infinity are refused by the models themselves
(``allow_inf_nan=False``).
"""

from __future__ import annotations

import json
import types
import typing
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

_WHITESPACE = b" \t\n\r"


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _pairs_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return found


def check_keys(payload: bytes | str, message: BaseModel) -> None:
    """Raise pydantic's ValidationError (type ``duplicate_key``) when a JSON object of
    ``payload``, already decoded into ``message``, gives a key twice."""
    data = payload.encode() if isinstance(payload, str) else payload
    # without whitespace, every key is a '":' (strings may add more: then parse again)
    if data.translate(None, _WHITESPACE).count(b'":') <= keys_of(message):
        return
    try:
        json.loads(data, object_pairs_hook=_pairs_without_duplicates)
    except _DuplicateKey as exc:
        error = PydanticCustomError(
            "duplicate_key", "the key '{key}' appears twice in one object", {"key": exc.key}
        )
        raise ValidationError.from_exception_data(
            type(message).__name__, [{"type": error, "loc": (exc.key,), "input": exc.key}]
        ) from None


def keys_of(value: object) -> int:
    """How many JSON object keys ``value`` was decoded from (a lower bound where a model ignores
    extra keys)."""
    if isinstance(value, BaseModel):
        present = value.__pydantic_fields_set__
        count = len(present)
        for name in _nested_fields(type(value)):
            if name in present:
                count += keys_of(getattr(value, name))
        return count
    if isinstance(value, dict):
        return len(value) + sum(keys_of(item) for item in value.values())
    if isinstance(value, list | tuple):
        return sum(keys_of(item) for item in value)
    return 0


@cache
def _nested_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``model`` whose values can hold JSON objects of their own."""
    return tuple(
        name for name, info in model.model_fields.items() if _may_hold_objects(info.annotation)
    )


def _may_hold_objects(annotation: Any) -> bool:
    if isinstance(annotation, type):
        return issubclass(annotation, BaseModel | dict | list | tuple)
    origin = typing.get_origin(annotation)
    if origin in (dict, list, tuple) or (
        isinstance(origin, type) and issubclass(origin, dict | list | tuple)
    ):
        return True
    if origin in (typing.Union, types.UnionType, typing.Annotated) or origin is not None:
        return any(_may_hold_objects(arg) for arg in typing.get_args(annotation))
    return False
