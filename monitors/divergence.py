"""Divergences and the homogeneity test between rows of counts on the same bins (pure numpy).

Each ``*_rows`` function takes one row per feature and answers for every row in a few vectorised
steps; ``psi``, ``js_distance`` and ``chi_square`` answer for one pair of count vectors.
"""

from __future__ import annotations

import numpy as np
from scipy.special import chdtrc, rel_entr

# Empty bins would make PSI infinite; a fraction of 1e-4 is the usual floor.
PSI_FLOOR = 1e-4


def psi(expected_counts: np.ndarray, actual_counts: np.ndarray) -> float:
    """Population stability index of ``actual`` against ``expected`` on the same bins.

    By hand: (0.4 - 0.5) ln(0.4 / 0.5) + (0.6 - 0.5) ln(0.6 / 0.5) = 0.022314 + 0.018232.

    >>> round(psi(np.array([50, 50]), np.array([40, 60])), 5)
    0.04055
    """
    return float(psi_rows(np.atleast_2d(expected_counts), np.atleast_2d(actual_counts))[0])


def psi_rows(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    return psi_of_shares(np.maximum(shares(expected), PSI_FLOOR), shares(actual))


def shares(counts: np.ndarray) -> np.ndarray:
    """Each row's counts as shares of its total (an empty row stays zero)."""
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


def psi_of_shares(expected_floored: np.ndarray, actual: np.ndarray) -> np.ndarray:
    actual = np.maximum(actual, PSI_FLOOR)
    return np.sum((actual - expected_floored) * np.log(actual / expected_floored), axis=1)


def js_rows(expected: np.ndarray, actual: np.ndarray) -> np.ndarray:
    return js_of_shares(shares(expected), shares(actual))


def js_of_shares(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    m = (p + q) / 2
    # rel_entr is x ln(x / y), and 0 where x is 0: an empty bin adds nothing
    divergence = (rel_entr(p, m) + rel_entr(q, m)).sum(axis=1) / (2 * np.log(2))
    return np.sqrt(np.maximum(0.0, divergence))


def js_distance(expected_counts: np.ndarray, actual_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two count vectors."""
    return float(js_rows(np.atleast_2d(expected_counts), np.atleast_2d(actual_counts))[0])


def chi_square_rows(reference: np.ndarray, window: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    total = reference + window
    n_ref = reference.sum(axis=1, keepdims=True)
    n_win = window.sum(axis=1, keepdims=True)
    share = n_ref / np.maximum(n_ref + n_win, 1)  # the reference's share of every cell, expected
    # A cell's (observed - expected)^2 / expected over both samples, in one term: the reference
    # is off its expected count by d = ref (1 - share) - win share and the window by -d, so the
    # cell adds d^2 / (total share (1 - share)). An empty cell adds nothing.
    off = np.square(reference * (1 - share) - window * share) / np.where(total > 0, total, 1)
    statistic = off.sum(axis=1) / np.maximum(share * (1 - share), 1e-300)[:, 0]
    freedom = (total > 0).sum(axis=1) - 1
    p_value = np.where(
        (freedom >= 1) & (n_win[:, 0] > 0), chdtrc(np.maximum(freedom, 1), statistic), 1.0
    )
    return statistic, p_value


def chi_square(reference_counts: np.ndarray, window_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square test of homogeneity between two count vectors: (statistic, p-value)."""
    statistic, p_value = chi_square_rows(
        np.atleast_2d(reference_counts).astype(float), np.atleast_2d(window_counts).astype(float)
    )
    return float(statistic[0]), float(p_value[0])
