"""The row messages of one model, built from its contract.

``RawRow`` and ``ScoredRow`` stay one pydantic model per topic; their ``features`` are typed by
the contract: the exact names, a categorical as text, a whole-number numeric as a JSON integer and
any other numeric as a number, each strict and required (a missing or mistyped one is refused with
its field and reason code when the message is decoded). Every service reads the row topics through
these, so a stream of another schema is refused at the first hop, not half-read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import ConfigDict, StrictInt, StrictStr
from typing_extensions import TypedDict

from model.contract import ModelContract
from shared.schemas import RawRow, ScoredRow
from shared.topics import RAW_ROWS, SCORED_ROWS, Topic

# Extra keys are ignored, as upstream systems add fields the model does not use; NaN and Infinity
# are no value a feature can have.
FEATURES_CONFIG = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)


@lru_cache(maxsize=8)
def features_type(contract: ModelContract) -> type:
    """A TypedDict of the contract's features (names need not be identifiers).

    >>> from model.contract import FeatureSpec
    >>> contract = ModelContract(name="m", label="y", positive="1", features=(
    ...     FeatureSpec(name="monthly charges", kind="numeric"),
    ...     FeatureSpec(name="plan", kind="categorical", categories=("a", "b"))))
    >>> RowMessages.of(contract).raw.message.model_validate_json(
    ...     '{"event_time": "2026-03-01T00:00:00Z", "event_id": "e", "customer_id": "c",'
    ...     ' "features": {"monthly charges": 7, "plan": "a"}}').features
    {'monthly charges': 7.0, 'plan': 'a'}
    """
    fields: dict[str, Any] = {}
    for spec in contract.features:
        if spec.kind == "categorical":
            fields[spec.name] = StrictStr
        else:
            fields[spec.name] = StrictInt if spec.integer else float
    # the functional form: a computed name and mapping, which type checkers cannot follow
    features = TypedDict(f"{contract.name} features", fields)  # type: ignore[misc]
    features.__pydantic_config__ = FEATURES_CONFIG  # type: ignore[attr-defined]
    return features


@dataclass(frozen=True)
class RowMessages:
    """The row topics of one contract, carrying its parametrised messages."""

    raw: Topic[RawRow]
    scored: Topic[ScoredRow]

    @classmethod
    def of(cls, contract: ModelContract) -> RowMessages:
        features = features_type(contract)
        return cls(
            RAW_ROWS.carrying(RawRow[features]),  # type: ignore[valid-type]  # built at run time
            SCORED_ROWS.carrying(ScoredRow[features]),  # type: ignore[valid-type]
        )


def row_values(contract: ModelContract, record: Mapping[Any, Any]) -> dict[str, Any]:
    """A frame record's features as the message carries them: numpy scalars made Python values,
    whole-number numerics integers, categoricals text."""
    values: dict[str, Any] = {}
    for spec in contract.features:
        value = record[spec.name]
        if spec.kind == "categorical":
            values[spec.name] = str(value)
        elif spec.integer:
            values[spec.name] = int(value)
        else:
            values[spec.name] = float(value)
    return values
