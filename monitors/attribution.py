"""Attribution drift: does the model lean on the same features in production as on the reference?

For the project's linear model, a row's SHAP value on a transformed column is the coefficient times
the column's distance from the background mean (what SHAP's LinearExplainer computes with an
independent masker); one-hot columns are summed back to their feature. A window's mean |SHAP| per
feature, on a bounded sample of its rows, is ranked against the reference's ranking by nDCG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from shared.features import FEATURES


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

    def __init__(self, pipeline, background: pd.DataFrame):
        self.preprocess = pipeline.named_steps["preprocess"]
        classifier = pipeline.named_steps["classifier"]
        self.coefficients = np.asarray(classifier.coef_).ravel()
        transformed = self._dense(background[list(FEATURES)])
        self.background_mean = transformed.mean(axis=0)
        names = [str(n) for n in self.preprocess.get_feature_names_out()]
        self.owner = np.array([FEATURES.index(source_feature(n)) for n in names])

    def _dense(self, frame: pd.DataFrame) -> np.ndarray:
        matrix = self.preprocess.transform(frame)
        return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)

    def shap_values(self, frame: pd.DataFrame) -> np.ndarray:
        """SHAP values per row and feature (one-hot columns summed), in log-odds."""
        contributions = (self._dense(frame[list(FEATURES)]) - self.background_mean) * (
            self.coefficients
        )
        per_feature = np.zeros((len(frame), len(FEATURES)))
        np.add.at(per_feature.T, self.owner, contributions.T)
        return per_feature

    def importance(self, frame: pd.DataFrame) -> dict[str, float]:
        values = np.abs(self.shap_values(frame)).mean(axis=0)
        return dict(zip(FEATURES, (float(v) for v in values), strict=True))


def source_feature(transformed_name: str) -> str:
    # "categorical__Contract_Month-to-month" -> "Contract"; "numeric__tenure" -> "tenure"
    _, _, rest = transformed_name.partition("__")
    for feature in sorted(FEATURES, key=len, reverse=True):
        if rest == feature or rest.startswith(feature + "_"):
            return feature
    raise ValueError(f"cannot map {transformed_name!r} to a feature")


@dataclass
class RowSample:
    """A bounded uniform sample of a window's rows (reservoir sampling, seeded)."""

    capacity: int
    seed: int = 0
    rows: list[dict] = field(default_factory=list)
    seen: int = 0

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def update(self, row: dict) -> RowSample:
        self.seen += 1
        if len(self.rows) < self.capacity:
            self.rows.append(row)
        else:
            slot = int(self._rng.integers(0, self.seen))
            if slot < self.capacity:
                self.rows[slot] = row
        return self

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=list(FEATURES))
