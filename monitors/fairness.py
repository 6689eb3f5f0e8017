"""Per-group classification metrics of each sensitive attribute and the gaps between groups."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from shared.schemas import GroupRecall, RecallGap
from shared.stats import difference_interval, z_score


@dataclass(frozen=True, slots=True)
class GroupStats:
    """Metrics of one group (a light twin of the ``GroupRecall`` message, for the hot path)."""

    attribute: str
    group: str
    positives: int
    negatives: int
    true_positives: int
    recall: float | None
    false_positive_rate: float | None
    precision: float | None
    selection_rate: float | None
    eligible: bool

    def message(self) -> GroupRecall:
        return GroupRecall(**{name: getattr(self, name) for name in self.__slots__})


@dataclass(frozen=True, slots=True)
class GapStats:
    """Recall gap of one attribute (a light twin of the ``RecallGap`` message)."""

    attribute: str
    gap: float | None = None
    gap_low: float | None = None
    gap_high: float | None = None
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None
    best_group: str | None = None
    worst_group: str | None = None
    best_recall: float | None = None
    worst_recall: float | None = None
    best_positives: int = 0
    worst_positives: int = 0
    windows: int = 1

    def message(self) -> RecallGap:
        return RecallGap(**{name: getattr(self, name) for name in self.__slots__})


# confusion cell of (y_true, y_pred)
_CELL = {(1, 1): 0, (1, 0): 1, (0, 1): 2, (0, 0): 3}  # tp, fn, fp, tn


@dataclass
class GroupWindow:
    """Confusion counts per (attribute, group): enough for recall, FPR, precision, selection.

    A group joins the comparison only with ``min_positives`` churners and ``min_negatives``
    stayers: a recall over a handful of churners is noise, and a gap built on it would be a
    false accusation.

    Examples
    --------
    >>> w = GroupWindow(("gender",))
    >>> for g, y, p in [("F", 1, 1), ("F", 1, 1), ("M", 1, 0), ("M", 1, 1), ("F", 0, 0)]:
    ...     _ = w.update({"gender": g}, y, p)
    >>> groups, gaps = w.result(min_positives=2, min_negatives=0, confidence=0.95)
    >>> gaps[0].gap, gaps[0].worst_group
    (0.5, 'M')
    """

    attributes: tuple[str, ...]
    cells: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    rows: int = 0

    def update(self, values: Mapping[str, object], y_true: int | None, y_pred: int):
        self.rows += 1
        if y_true is None:
            return self
        cell = _CELL[(int(y_true), int(y_pred))]
        for attribute in self.attributes:
            key = (attribute, str(values[attribute]))
            counts = self.cells.get(key)
            if counts is None:
                counts = self.cells[key] = [0, 0, 0, 0]
            counts[cell] += 1
        return self

    def merge(self, other: GroupWindow) -> GroupWindow:
        if other.attributes != self.attributes:
            raise ValueError("cannot merge windows over different attributes")
        cells = {key: list(value) for key, value in self.cells.items()}
        for key, value in other.cells.items():
            mine = cells.setdefault(key, [0, 0, 0, 0])
            for i in range(4):
                mine[i] += value[i]
        return GroupWindow(self.attributes, cells, self.rows + other.rows)

    def result(
        self, min_positives: int, min_negatives: int, confidence: float,
        interval: str = "newcombe",
    ) -> tuple[tuple[GroupStats, ...], tuple[GapStats, ...]]:  # fmt: skip
        groups = tuple(
            _group(attribute, group, counts, min_positives, min_negatives)
            for (attribute, group), counts in sorted(self.cells.items())
        )
        gaps = tuple(
            _gap(
                attribute,
                [g for g in groups if g.attribute == attribute and g.eligible],
                confidence,
                interval,
            )  # fmt: skip
            for attribute in self.attributes
        )
        return groups, gaps


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _group(attribute: str, group: str, counts: list[int], min_positives: int,
           min_negatives: int) -> GroupStats:  # fmt: skip
    tp, fn, fp, tn = counts
    positives, negatives = tp + fn, fp + tn
    return GroupStats(
        attribute=attribute,
        group=group,
        positives=positives,
        negatives=negatives,
        true_positives=tp,
        recall=_ratio(tp, positives),
        false_positive_rate=_ratio(fp, negatives),
        precision=_ratio(tp, tp + fp),
        selection_rate=_ratio(tp + fp, positives + negatives),
        eligible=positives >= min_positives and negatives >= min_negatives,
    )


def gap_interval(best: GroupStats | GroupRecall, worst: GroupStats | GroupRecall,
                 confidence: float, interval: str = "newcombe") -> tuple[float, float]:  # fmt: skip
    """Confidence interval of the gap between two groups' recalls (best minus worst): a standard
    interval for a difference of two proportions (``shared.stats.difference_interval``), as the
    policy's ``fairness.gap_interval`` names it."""
    return difference_interval(best.true_positives, best.positives, worst.true_positives,
                               worst.positives, confidence, interval)  # fmt: skip


def _gap(attribute: str, eligible: list[GroupStats], confidence: float,
         interval: str) -> GapStats:  # fmt: skip
    if len(eligible) < 2:
        return GapStats(attribute)
    best = max(eligible, key=lambda g: g.recall or 0.0)
    worst = min(eligible, key=lambda g: g.recall or 0.0)
    gap = (best.recall or 0.0) - (worst.recall or 0.0)
    gap_low, gap_high = gap_interval(best, worst, confidence, interval)
    z = z_score(confidence)
    # ratio worst / best with a Katz log interval, shrunk the same way as the gap
    p_worst = (worst.true_positives + 0.5) / (worst.positives + 1)
    p_best = (best.true_positives + 0.5) / (best.positives + 1)
    log_se = math.sqrt(
        (1 - p_worst) / (p_worst * (worst.positives + 1))
        + (1 - p_best) / (p_best * (best.positives + 1))
    )
    log_ratio = math.log(p_worst / p_best)
    return GapStats(
        attribute=attribute,
        gap=gap,
        gap_low=gap_low,
        gap_high=gap_high,
        ratio=(worst.recall or 0.0) / best.recall if best.recall else None,
        ratio_low=math.exp(log_ratio - z * log_se),
        ratio_high=math.exp(log_ratio + z * log_se),
        best_group=best.group,
        worst_group=worst.group,
        best_recall=best.recall,
        worst_recall=worst.recall,
        best_positives=best.positives,
        worst_positives=worst.positives,
    )


def _growing(
    latest_first: Sequence[GroupWindow], attributes: tuple[str, ...], min_positives: int,
    min_negatives: int, confidence: float, interval: str,
) -> Iterator[list[tuple[GapStats, bool]]]:  # fmt: skip
    """For k = 1, 2, ... of ``latest_first``: the gaps over the latest k windows, each with
    whether every group of its attribute is large enough to compare (at least two of them)."""
    merged = GroupWindow(attributes)
    for count, window in enumerate(latest_first, start=1):
        merged = merged.merge(window)
        groups, gaps = merged.result(min_positives, min_negatives, confidence, interval)
        judged = []
        for gap in gaps:
            own = [g for g in groups if g.attribute == gap.attribute]
            ready = len(own) >= 2 and all(g.eligible for g in own)
            judged.append((replace(gap, windows=count), ready))
        yield judged


def pooled_gaps(
    latest_first: Sequence[GroupWindow], attributes: tuple[str, ...], min_positives: int,
    min_negatives: int, confidence: float, interval: str = "newcombe",
) -> tuple[GapStats, ...]:  # fmt: skip
    """Per attribute, its gap over the fewest latest windows (``latest_first``) in which every
    one of its groups is large enough to compare, at least two of them; over all of them when
    none is. A window too small for a group alone pools with the windows before it only until
    the group is large enough, so a recent change is not diluted by older windows.

    Examples
    --------
    >>> def window(rows):
    ...     w = GroupWindow(("gender",))
    ...     for g, y, p in rows:
    ...         _ = w.update({"gender": g}, y, p)
    ...     return w
    >>> now = window([("F", 1, 0), ("M", 1, 1)] * 2)
    >>> before = window([("F", 1, 1), ("M", 1, 1)] * 2)
    >>> gap, = pooled_gaps([now, before, before], ("gender",), 2, 0, 0.95)
    >>> gap.windows, gap.gap
    (1, 1.0)
    >>> gap, = pooled_gaps([window([("F", 1, 0), ("M", 1, 1)])] + [before] * 2, ("gender",),
    ...                    2, 0, 0.95)
    >>> gap.windows, round(gap.gap, 2)
    (2, 0.33)
    """
    return recent_gaps(latest_first, attributes, min_positives, min_negatives, confidence,
                       interval)[0]  # fmt: skip


def strongest_gaps(
    latest_first: Sequence[GroupWindow], attributes: tuple[str, ...], min_positives: int,
    min_negatives: int, confidence: float, interval: str = "newcombe",
) -> tuple[GapStats, ...]:  # fmt: skip
    """Per attribute, its gap over the latest k windows (k up to all of ``latest_first``) whose
    interval lies highest, among the k in which its groups are large enough to compare; over
    all of them when none is.

    A gap that began a few windows ago shows best over those windows alone: one window holds
    too few positives to bound it tightly, and the whole span dilutes it with the windows from
    before it began. The span's own gap (a small persistent one) is the case k = all.

    Examples
    --------
    >>> def window(rows):
    ...     w = GroupWindow(("gender",))
    ...     for g, y, p in rows:
    ...         _ = w.update({"gender": g}, y, p)
    ...     return w
    >>> now = window([("F", 1, 0), ("F", 1, 1), ("M", 1, 1), ("M", 1, 1)] * 10)
    >>> before = window([("F", 1, 1), ("M", 1, 1)] * 20)
    >>> gap, = strongest_gaps([now, now, before, before], ("gender",), 10, 0, 0.95)
    >>> gap.windows, gap.gap
    (2, 0.5)
    """
    return recent_gaps(latest_first, attributes, min_positives, min_negatives, confidence,
                       interval)[1]  # fmt: skip


def recent_gaps(
    latest_first: Sequence[GroupWindow], attributes: tuple[str, ...], min_positives: int,
    min_negatives: int, confidence: float, interval: str = "newcombe",
) -> tuple[tuple[GapStats, ...], tuple[GapStats, ...]]:  # fmt: skip
    """:func:`pooled_gaps` and :func:`strongest_gaps` at once, from one pass over the windows."""
    pooled: dict[str, GapStats] = {}
    strongest: dict[str, GapStats] = {}
    whole: dict[str, GapStats] = {}
    limits = (min_positives, min_negatives, confidence, interval)
    for judged in _growing(latest_first, attributes, *limits):
        for gap, ready in judged:
            whole[gap.attribute] = gap
            if not ready:
                continue
            pooled.setdefault(gap.attribute, gap)
            held = strongest.get(gap.attribute)
            if gap.gap_low is not None and (held is None or gap.gap_low > _low(held)):
                strongest[gap.attribute] = gap
    # an attribute whose groups are never large enough: over all of the windows
    pooled, strongest = whole | pooled, whole | strongest
    return (tuple(pooled[a] for a in attributes if a in pooled),
            tuple(strongest[a] for a in attributes if a in strongest))  # fmt: skip


def _low(gap: GapStats) -> float:
    return -math.inf if gap.gap_low is None else gap.gap_low
