"""Per-feature drift of a window against the reference (pure, vectorised across features).

Each feature is binned once on the reference: numerics on fine quantile bins (up to
``test_bins``), categoricals on the reference categories. A window keeps only counts on those bins,
so windows from several partitions merge exactly.

- *Significance* is a chi-square test of homogeneity between the window's counts and the
  reference's, on fine bins grouped so that every group expects at least ``min_expected`` window
  rows: the test is calibrated for the window's actual size (too-sparse bins make chi-square
  anti-conservative; too-coarse bins lose power). A Bonferroni correction across the features
  holds the family-wise false-alarm rate at ``family_alpha``.
- *Effect size* is PSI on ``bins`` coarse quantile bins (the bands everyone knows), with
  Jensen-Shannon distance, the binned KS statistic and the Wasserstein distance in units of the
  reference's standard deviation reported beside it.
- *Severity* is NONE unless the change is significant, then LOW / MEDIUM / HIGH by PSI band.

A value no reference bin holds is data quality, not drift, and is counted apart per feature: a
category the reference never had (a missing one, None or NaN, among them), or a missing number
(NaN). The reference's own missing values are left out of its bins.

All features are held in one padded matrix, and a check computes every statistic of every
feature in one compiled loop (``monitors.divergence.window_statistics``).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from monitors.categories import CategoryCodes
from monitors.divergence import PSI_FLOOR, chi_square_p_values, shares, window_statistics
from monitors.edges import EdgeGrid, EdgeGrids
from shared.policy import DriftPolicy
from shared.schemas import DriftSeverity, FeatureDrift

# The model's output, monitored like a numeric feature (prediction drift).
PREDICTION = "prediction"
# the code of a value no bin holds (an unseen or missing category, a missing number), and of a
# feature the rows do not have
NO_BIN = -1
MISSING_CODE = -2
SEVERITIES = (DriftSeverity.NONE, DriftSeverity.LOW, DriftSeverity.MEDIUM, DriftSeverity.HIGH)


def severity_of(psi_value: float, significant: bool, policy: DriftPolicy) -> DriftSeverity:
    return SEVERITIES[int(_severity_codes(np.array([psi_value]), np.array([significant]),
                                          policy)[0])]  # fmt: skip


def _severity_codes(psi_values: np.ndarray, significant: np.ndarray,
                    policy: DriftPolicy) -> np.ndarray:  # fmt: skip
    codes = 1 + (psi_values >= policy.psi_medium) + (psi_values >= policy.psi_high)
    return np.where(significant, codes, 0)


# one column of values, as a DataFrame holds it
ColumnArray = np.ndarray | pd.api.extensions.ExtensionArray
# columns by feature name, in the same row order
Columns = Mapping[str, Sequence | ColumnArray | pd.Series] | pd.DataFrame


@dataclass(frozen=True)
class FeatureBins:
    """How one feature is binned (fine bins for the test, coarse bins for PSI)."""

    name: str
    numeric: bool
    inner_edges: np.ndarray  # fine bin edges (numeric); empty for categoricals
    categories: tuple[str, ...]
    reference_counts: np.ndarray  # per fine bin
    coarse_of_fine: np.ndarray  # fine bin -> coarse (PSI) bin
    midpoints: np.ndarray  # representative value of each fine bin (numeric)
    spread: float  # reference standard deviation (numeric)
    lookup: dict[str, int] = field(init=False, repr=False, compare=False)
    category_codes: CategoryCodes = field(init=False, repr=False, compare=False)
    edges_list: list[float] = field(init=False, repr=False, compare=False)
    # the inner edges, then NaN: where a sorted column's numbers end
    edges_and_nan: np.ndarray = field(init=False, repr=False, compare=False)
    grid: EdgeGrid = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lookup", {c: i for i, c in enumerate(self.categories)})
        object.__setattr__(self, "category_codes", CategoryCodes([self.categories]))
        object.__setattr__(self, "edges_list", [float(e) for e in self.inner_edges])
        object.__setattr__(self, "edges_and_nan", np.append(self.inner_edges, np.nan))
        object.__setattr__(self, "grid", EdgeGrid(self.inner_edges))

    @property
    def size(self) -> int:
        return len(self.reference_counts)

    def bins_of(self, values: Sequence | ColumnArray | pd.Series) -> np.ndarray:
        """Fine bin index of each value; -1 for a category the reference never had (or a missing
        one) or a missing number."""
        if self.numeric:
            numbers = np.asarray(values, dtype=float)
            return np.where(np.isnan(numbers), NO_BIN, self.grid.bins(numbers))
        return self.category_codes.positions([values], len(values))[0]

    def bin_of(self, value: float | str | None) -> int:
        if value is None:
            return NO_BIN
        if self.numeric:
            number = float(value)
            return NO_BIN if number != number else bisect_right(self.edges_list, number)
        return self.lookup.get(str(value), NO_BIN)

    @classmethod
    def fit(cls, name: str, values: pd.Series, numeric: bool, coarse_bins: int,
            test_bins: int) -> FeatureBins:  # fmt: skip
        if not numeric:
            texts = values.dropna().astype(str)  # a missing category is data quality, in no bin
            if not len(texts):
                raise ValueError(f"the reference's column {name!r} has no category to bin")
            categories = tuple(sorted(texts.unique()))
            lookup = {category: i for i, category in enumerate(categories)}
            indices = texts.map(lookup).to_numpy(dtype=np.int64)
            counts = np.bincount(indices, minlength=len(categories)).astype(float)
            return cls(name, False, np.empty(0), categories, counts,
                       np.arange(len(categories)), np.empty(0), 0.0)  # fmt: skip
        data = values.to_numpy(dtype=float)
        data = data[np.isfinite(data)]  # a missing number is data quality, and in no bin
        if not len(data):
            raise ValueError(f"the reference's column {name!r} has no finite number to bin")
        # Ties (tenure 0, 1, 72) repeat quantiles: keep each edge once.
        fine = np.unique(np.quantile(data, np.linspace(0, 1, test_bins + 1)[1:-1]))
        coarse = np.unique(np.quantile(data, np.linspace(0, 1, coarse_bins + 1)[1:-1]))
        counts = np.bincount(np.searchsorted(fine, data, side="right"), minlength=len(fine) + 1)
        # a fine bin belongs to the coarse bin holding its lower edge
        coarse_of_fine = np.searchsorted(coarse, np.concatenate([[-np.inf], fine]), side="right")
        bounds = np.concatenate([[data.min()], fine, [data.max()]])
        return cls(name, True, fine, (), counts.astype(float), coarse_of_fine,
                   (bounds[:-1] + bounds[1:]) / 2, float(data.std()) or 1.0)  # fmt: skip


def frame_columns(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, ColumnArray]:
    """The columns of ``frame`` named in ``names`` (those it has), as arrays.

    Without a Series around each: at 19 columns of 1000 rows, building the Series costs about as
    much as binning them. The array comes from pandas' own column accessor where the frame has
    one, and from the column's Series where it does not. A name the frame holds twice is an
    error: which of the two columns is the feature?
    """
    column_array = getattr(frame, "_get_column_array", None)
    if column_array is None or not frame.columns.is_unique:
        twice = set(frame.columns[frame.columns.duplicated()])
        repeated = sorted(name for name in names if name in twice)
        if repeated:
            raise ValueError(f"the frame has more than one column named {', '.join(repeated)}")
        return {name: frame[name].array for name in names if name in frame}
    # the names as a list: iterating pandas' text Index itself goes through its array element by
    # element (50 us at 22 columns)
    position = {column: at for at, column in enumerate(frame.columns.tolist())}
    return {name: column_array(position[name]) for name in names if name in position}


def tally_codes(codes: np.ndarray, width: int) -> np.ndarray:
    """Per row of ``codes`` (one feature's fine bins, -1 unseen, -2 absent): how many are
    absent, unseen, then in each of ``width`` bins, counted with one bincount for all rows (a
    bincount per feature costs more than the binning)."""
    slots = width + 2
    flat = codes + np.arange(2, len(codes) * slots, slots)[:, None]
    return np.bincount(flat.ravel(), minlength=len(codes) * slots).reshape(len(codes), slots)


def _is_quantity(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


class ReferenceProfile:
    """The binned reference, stacked into padded matrices (one row per feature)."""

    def __init__(self, features: Sequence[FeatureBins], rows: int):
        self.features = tuple(features)
        self.rows = rows
        self.names = tuple(spec.name for spec in self.features)
        self.index = {name: i for i, name in enumerate(self.names)}
        count, width = len(self.features), max(spec.size for spec in self.features)
        self.width = width
        self.reference = np.zeros((count, width))
        coarse_width = max(int(spec.coarse_of_fine.max()) + 1 for spec in self.features) + 1
        # each fine bin's coarse (PSI) bin; padding bins map to a last coarse column that stays
        # empty on both sides
        self.coarse_bin = np.full((count, width), coarse_width - 1, dtype=np.int64)
        for row, spec in enumerate(self.features):
            self.reference[row, : spec.size] = spec.reference_counts
            self.coarse_bin[row, : spec.size] = spec.coarse_of_fine
        self.coarse_width = coarse_width
        self.reference_coarse = self.coarse(self.reference)
        # the reference's side of PSI and Jensen-Shannon, the same for every window
        self.reference_coarse_share = shares(self.reference_coarse)
        self.reference_coarse_floored = np.maximum(self.reference_coarse_share, PSI_FLOOR)
        self.reference_cdf = np.cumsum(self.reference, axis=1) / self.reference.sum(axis=1)[:, None]
        self.numeric_rows = np.array([i for i, s in enumerate(self.features) if s.numeric],
                                     dtype=np.int64)  # fmt: skip
        self.numeric_reference_cdf = self.reference_cdf[self.numeric_rows]
        self.feature_rows = np.array([i for i, name in enumerate(self.names) if name != PREDICTION],
                                     dtype=int)  # fmt: skip
        # the numeric features' grids, binned together, by the set of them a window has
        self._numeric_grids: dict[tuple[int, ...], EdgeGrids] = {}
        self.text_rows = [i for i, spec in enumerate(self.features) if not spec.numeric]
        # every text feature's categories, looked up together
        self.category_codes = CategoryCodes([self.features[i].categories for i in self.text_rows])
        self.bin_widths = np.zeros((len(self.numeric_rows), width - 1))
        for k, row in enumerate(self.numeric_rows):
            spec = self.features[row]
            self.bin_widths[k, : spec.size - 1] = np.diff(spec.midpoints) / spec.spread
        self._groups: dict[tuple[int, float], tuple[np.ndarray, np.ndarray, int]] = {}

    @classmethod
    def fit(
        cls,
        reference: pd.DataFrame,
        bins: int = 10,
        features: Sequence[str] | None = None,
        test_bins: int = 100,
        prediction_column: str | None = None,
        numeric: Collection[str] | None = None,
    ) -> ReferenceProfile:
        """Bin ``features`` of the reference (default: every column but the prediction's).

        ``numeric`` names the quantities (binned by quantiles); the rest are categories. By
        default a column's dtype decides: numbers are numeric, anything else a category (a 0/1
        flag that is a group should be named categorical by a model contract).
        """
        chosen = [str(c) for c in (features if features is not None else reference.columns)
                  if c != prediction_column]  # fmt: skip
        if not chosen:
            raise ValueError("no feature to profile: the reference has none of the columns asked")
        missing = [name for name in chosen if name not in reference]
        if missing:
            raise ValueError(f"the reference has no column {', '.join(map(repr, missing))}")
        if numeric is None:
            numeric = [name for name in chosen if _is_quantity(reference[name])]
        fitted = [
            FeatureBins.fit(name, reference[name], name in numeric, bins, test_bins)
            for name in chosen
        ]
        if prediction_column is not None:
            fitted.append(
                FeatureBins.fit(PREDICTION, reference[prediction_column], True, bins, test_bins)
            )
        return cls(fitted, len(reference))

    def feature(self, name: str) -> FeatureBins:
        return self.features[self.index[name]]

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """Fine bin of every value, one column per feature; -1 for an unseen or missing category
        or a missing number, -2 for a feature the frame does not have."""
        return self.bins(frame_columns(frame, self.names), len(frame)).T

    def bins(self, columns: Columns, rows: int) -> np.ndarray:
        """Fine bin of ``rows`` values of each feature given column by column, one row per
        feature: -1 for an unseen or missing category or a missing number, -2 for a feature
        ``columns`` does not have."""
        given = self._given(columns, rows)
        codes = np.empty((len(self.features), rows), dtype=np.int64)
        codes[self.numeric_rows] = self._numeric_bins(given, rows)
        if self.text_rows:
            texts = [given.get(row) for row in self.text_rows]
            codes[self.text_rows] = self.category_codes.positions(texts, rows, MISSING_CODE)
        return codes

    def tally(self, columns: Columns, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Counts on the fine bins of ``rows`` values of each feature given column by column,
        and the count of values in no bin (unseen or missing categories, missing numbers): what
        :meth:`bins` gives, counted. The text columns' rows are counted by the text objects they
        repeat (``monitors.categories``)."""
        given = self._given(columns, rows)
        counts = np.zeros_like(self.reference)
        unseen = np.zeros(len(self.features), dtype=np.int64)
        counts[self.numeric_rows], unseen[self.numeric_rows] = self._numeric_counts(given, rows)
        if self.text_rows:
            texts = self.category_codes.tally([given.get(row) for row in self.text_rows], rows)
            counts[self.text_rows, : texts.shape[1] - 1] = texts[:, 1:]
            unseen[self.text_rows] = texts[:, 0]
        return counts, unseen

    def _given(self, columns: Columns, rows: int) -> dict[int, Sequence | ColumnArray | pd.Series]:
        """The features ``columns`` holds, by row; a column of another length is an error."""
        given = {row: columns[spec.name] for row, spec in enumerate(self.features)
                 if spec.name in columns}  # fmt: skip
        for row, values in given.items():
            if len(values) != rows:
                raise ValueError(f"column {self.names[row]} has {len(values)} values for {rows} "
                                 "rows")  # fmt: skip
        return given

    def _numeric_values(self, given: Mapping[int, Sequence | ColumnArray | pd.Series],
                        rows: int) -> tuple[tuple[int, ...], np.ndarray]:  # fmt: skip
        """The numeric features ``given`` holds (their places in ``numeric_rows``), and their
        values as numbers, a row each."""
        numeric_rows = self.numeric_rows.tolist()
        present = tuple(at for at, row in enumerate(numeric_rows) if row in given)
        values = np.empty((len(present), rows))
        for k, at in enumerate(present):
            values[k] = np.asarray(given[numeric_rows[at]], dtype=float)
        return present, values

    def _numeric_bins(self, given: Mapping[int, Sequence | ColumnArray | pd.Series],
                      rows: int) -> np.ndarray:  # fmt: skip
        codes = np.full((len(self.numeric_rows), rows), MISSING_CODE, dtype=np.int64)
        present, values = self._numeric_values(given, rows)
        if present:
            codes[list(present)] = np.where(np.isnan(values), NO_BIN,
                                            self._grids(present).bins(values))  # fmt: skip
        return codes

    def _numeric_counts(self, given: Mapping[int, Sequence | ColumnArray | pd.Series],
                        rows: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
        """Row per numeric feature: its values counted on its fine bins (zeros where absent),
        and how many of them are missing (NaN).

        No value needs a bin of its own here: each feature's values are sorted, and the edges
        are looked up among them (a search per edge, not per value). The values below an edge,
        less those below the edge before, are the bin between them. NaN sorts last: the search
        for it past the last edge finds where the numbers end."""
        present, values = self._numeric_values(given, rows)
        # per feature: none below the first bin, how many below each of its edges, then all
        # numbers (NaN left out)
        below = np.zeros((len(self.numeric_rows), self.width + 1), dtype=np.int64)
        missing = np.zeros(len(self.numeric_rows), dtype=np.int64)
        if present:
            values.sort(axis=1)
            for k, at in enumerate(present):
                edges = self.features[self.numeric_rows[at]].edges_and_nan
                found = values[k].searchsorted(edges, side="left")
                below[at, 1 : len(edges) + 1] = found
                below[at, len(edges) + 1 :] = found[-1]
                missing[at] = rows - found[-1]
        return np.diff(below, axis=1), missing

    def _grids(self, present: tuple[int, ...]) -> EdgeGrids:
        """The grids of the numeric features at ``present`` (of ``numeric_rows``), made once
        for each set of features a window has."""
        grids = self._numeric_grids.get(present)
        if grids is None:
            grids = EdgeGrids([self.features[self.numeric_rows[at]].grid for at in present])
            if len(self._numeric_grids) < 64:
                self._numeric_grids[present] = grids
        return grids

    def coarse(self, counts: np.ndarray) -> np.ndarray:
        """Counts on the fine bins (a row a feature) added up on the coarse bins."""
        flat = self.coarse_bin + np.arange(len(self.features))[:, None] * self.coarse_width
        coarse = np.bincount(flat.ravel(), weights=counts.ravel(),
                             minlength=len(self.features) * self.coarse_width)  # fmt: skip
        return coarse.reshape(len(self.features), self.coarse_width)

    def test_groups(self, window_rows: int, min_expected: float) -> tuple[np.ndarray, np.ndarray,
                                                                          int]:  # fmt: skip
        """The test group of every fine bin (a row a feature), the reference's counts on the
        groups, and the most groups a feature has.

        Groups are contiguous fine bins, each expecting at least ``min_expected`` of the window's
        rows. Cached per window size: windows of one size share the grouping.
        """
        key = (window_rows, min_expected)
        cached = self._groups.get(key)
        if cached is None:
            # groups of contiguous bins: never more than the bins, however large the window
            most = min(self.width, max(1, int(window_rows // min_expected)))
            need = min_expected / max(window_rows, 1)
            raw = np.zeros(self.reference.shape, dtype=int)
            for row, spec in enumerate(self.features):
                raw[row] = _greedy_groups(spec.reference_counts, need, self.width)
            flat = (raw + np.arange(len(self.features))[:, None] * most).ravel()
            reference = np.bincount(flat, weights=self.reference.ravel(),
                                    minlength=len(self.features) * most)  # fmt: skip
            cached = (raw, reference.reshape(len(self.features), most), most)
            if len(self._groups) < 256:
                self._groups[key] = cached
        return cached


def _greedy_groups(counts: np.ndarray, need: float, width: int) -> np.ndarray:
    """Contiguous groups of bins, each holding at least a share ``need`` of the reference.

    A remainder smaller than ``need`` joins the last full group; padding bins join it too.
    """
    shares = counts / counts.sum()
    groups = np.zeros(width, dtype=int)
    group, held = 0, 0.0
    for index, share in enumerate(shares):
        groups[index] = group
        held += share
        if held >= need and index < len(shares) - 1:
            group, held = group + 1, 0.0
    if held < need and group > 0:
        groups[groups == group] = group - 1
        group -= 1
    groups[len(shares) :] = group
    return groups


@dataclass(frozen=True)
class DriftCheck:
    """Statistics of every feature of one window, as arrays in the profile's feature order."""

    names: tuple[str, ...]
    rows: np.ndarray
    psi: np.ndarray
    js: np.ndarray
    statistic: np.ndarray
    p_value: np.ndarray
    significant: np.ndarray
    severity: np.ndarray  # codes into SEVERITIES
    ks: np.ndarray  # nan for categoricals
    wasserstein: np.ndarray  # nan for categoricals

    def feature_drifts(self, importance_share: Mapping[str, float] | None = None
                       ) -> tuple[FeatureDrift, ...]:  # fmt: skip
        """One message part per feature that had rows in the window."""
        shares = importance_share or {}
        drifts = []
        for i, name in enumerate(self.names):
            if self.rows[i] == 0:
                continue
            share = float(shares.get(name, 0.0))
            drifts.append(
                FeatureDrift.model_construct(
                    feature=name,
                    psi=float(self.psi[i]),
                    statistic=float(self.statistic[i]),
                    p_value=float(self.p_value[i]),
                    significant=bool(self.significant[i]),
                    severity=SEVERITIES[int(self.severity[i])],
                    importance_share=share,
                    js_distance=float(self.js[i]),
                    ks_statistic=None if np.isnan(self.ks[i]) else float(self.ks[i]),
                    wasserstein=None if np.isnan(self.wasserstein[i])
                    else float(self.wasserstein[i]),
                    impact=float(self.psi[i]) * share,
                    confirmed=None,
                )
            )  # fmt: skip
        return tuple(drifts)


@dataclass
class DriftWindow:
    """Counts of one window on the reference's fine bins; values in no bin (unseen or missing
    categories, missing numbers) counted apart."""

    profile: ReferenceProfile
    rows: int = 0
    # None: empty (zeros of the profile's shape)
    counts: np.ndarray = None  # type: ignore[assignment]
    unseen: np.ndarray = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.counts is None:
            self.counts = np.zeros_like(self.profile.reference)
        if self.unseen is None:
            self.unseen = np.zeros(len(self.profile.features), dtype=np.int64)

    def count_of(self, name: str) -> np.ndarray:
        return self.counts[self.profile.index[name], : self.profile.feature(name).size]

    def update(self, values: Mapping[str, float | str | None]) -> DriftWindow:
        """Add one row (a mapping of feature name to value)."""
        self.rows += 1
        for row, spec in enumerate(self.profile.features):
            if spec.name not in values:
                continue
            index = spec.bin_of(values[spec.name])
            if index == NO_BIN:
                self.unseen[row] += 1  # data quality, not drift
            else:
                self.counts[row, index] += 1
        return self

    def update_frame(self, frame: pd.DataFrame) -> DriftWindow:
        """Add every row of ``frame``; columns not monitored are ignored."""
        return self.update_columns(frame_columns(frame, self.profile.names), len(frame))

    def update_columns(self, columns: Columns, rows: int) -> DriftWindow:
        """Add ``rows`` rows given column by column (feature name to its values, in the same
        row order); columns not monitored are ignored."""
        counts, unseen = self.profile.tally(columns, rows)
        self.rows += rows
        self.counts += counts
        self.unseen += unseen
        return self

    def update_codes(self, codes: np.ndarray) -> DriftWindow:
        """Add rows already encoded by :meth:`ReferenceProfile.encode` (one bincount in all)."""
        tally = tally_codes(codes.T, self.counts.shape[1])
        self.rows += codes.shape[0]
        self.counts += tally[:, 2:]
        self.unseen += tally[:, 1].astype(np.int64)
        return self

    def merge(self, other: DriftWindow) -> DriftWindow:
        if other.profile is not self.profile:
            raise ValueError("cannot merge windows binned on different references")
        return DriftWindow(
            self.profile, self.rows + other.rows, self.counts + other.counts,
            self.unseen + other.unseen,
        )  # fmt: skip

    def check(self, policy: DriftPolicy) -> DriftCheck:
        """Every statistic of every feature, in one compiled loop (the p-values from scipy)."""
        profile = self.profile
        rows = self.counts.sum(axis=1)
        n = int(rows.max()) if len(rows) else 0
        test_group, reference_groups, _ = profile.test_groups(n, policy.min_expected)
        statistic, freedom, psi_values, js, ks, wasserstein = window_statistics(
            np.ascontiguousarray(self.counts, dtype=float), test_group, reference_groups,
            profile.coarse_bin, profile.reference_coarse_share, profile.reference_coarse_floored,
            PSI_FLOOR, profile.numeric_rows, profile.numeric_reference_cdf, profile.bin_widths,
        )  # fmt: skip
        p_value = chi_square_p_values(statistic, freedom, rows)
        tested = int(np.count_nonzero(rows[profile.feature_rows]))  # the prediction is not tested
        alpha = policy.family_alpha / max(1, tested)
        significant = (rows >= policy.min_window_rows) & (p_value < alpha)
        return DriftCheck(
            names=profile.names, rows=rows, psi=psi_values, js=js, statistic=statistic,
            p_value=p_value, significant=significant,
            severity=_severity_codes(psi_values, significant, policy), ks=ks,
            wasserstein=wasserstein,
        )  # fmt: skip

    def result(
        self, policy: DriftPolicy, importance_share: Mapping[str, float] | None = None
    ) -> tuple[FeatureDrift, ...]:
        """Drift of every feature seen in the window (the prediction included, if profiled)."""
        return self.check(policy).feature_drifts(importance_share)

    def unseen_by_feature(self) -> dict[str, int]:
        """Categories the reference never had (missing ones among them), by categorical
        feature."""
        return self._in_no_bin(numeric=False)

    def missing_by_feature(self) -> dict[str, int]:
        """Missing numbers (NaN), by numeric feature."""
        return self._in_no_bin(numeric=True)

    def _in_no_bin(self, numeric: bool) -> dict[str, int]:
        return {spec.name: count
                for spec, count in zip(self.profile.features, self.unseen.tolist(), strict=True)
                if count and spec.numeric == numeric}  # fmt: skip
