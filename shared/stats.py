"""Small statistics every service uses (pure)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.stats import norm


@lru_cache(maxsize=16)
def z_score(confidence: float) -> float:
    """The two-sided normal quantile of ``confidence`` (cached: scipy's ppf costs tens of
    microseconds, and a window asks for the same few levels again and again)."""
    return float(norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a proportion.

    Examples
    --------
    >>> low, high = wilson_interval(8, 10, 0.95)
    >>> round(low, 3), round(high, 3)
    (0.49, 0.943)
    """
    if trials == 0:
        return 0.0, 1.0
    z = z_score(confidence)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


GAP_INTERVALS = ("newcombe", "agresti-caffo")


def difference_interval(
    successes1: int, trials1: int, successes2: int, trials2: int, confidence: float,
    method: str = "newcombe",
) -> tuple[float, float]:  # fmt: skip
    """Confidence interval of ``p1 - p2`` for two independent proportions, as statsmodels'
    ``confint_proportions_2indep(..., compare="diff")`` computes it.

    ``newcombe``: Newcombe's hybrid score interval, from the Wilson interval of each proportion
    (it stays within [-1, 1] and keeps its coverage near 0 and 1). ``agresti-caffo``: one success
    and one failure added to each group, a Wald interval around the shrunk difference.

    Examples
    --------
    >>> [round(v, 3) for v in difference_interval(28, 30, 15, 30, 0.95)]
    [0.21, 0.609]
    >>> [round(v, 3) for v in difference_interval(28, 30, 15, 30, 0.95, "agresti-caffo")]
    [0.206, 0.607]
    """
    z = z_score(confidence)
    if method == "newcombe":
        p1, p2 = successes1 / trials1, successes2 / trials2
        low1, high1 = wilson_interval(successes1, trials1, confidence)
        low2, high2 = wilson_interval(successes2, trials2, confidence)
        difference = p1 - p2
        return (
            float(difference - np.sqrt((p1 - low1) ** 2 + (high2 - p2) ** 2)),
            float(difference + np.sqrt((high1 - p1) ** 2 + (p2 - low2) ** 2)),
        )
    if method == "agresti-caffo":
        p1, p2 = (successes1 + 1) / (trials1 + 2), (successes2 + 1) / (trials2 + 2)
        half = z * np.sqrt(p1 * (1 - p1) / (trials1 + 2) + p2 * (1 - p2) / (trials2 + 2))
        return float(p1 - p2 - half), float(p1 - p2 + half)
    raise ValueError(f"unknown interval {method!r}: one of {', '.join(GAP_INTERVALS)}")
