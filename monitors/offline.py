"""The monitors for notebooks: the same statistics the services run, on pandas DataFrames.

Every monitor is fit on a reference, then checks a window::

    monitor = DriftMonitor.fit(reference_df)
    result = monitor.check(window_df)
    result.drifted, result.features["MonthlyCharges"].severity
"""

from __future__ import annotations

from collections.abc import Sequence, Sized
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from monitors.drift import PREDICTION, SEVERITIES, DriftWindow, ReferenceProfile
from monitors.fairness import GapStats, GroupStats, GroupWindow
from monitors.performance import PerformanceResult, PerformanceWindow
from shared.policy import Policy, load_policy
from shared.schemas import DriftSeverity


class FeatureResult(NamedTuple):
    """Drift of one feature: ``score`` is PSI, ``statistic`` and ``p_value`` the chi-square test.

    A named tuple: a check builds one per feature, and a frozen dataclass costs four times as
    much to build."""

    score: float
    p_value: float
    severity: DriftSeverity
    statistic: float
    significant: bool
    js_distance: float
    ks_statistic: float | None
    wasserstein: float | None


@dataclass(frozen=True)
class DriftResult:
    """``drifted``: significant drift on any feature, at the policy's family-wise alpha.

    ``unseen_categories`` (a missing category among them) and ``missing_values`` (NaN in a
    numeric feature) are data quality, counted by feature apart from the drift statistics, which
    leave those values out."""

    rows: int
    drifted: bool
    features: dict[str, FeatureResult]
    unseen_categories: dict[str, int]
    missing_values: dict[str, int]

    def ranked(self) -> list[str]:
        """Drifted features, largest PSI first."""
        hits = [(name, f.score) for name, f in self.features.items() if f.significant]
        return [name for name, _ in sorted(hits, key=lambda item: -item[1])]


class DriftMonitor:
    """Per-feature drift of a window against a reference.

    Examples
    --------
    >>> from model.datasets import load_clean, split
    >>> from model.features import FEATURES
    >>> parts = split(load_clean(), seed=42)
    >>> monitor = DriftMonitor.fit(parts.reference, features=FEATURES)
    >>> quiet = monitor.check(parts.test.sample(500, random_state=1))
    >>> quiet.drifted
    False
    >>> shifted = parts.test.sample(500, random_state=1)
    >>> shifted["MonthlyCharges"] *= 1.2
    >>> result = monitor.check(shifted)
    >>> result.drifted, result.features["MonthlyCharges"].severity.value
    (True, 'HIGH')
    >>> result.ranked()[0]
    'MonthlyCharges'
    """

    def __init__(self, profile: ReferenceProfile, policy: Policy):
        self.profile = profile
        self.policy = policy

    @classmethod
    def fit(
        cls,
        reference: pd.DataFrame,
        features: Sequence[str] | None = None,
        policy: Policy | None = None,
        prediction_column: str | None = None,
        numeric: Sequence[str] | None = None,
    ) -> DriftMonitor:
        """Bin the reference: ``features`` (default: every column but the prediction), numbers
        as quantities and anything else as categories unless ``numeric`` names the quantities
        (a model contract's ``numeric``)."""
        policy = policy or load_policy()
        profile = ReferenceProfile.fit(
            reference, policy.drift.bins, features, policy.drift.test_bins, prediction_column,
            numeric=numeric,
        )  # fmt: skip
        return cls(profile, policy)

    def check(self, window: pd.DataFrame, prediction_column: str | None = None) -> DriftResult:
        frame = window
        if prediction_column is not None:
            frame = window.assign(**{PREDICTION: window[prediction_column]})
        counts = DriftWindow(self.profile).update_frame(frame)
        check = counts.check(self.policy.drift)
        # each statistic's array converted once, not once per feature
        stats = zip(check.names, check.rows.tolist(), check.psi.tolist(), check.p_value.tolist(),
                    check.severity.tolist(), check.statistic.tolist(),
                    check.significant.tolist(), check.js.tolist(), check.ks.tolist(),
                    check.wasserstein.tolist(), strict=True)  # fmt: skip
        features = {}
        for name, rows, score, p_value, severity, statistic, significant, js, ks, wasser in stats:
            if rows > 0:
                features[name] = FeatureResult(
                    score, p_value, SEVERITIES[severity], statistic, significant, js,
                    _number(ks), _number(wasser),
                )  # fmt: skip
        drifted = any(f.significant for name, f in features.items() if name != PREDICTION)
        return DriftResult(len(window), drifted, features, counts.unseen_by_feature(),
                           counts.missing_by_feature())  # fmt: skip


def _number(value: float) -> float | None:
    """A statistic a categorical feature has none of (nan) as None."""
    return None if value != value else value


class PerformanceMonitor:
    """Window performance against the baseline of a reference (held-out) set.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([1, 0, 1, 1, 0, 0, 1, 0])
    >>> score = np.array([0.9, 0.2, 0.7, 0.4, 0.6, 0.1, 0.8, 0.3])
    >>> monitor = PerformanceMonitor.fit(y, score)
    >>> result = monitor.check(y, score)
    >>> round(result.recall, 2), round(result.roc_auc, 4)
    (0.75, 0.9375)
    """

    def __init__(self, baseline: PerformanceResult, threshold: float, confidence: float):
        self.baseline = baseline
        self.threshold = threshold
        self.confidence = confidence

    @classmethod
    def fit(cls, y_true, y_score, threshold: float = 0.5,
            policy: Policy | None = None) -> PerformanceMonitor:  # fmt: skip
        confidence = (policy or load_policy()).performance.confidence
        return cls(_evaluate(y_true, y_score, threshold, confidence), threshold, confidence)

    def check(self, y_true, y_score) -> PerformanceResult:
        return _evaluate(y_true, y_score, self.threshold, self.confidence)


def _evaluate(y_true, y_score, threshold: float, confidence: float) -> PerformanceResult:
    truths = _binary("y_true", y_true)
    scores = np.asarray(y_score, dtype=float)
    _same_length(("y_true", truths), ("y_score", scores))
    window = PerformanceWindow()
    for truth, score in zip(truths.tolist(), scores.tolist(), strict=True):
        window.update(truth, int(score >= threshold), score)
    return window.result(confidence)


def _binary(name: str, values) -> np.ndarray:
    """``values`` as 0 and 1; anything else (2, NaN, "yes") is named in a clear error, not
    counted as a positive."""
    array = np.asarray(values)
    try:
        numbers = array.astype(float)
    except (TypeError, ValueError):  # some value is no number: each converted on its own
        numbers = pd.to_numeric(pd.Series(array.ravel()), errors="coerce").to_numpy(dtype=float)
    bad = ~np.isin(numbers, (0.0, 1.0))
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        value = array[at].item() if isinstance(array[at], np.generic) else array[at]
        raise ValueError(f"{name} must hold only 0 and 1: {value!r} at position {at} "
                         f"({int(bad.sum())} such values)")  # fmt: skip
    return numbers.astype(np.int64)


def _same_length(*named: tuple[str, Sized]) -> None:
    lengths = {name: len(values) for name, values in named}
    if len(set(lengths.values())) > 1:
        raise ValueError("lengths differ: " + ", ".join(f"{n} {k}" for n, k in lengths.items()))


@dataclass(frozen=True)
class FairnessResult:
    groups: tuple[GroupStats, ...]
    gaps: dict[str, GapStats]


class FairnessMonitor:
    """Group metrics and recall gaps of the sensitive attributes.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"gender": ["F"] * 4 + ["M"] * 4})
    >>> y_true = [1, 1, 0, 0, 1, 1, 0, 0]
    >>> y_pred = [1, 1, 0, 1, 1, 0, 0, 0]
    >>> monitor = FairnessMonitor(["gender"], min_positives=2, min_negatives=2)
    >>> result = monitor.check(y_true, y_pred, frame)
    >>> result.gaps["gender"].gap, result.gaps["gender"].worst_group
    (0.5, 'M')
    """

    def __init__(self, attributes: Sequence[str], min_positives: int | None = None,
                 min_negatives: int | None = None, policy: Policy | None = None):  # fmt: skip
        """``attributes``: the sensitive ones (a model contract's ``sensitive``)."""
        policy = policy or load_policy()
        self.attributes = tuple(attributes)
        self.min_positives = (
            policy.fairness.min_group_positives if min_positives is None else min_positives
        )
        self.min_negatives = (
            policy.fairness.min_group_negatives if min_negatives is None else min_negatives
        )
        self.confidence = policy.fairness.gap_confidence
        self.interval = policy.fairness.gap_interval

    def check(self, y_true, y_pred, sensitive: pd.DataFrame) -> FairnessResult:
        window = GroupWindow(self.attributes)
        truths, predictions = _binary("y_true", y_true), _binary("y_pred", y_pred)
        _same_length(("y_true", truths), ("y_pred", predictions), ("sensitive", sensitive))
        columns: list[dict[str, str]] = (
            sensitive[list(self.attributes)].astype(str).to_dict(orient="records")  # type: ignore[assignment]  # pandas-stubs: keys are Hashable
        )
        for truth, predicted, values in zip(truths.tolist(), predictions.tolist(), columns,
                                            strict=True):  # fmt: skip
            window.update(values, truth, predicted)
        groups, gaps = window.result(self.min_positives, self.min_negatives, self.confidence,
                                     self.interval)  # fmt: skip
        return FairnessResult(groups, {gap.attribute: gap for gap in gaps})
