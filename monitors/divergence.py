"""Divergences and the homogeneity test between counts on the same bins.

Each statistic is written once, for one row of counts, as a compiled loop (``monitors.compiled``):
the window's check (:func:`window_statistics`, every feature of a window in one call) and the
functions for one pair of count vectors (``psi``, ``js_distance``, ``chi_square``) call the same
loop.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import chdtrc

from monitors.compiled import compiled

# Empty bins would make PSI infinite; a fraction of 1e-4 is the usual floor.
PSI_FLOOR = 1e-4


def shares(counts: np.ndarray) -> np.ndarray:
    """Each row's counts as shares of its total (an empty row stays zero)."""
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


def psi(expected_counts: np.ndarray, actual_counts: np.ndarray) -> float:
    """Population stability index of ``actual`` against ``expected`` on the same bins.

    By hand: (0.4 - 0.5) ln(0.4 / 0.5) + (0.6 - 0.5) ln(0.6 / 0.5) = 0.022314 + 0.018232.

    >>> round(psi(np.array([50, 50]), np.array([40, 60])), 5)
    0.04055
    """
    expected, actual = _pair_shares(expected_counts, actual_counts)
    return float(_psi(np.maximum(expected, PSI_FLOOR), actual, PSI_FLOOR))


def js_distance(expected_counts: np.ndarray, actual_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two count vectors."""
    return float(_js_distance(*_pair_shares(expected_counts, actual_counts)))


def chi_square(reference_counts: np.ndarray, window_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square test of homogeneity between two count vectors: (statistic, p-value)."""
    reference = np.asarray(reference_counts, dtype=float)
    window = np.asarray(window_counts, dtype=float)
    statistic, freedom = _chi_square(reference, window)
    p_value = chi_square_p_values(np.array([statistic]), np.array([freedom]),
                                  np.array([window.sum()]))  # fmt: skip
    return float(statistic), float(p_value[0])


def chi_square_p_values(statistic: np.ndarray, freedom: np.ndarray,
                        window_rows: np.ndarray) -> np.ndarray:  # fmt: skip
    """The p-value of each chi-square statistic; 1 where there is nothing to test (one
    non-empty cell, or an empty window)."""
    tested = (freedom >= 1) & (window_rows > 0)
    return np.where(tested, chdtrc(np.maximum(freedom, 1), statistic), 1.0)


def _pair_shares(expected_counts: np.ndarray,
                 actual_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    pair = np.vstack([np.asarray(expected_counts, dtype=float),
                      np.asarray(actual_counts, dtype=float)])  # fmt: skip
    expected, actual = shares(pair)
    return expected, actual


@compiled
def _psi(expected_floored: np.ndarray, actual: np.ndarray, floor: float) -> float:
    """PSI between two rows of shares, the expected ones already floored."""
    total = 0.0
    for b in range(actual.shape[0]):
        share = max(actual[b], floor)
        total += (share - expected_floored[b]) * math.log(share / expected_floored[b])
    return total


@compiled
def _js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2) between two rows of shares."""
    total = 0.0
    for b in range(p.shape[0]):
        middle = (p[b] + q[b]) / 2
        # x ln(x / m), and nothing for an empty bin
        if p[b] > 0:
            total += p[b] * math.log(p[b] / middle)
        if q[b] > 0:
            total += q[b] * math.log(q[b] / middle)
    return math.sqrt(max(0.0, total / (2 * math.log(2.0))))


@compiled
def _chi_square(reference: np.ndarray, window: np.ndarray) -> tuple[float, int]:
    """The chi-square statistic of homogeneity of two rows of counts, and its degrees of
    freedom (the non-empty cells less one)."""
    n_reference = reference.sum()
    share = n_reference / max(n_reference + window.sum(), 1.0)  # the reference's, every cell
    # A cell's (observed - expected)^2 / expected over both samples, in one term: the reference
    # is off its expected count by d = ref (1 - share) - win share and the window by -d, so the
    # cell adds d^2 / (total share (1 - share)). An empty cell adds nothing.
    off = 0.0
    cells = 0
    for b in range(reference.shape[0]):
        total = reference[b] + window[b]
        if total > 0:
            away = reference[b] * (1 - share) - window[b] * share
            off += away * away / total
            cells += 1
    return off / max(share * (1 - share), 1e-300), cells - 1


@compiled
def _ks_and_wasserstein(reference_cdf: np.ndarray, counts: np.ndarray,
                        widths: np.ndarray) -> tuple[float, float]:  # fmt: skip
    """The largest gap between the reference's and the window's distribution functions on the
    bins (KS), and the area between them, each bin's gap times its width (Wasserstein)."""
    scale = 1.0 / max(counts.sum(), 1.0)
    below = 0.0
    largest = 0.0
    area = 0.0
    for b in range(counts.shape[0]):
        below += counts[b]
        gap = abs(reference_cdf[b] - below * scale)
        largest = max(largest, gap)
        if b < widths.shape[0]:
            area += gap * widths[b]
    return largest, area


@compiled
def window_statistics(
    counts: np.ndarray,
    test_group: np.ndarray,
    reference_groups: np.ndarray,
    coarse_bin: np.ndarray,
    reference_shares: np.ndarray,
    reference_floored: np.ndarray,
    floor: float,
    numeric_rows: np.ndarray,
    reference_cdf: np.ndarray,
    bin_widths: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every statistic of every feature of a window, from its counts on the fine bins (a row a
    feature): the chi-square statistic and its degrees of freedom on the test groups
    (``test_group`` is each fine bin's, ``reference_groups`` the reference's counts on them),
    PSI and Jensen-Shannon distance on the coarse bins (``coarse_bin``: each fine bin's, and the
    reference's shares on them, floored for PSI), and for the ``numeric_rows`` the KS statistic
    and Wasserstein distance (``reference_cdf`` and ``bin_widths``: one row each per numeric
    row); the others' are NaN."""
    features, width = counts.shape
    statistic = np.zeros(features)
    freedom = np.zeros(features, dtype=np.int64)
    psi_values = np.zeros(features)
    js = np.zeros(features)
    ks = np.full(features, np.nan)
    wasserstein = np.full(features, np.nan)
    groups = np.zeros(reference_groups.shape[1])
    coarse = np.zeros(reference_shares.shape[1])
    for f in range(features):
        groups[:] = 0.0
        coarse[:] = 0.0
        for b in range(width):
            groups[test_group[f, b]] += counts[f, b]
            coarse[coarse_bin[f, b]] += counts[f, b]
        statistic[f], freedom[f] = _chi_square(reference_groups[f], groups)
        coarse /= max(coarse.sum(), 1.0)
        psi_values[f] = _psi(reference_floored[f], coarse, floor)
        js[f] = _js_distance(reference_shares[f], coarse)
    for k in range(numeric_rows.shape[0]):
        f = numeric_rows[k]
        ks[f], wasserstein[f] = _ks_and_wasserstein(reference_cdf[k], counts[f], bin_widths[k])
    return statistic, freedom, psi_values, js, ks, wasserstein
