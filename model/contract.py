"""The model contract: one versioned description of what trustwatch monitors of a model.

It names the id column, an optional event-time column, the label and the value that counts as
positive, every input with its kind, and the sensitive attributes; fitted on the reference it also
holds what was learned there (the categories seen, the observed and valid ranges). It is written
with the model artifact (``metadata.json``, field ``contract``) and every part of trustwatch reads
the schema from it. The Telco demo's contract is one instance (``model.features.telco_contract``).

``task`` names what the model predicts: binary classification is the one supported today, and a
later task gets its own value without changing what a binary contract says.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

CONTRACT_VERSION = 1
# A numeric sensitive attribute (a 0/1 flag, an age band code) is taken as groups while it has at
# most this many distinct values; beyond that it is a quantity, and group recall means nothing.
MAX_GROUP_VALUES = 20

FeatureKind = Literal["numeric", "categorical"]


class ContractError(ValueError):
    """The data or the declaration does not make a contract; the message names the problem."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())


class FeatureSpec(_Frozen):
    """Kind and allowed values of one input, from the reference data.

    ``integer``: a numeric input whose reference values are all whole numbers travels as a JSON
    integer (a count such as tenure), any other numeric as a float.
    """

    name: str
    kind: FeatureKind
    integer: bool = False
    categories: tuple[str, ...] | None = None
    observed_min: float | None = None
    observed_max: float | None = None
    valid_min: float | None = None
    valid_max: float | None = None


class ModelContract(_Frozen):
    """What is monitored, and what the reference taught about it.

    Examples
    --------
    >>> frame = pd.DataFrame({"age": [30, 41, 52, 63], "colour": ["a", "b", "a", "b"],
    ...                       "released": ["Yes", "No", "Yes", "Yes"]})
    >>> contract = fit_contract(frame, label="released", positive="Yes", sensitive=["colour"])
    >>> contract.numeric, contract.categorical
    (('age',), ('colour',))
    >>> contract.feature("colour").categories
    ('a', 'b')
    >>> contract.labels_of(frame).tolist()
    [1, 0, 1, 1]
    """

    contract_version: int = CONTRACT_VERSION
    task: Literal["binary_classification"] = "binary_classification"
    name: str = Field(min_length=1)
    id_column: str | None = None
    time_column: str | None = None
    label: str
    positive: str
    features: tuple[FeatureSpec, ...] = Field(min_length=1)
    sensitive: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> ModelContract:
        names = [spec.name for spec in self.features]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"features named twice: {', '.join(repeated)}")
        special = [c for c in (self.label, self.id_column, self.time_column) if c is not None]
        clash = sorted(set(special) & set(names))
        if clash:
            raise ValueError(
                f"{', '.join(clash)} cannot be both a feature and the label, id or time"
            )
        for attribute in self.sensitive:
            if attribute not in names:
                raise ValueError(f"sensitive attribute {attribute!r} is not a feature")
            if self.feature(attribute).kind != "categorical":
                raise ValueError(f"sensitive attribute {attribute!r} must be categorical")
        return self

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.features)

    @property
    def numeric(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.features if spec.kind == "numeric")

    @property
    def categorical(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.features if spec.kind == "categorical")

    def feature(self, name: str) -> FeatureSpec:
        for spec in self.features:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def require(self, columns: Sequence[str], what: str) -> None:
        """Refuse ``columns`` (named by ``what``, e.g. a scenario) that the contract lacks."""
        known = {*self.names, self.label}
        missing = [column for column in columns if column not in known]
        if missing:
            raise ContractError(
                f"{what} names {', '.join(map(repr, missing))}, which the contract {self.name!r} "
                f"does not have; its columns: {', '.join(sorted(known))}"
            )

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` as trustwatch works on it: the contract's columns only, the label 0/1,
        categoricals as text, in time order where there is a time column. A column the contract
        names and the frame lacks is refused with its name."""
        wanted = [c for c in (self.id_column, self.time_column) if c is not None]
        wanted += [*self.names, self.label]
        missing = [column for column in wanted if column not in frame]
        if missing:
            named = ", ".join(repr(column) for column in missing)
            raise ContractError(f"the data has no column {named} (contract {self.name!r})")
        prepared = frame[wanted].copy()
        if self.time_column is not None:
            prepared = prepared.sort_values(self.time_column, kind="stable")
        for column in self.categorical:
            prepared[column] = prepared[column].astype(str)
        prepared[self.label] = self.labels_of(prepared)
        return prepared.reset_index(drop=True)

    def labels_of(self, frame: pd.DataFrame) -> np.ndarray:
        """The label column as 0/1 (1 where it equals ``positive``); a column with any other
        value than the positive one and one negative is refused."""
        return _binary_labels(frame[self.label], self.positive, self.label)


def _binary_labels(column: pd.Series, positive: str, name: str) -> np.ndarray:
    text = column.astype(str).str.strip()
    values = sorted(set(text))
    if positive not in values:
        raise ContractError(f"label {name!r} never takes the positive value {positive!r}: {values}")
    if len(values) != 2:
        raise ContractError(f"label {name!r} must take two values, found {len(values)}: {values}")
    return (text == positive).to_numpy(dtype=np.int64)


@dataclass(frozen=True)
class Declaration:
    """What a user says of their data (``trustwatch train`` / ``register``); fitted on the
    reference it becomes the contract."""

    label: str
    positive: str
    sensitive: tuple[str, ...] = ()
    features: tuple[str, ...] | None = None
    id_column: str | None = None
    time_column: str | None = None
    name: str = "model"
    categorical: tuple[str, ...] = ()

    def fit(self, reference: pd.DataFrame, range_margin_spans: float) -> ModelContract:
        return fit_contract(
            reference, self.label, self.positive, self.sensitive, self.features, self.id_column,
            self.time_column, self.name, self.categorical, range_margin_spans,
        )  # fmt: skip


def fit_contract(
    frame: pd.DataFrame,
    label: str,
    positive: str,
    sensitive: Sequence[str] = (),
    features: Sequence[str] | None = None,
    id_column: str | None = None,
    time_column: str | None = None,
    name: str = "model",
    categorical: Sequence[str] = (),
    range_margin_spans: float = 1.0,
) -> ModelContract:
    """Declare and fit a contract on a reference frame.

    ``features`` defaults to every column but the label, id and time. A column's kind follows its
    dtype (numbers are numeric; text, booleans and categories categorical), except the
    ``categorical`` ones and the sensitive attributes, which are always groups: a numeric sensitive
    attribute with more than ``MAX_GROUP_VALUES`` values is refused. A numeric value is valid
    within ``range_margin_spans`` spans of the observed range: drift moves values; only absurd
    ones are faults.
    """
    special = [c for c in (label, id_column, time_column) if c is not None]
    chosen = [str(c) for c in (features if features is not None else frame.columns)]
    chosen = [c for c in chosen if c not in special]
    missing = [c for c in [*special, *chosen, *sensitive] if c not in frame]
    if missing:
        raise ContractError(
            f"the data has no column {', '.join(map(repr, dict.fromkeys(missing)))}"
        )
    unknown = [c for c in sensitive if c not in chosen]
    if unknown:
        raise ContractError(f"sensitive attribute {unknown[0]!r} is not among the features")
    _binary_labels(frame[label], positive, label)
    as_groups = {*categorical, *sensitive}
    specs = []
    for column in chosen:
        values = frame[column]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if column in sensitive and numeric and values.nunique() > MAX_GROUP_VALUES:
            raise ContractError(
                f"sensitive attribute {column!r} is numeric with {values.nunique()} values "
                f"(at most {MAX_GROUP_VALUES} make groups): bin it into groups first"
            )
        if values.isna().any():
            raise ContractError(f"column {column!r} has missing values in the reference")
        if numeric and column not in as_groups:
            specs.append(_numeric_spec(column, values, range_margin_spans))
        else:
            categories = tuple(sorted(str(v) for v in values.unique()))
            specs.append(FeatureSpec(name=column, kind="categorical", categories=categories))
    try:
        return ModelContract(
            name=name, id_column=id_column, time_column=time_column, label=label,
            positive=positive, features=tuple(specs), sensitive=tuple(sensitive),
        )  # fmt: skip
    except ValueError as exc:
        raise ContractError(str(exc).splitlines()[-1]) from exc


def _numeric_spec(name: str, values: pd.Series, margin_spans: float) -> FeatureSpec:
    data = values.to_numpy(dtype=float)
    if not np.isfinite(data).all():
        raise ContractError(f"column {name!r} has values that are not finite numbers")
    low, high = float(data.min()), float(data.max())
    span = high - low
    return FeatureSpec(
        name=name,
        kind="numeric",
        integer=bool(pd.api.types.is_integer_dtype(values)),
        observed_min=low,
        observed_max=high,
        # never below zero for data that never was (counts, charges, ages)
        valid_min=low - margin_spans * span if low < 0 else max(0.0, low - margin_spans * span),
        valid_max=high + margin_spans * span if math.isfinite(span) else high,
    )
