"""Attribution drift: does the model lean on the same features in production as on the reference?

For the project's linear model, a row's SHAP value on a transformed column is the coefficient times
the column's distance from the background mean (what SHAP's LinearExplainer computes with an
independent masker); one-hot columns are summed back to their feature. A window's mean |SHAP| per
feature, on a bounded sample of its rows, is ranked against the reference's ranking by nDCG.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shared.schemas import PackedArray, RowSampleState


def ndcg(reference_importance: Mapping[str, float], ranking: Sequence[str]) -> float:
    """nDCG of ``ranking`` with the reference importance as graded relevance (1.0: same order).

    Examples
    --------
    >>> ndcg({"a": 3, "b": 2, "c": 1}, ["a", "b", "c"])
    1.0
    >>> round(ndcg({"a": 3, "b": 2, "c": 1}, ["c", "b", "a"]), 3)
    0.79
    """
    gains = np.array([reference_importance.get(name, 0.0) for name in ranking])
    discounts = 1 / np.log2(np.arange(2, len(ranking) + 2))
    ideal = np.sort(np.array(list(reference_importance.values())))[::-1][: len(ranking)]
    best = float((ideal * discounts[: len(ideal)]).sum())
    return float((gains * discounts).sum() / best) if best else 1.0


class LinearAttribution:
    """Mean |SHAP| per feature of a fitted pipeline (preprocess + linear classifier)."""

    def __init__(self, pipeline, background: pd.DataFrame, features: Sequence[str]):
        self.features = tuple(features)
        self.preprocess = pipeline.named_steps["preprocess"]
        classifier = pipeline.named_steps["classifier"]
        self.coefficients = np.asarray(classifier.coef_).ravel()
        transformed = self._dense(background[list(self.features)])
        self.background_mean = transformed.mean(axis=0)
        names = [str(n) for n in self.preprocess.get_feature_names_out()]
        self.owner = np.array(
            [self.features.index(source_feature(n, self.features)) for n in names]
        )

    @staticmethod
    def supports(model: object) -> bool:
        """The model is trustwatch's own kind (a preprocess step and a linear classifier); a
        registered model of another kind has no attribution drift."""
        steps = getattr(model, "named_steps", {})
        return "preprocess" in steps and hasattr(steps.get("classifier"), "coef_")

    def _dense(self, frame: pd.DataFrame) -> np.ndarray:
        matrix = self.preprocess.transform(frame)
        return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)

    def shap_values(self, frame: pd.DataFrame) -> np.ndarray:
        """SHAP values per row and feature (one-hot columns summed), in log-odds."""
        contributions = (self._dense(frame[list(self.features)]) - self.background_mean) * (
            self.coefficients
        )
        per_feature = np.zeros((len(frame), len(self.features)))
        np.add.at(per_feature.T, self.owner, contributions.T)
        return per_feature

    def importance(self, frame: pd.DataFrame) -> dict[str, float]:
        values = np.abs(self.shap_values(frame)).mean(axis=0)
        return dict(zip(self.features, (float(v) for v in values), strict=True))


def source_feature(transformed_name: str, features: Sequence[str]) -> str:
    # "categorical__Contract_Month-to-month" -> "Contract"; "numeric__tenure" -> "tenure"
    _, _, rest = transformed_name.partition("__")
    for feature in sorted(features, key=len, reverse=True):
        if rest == feature or rest.startswith(feature + "_"):
            return feature
    raise ValueError(f"cannot map {transformed_name!r} to a feature")


def sample_key(row_id: str) -> int:
    """A stable 64-bit hash of a row's id (the same in every process, unlike ``hash``)."""
    return int.from_bytes(hashlib.blake2b(row_id.encode(), digest_size=8).digest(), "big")


@dataclass
class RowSample:
    """A bounded uniform sample of a window's rows: the ``capacity`` rows whose ids hash lowest
    (bottom-k sampling). Unlike a reservoir it merges exactly (the sample of a union is the
    bottom-k of the two samples), does not depend on arrival order, and a row seen twice (a
    replay) is kept once.

    Examples
    --------
    >>> whole, a, b = RowSample(2), RowSample(2), RowSample(2)
    >>> for i in range(6):
    ...     _ = whole.update(f"r{i}", {"i": i})
    ...     _ = (a if i % 2 else b).update(f"r{i}", {"i": i})
    >>> a.merge(b).rows == whole.rows
    True
    """

    capacity: int
    keys: list[int] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)

    def update(self, row_id: str, row: dict) -> RowSample:
        key = sample_key(row_id)  # keys are kept sorted: most rows are rejected by one compare
        if len(self.keys) >= self.capacity and key >= self.keys[-1]:
            return self
        index = bisect.bisect_left(self.keys, key)
        if index < len(self.keys) and self.keys[index] == key:
            return self  # the same row again
        self.keys.insert(index, key)
        self.rows.insert(index, row)
        if len(self.keys) > self.capacity:
            self.keys.pop()
            self.rows.pop()
        return self

    def merge(self, other: RowSample) -> RowSample:
        return RowSample(self.capacity)._take(self.keys + other.keys, self.rows + other.rows)

    def _take(self, keys: list[int], rows: list[dict]) -> RowSample:
        by_key = dict(zip(self.keys, self.rows, strict=True))
        for key, row in zip(keys, rows, strict=True):
            by_key.setdefault(key, row)
        kept = sorted(by_key)[: self.capacity]
        self.keys = kept
        self.rows = [by_key[key] for key in kept]
        return self

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def message(self) -> RowSampleState:
        names = list(self.rows[0]) if self.rows else []
        return RowSampleState(
            capacity=self.capacity,
            keys=PackedArray.of(self.keys, "<u8"),
            columns={name: [row[name] for row in self.rows] for name in names},
        )

    @classmethod
    def from_message(cls, state: RowSampleState) -> RowSample:
        keys = [int(key) for key in state.keys.array()]
        if any(len(values) != len(keys) for values in state.columns.values()):
            raise ValueError("a row sample's columns do not hold one value per row")
        rows = [{name: values[i] for name, values in state.columns.items()}
                for i in range(len(keys))]  # fmt: skip
        return cls(state.capacity, keys, rows)
