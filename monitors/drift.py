"""Per-feature drift of a window against the reference (pure).

Each feature is binned on the reference once (quantile bins for numerics, the reference categories
for categoricals); a window keeps only counts on those bins, so windows from several partitions
merge exactly. A feature's change is *significant* by a chi-square test of the window's counts
against the reference's, Bonferroni-corrected across features so the false-alarm rate holds for
the whole family; its *severity* is the effect size (PSI) of a significant change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency

from shared.features import FEATURES, NUMERIC_FEATURES
from shared.policy import DriftPolicy
from shared.schemas import DriftSeverity, FeatureDrift

# Empty bins would make PSI infinite; a fraction of 1e-4 is the usual floor.
PSI_FLOOR = 1e-4


def psi(expected_counts: np.ndarray, actual_counts: np.ndarray) -> float:
    """Population stability index of ``actual`` against ``expected`` on the same bins.

    Examples
    --------
    By hand: (0.4 - 0.5) ln(0.4 / 0.5) + (0.6 - 0.5) ln(0.6 / 0.5) = 0.022314 + 0.018232.

    >>> round(psi(np.array([50, 50]), np.array([40, 60])), 5)
    0.04055
    """
    expected = np.maximum(expected_counts / expected_counts.sum(), PSI_FLOOR)
    actual = np.maximum(actual_counts / max(actual_counts.sum(), 1), PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def chi_square(reference_counts: np.ndarray, window_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square test of homogeneity between the two count vectors: (statistic, p-value)."""
    keep = (reference_counts + window_counts) > 0
    if keep.sum() < 2 or window_counts.sum() == 0:
        return 0.0, 1.0
    table = np.vstack([reference_counts[keep], window_counts[keep]])
    result = chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def severity_of(psi_value: float, significant: bool, policy: DriftPolicy) -> DriftSeverity:
    if not significant:
        return DriftSeverity.NONE
    if psi_value >= policy.psi_high:
        return DriftSeverity.HIGH
    if psi_value >= policy.psi_medium:
        return DriftSeverity.MEDIUM
    return DriftSeverity.LOW


@dataclass(frozen=True)
class FeatureBins:
    """How one feature is binned, and the reference's counts on those bins."""

    name: str
    numeric: bool
    inner_edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()
    reference_counts: tuple[int, ...] = ()

    @property
    def size(self) -> int:
        return len(self.inner_edges) + 1 if self.numeric else len(self.categories)

    def bin_of(self, value: object) -> int:
        """Bin index of ``value``; -1 for a category the reference never had."""
        if self.numeric:
            return int(np.searchsorted(self.inner_edges, float(value), side="right"))  # type: ignore[arg-type]
        try:
            return self.categories.index(str(value))
        except ValueError:
            return -1

    def bins_of(self, values: pd.Series) -> np.ndarray:
        if self.numeric:
            return np.searchsorted(self.inner_edges, values.to_numpy(dtype=float), side="right")
        lookup = {category: i for i, category in enumerate(self.categories)}
        return values.astype(str).map(lookup).fillna(-1).to_numpy(dtype=int)


@dataclass(frozen=True)
class ReferenceProfile:
    """The binned reference every drift window is compared against."""

    features: tuple[FeatureBins, ...]
    rows: int

    @classmethod
    def fit(
        cls, reference: pd.DataFrame, bins: int, features: Sequence[str] = FEATURES
    ) -> ReferenceProfile:
        fitted = []
        for name in features:
            column = reference[name]
            if name in NUMERIC_FEATURES:
                quantiles = np.quantile(column.to_numpy(dtype=float), np.linspace(0, 1, bins + 1))
                # Ties (tenure 0, 1, 72) repeat quantiles: keep each edge once.
                edges = tuple(float(e) for e in np.unique(quantiles[1:-1]))
                spec = FeatureBins(name, True, inner_edges=edges)
            else:
                spec = FeatureBins(
                    name, False, categories=tuple(sorted(column.astype(str).unique()))
                )
            counts = np.bincount(spec.bins_of(column), minlength=spec.size)
            fitted.append(
                FeatureBins(
                    spec.name,
                    spec.numeric,
                    spec.inner_edges,
                    spec.categories,
                    tuple(int(c) for c in counts),
                )
            )
        return cls(features=tuple(fitted), rows=len(reference))


@dataclass
class DriftWindow:
    """Counts of one window on the reference bins; unseen categories counted apart."""

    profile: ReferenceProfile
    rows: int = 0
    counts: dict[str, np.ndarray] = field(default_factory=dict)
    unseen: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for spec in self.profile.features:
            self.counts.setdefault(spec.name, np.zeros(spec.size, dtype=np.int64))
            self.unseen.setdefault(spec.name, 0)

    def update(self, values: Mapping[str, object]) -> DriftWindow:
        self.rows += 1
        for spec in self.profile.features:
            index = spec.bin_of(values[spec.name])
            if index < 0:
                self.unseen[spec.name] += 1  # data quality, not drift
            else:
                self.counts[spec.name][index] += 1
        return self

    def update_frame(self, frame: pd.DataFrame) -> DriftWindow:
        self.rows += len(frame)
        for spec in self.profile.features:
            indices = spec.bins_of(frame[spec.name])
            self.unseen[spec.name] += int((indices < 0).sum())
            self.counts[spec.name] += np.bincount(indices[indices >= 0], minlength=spec.size)
        return self

    def merge(self, other: DriftWindow) -> DriftWindow:
        if other.profile is not self.profile:
            raise ValueError("cannot merge windows binned on different references")
        return DriftWindow(
            self.profile,
            self.rows + other.rows,
            {k: v + other.counts[k] for k, v in self.counts.items()},
            {k: v + other.unseen[k] for k, v in self.unseen.items()},
        )

    def result(
        self, policy: DriftPolicy, importance_share: Mapping[str, float] | None = None
    ) -> tuple[FeatureDrift, ...]:
        shares = importance_share or {}
        per_feature_alpha = policy.family_alpha / len(self.profile.features)
        large_enough = self.rows >= policy.min_window_rows
        results = []
        for spec in self.profile.features:
            reference = np.asarray(spec.reference_counts, dtype=float)
            window = self.counts[spec.name].astype(float)
            statistic, p_value = chi_square(reference, window)
            psi_value = psi(reference, window) if window.sum() else 0.0
            significant = large_enough and p_value < per_feature_alpha
            results.append(
                FeatureDrift(
                    feature=spec.name,
                    psi=psi_value,
                    statistic=statistic,
                    p_value=p_value,
                    significant=significant,
                    severity=severity_of(psi_value, significant, policy),
                    importance_share=float(shares.get(spec.name, 0.0)),
                )
            )
        return tuple(results)
