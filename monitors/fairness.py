"""Recall per group of each sensitive attribute and the gap between groups (pure)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from scipy.stats import norm

from shared.schemas import GroupRecall, RecallGap


@dataclass
class GroupRecallWindow:
    """True positives and positives per (attribute, group).

    A group joins the comparison only with ``min_group_positives`` labelled positives: a recall over
    a handful of churners is noise, and a gap built on it would be a false accusation.

    Examples
    --------
    >>> w = GroupRecallWindow(("gender",))
    >>> for g, y, p in [("F", 1, 1), ("F", 1, 1), ("M", 1, 0), ("M", 1, 1)]:
    ...     _ = w.update({"gender": g}, y, p)
    >>> groups, gaps = w.result(min_group_positives=2, confidence=0.95)
    >>> gaps[0].gap, gaps[0].worst_group
    (0.5, 'M')
    """

    attributes: tuple[str, ...]
    positives: Counter = field(default_factory=Counter)
    true_positives: Counter = field(default_factory=Counter)
    rows: int = 0

    def update(self, values: Mapping[str, object], y_true: int | None, y_pred: int):
        self.rows += 1
        if y_true != 1:
            return self  # recall only looks at actual churners
        for attribute in self.attributes:
            key = (attribute, str(values[attribute]))
            self.positives[key] += 1
            self.true_positives[key] += y_pred
        return self

    def merge(self, other: GroupRecallWindow) -> GroupRecallWindow:
        if other.attributes != self.attributes:
            raise ValueError("cannot merge windows over different attributes")
        return GroupRecallWindow(
            self.attributes,
            self.positives + other.positives,
            self.true_positives + other.true_positives,
            self.rows + other.rows,
        )

    def result(
        self, min_group_positives: int, confidence: float
    ) -> tuple[tuple[GroupRecall, ...], tuple[RecallGap, ...]]:
        groups = []
        for (attribute, group), positives in sorted(self.positives.items()):
            groups.append(
                GroupRecall(
                    attribute=attribute,
                    group=group,
                    positives=positives,
                    recall=self.true_positives[(attribute, group)] / positives,
                    eligible=positives >= min_group_positives,
                )
            )
        gaps = []
        for attribute in self.attributes:
            eligible = [g for g in groups if g.attribute == attribute and g.eligible]
            if len(eligible) < 2:
                gaps.append(
                    RecallGap(attribute=attribute, gap=None, best_group=None, worst_group=None)
                )
                continue
            best = max(eligible, key=lambda g: g.recall or 0.0)
            worst = min(eligible, key=lambda g: g.recall or 0.0)
            gap = (best.recall or 0.0) - (worst.recall or 0.0)
            margin = gap_margin(best, worst, confidence)
            gaps.append(
                RecallGap(
                    attribute=attribute,
                    gap=gap,
                    gap_low=gap - margin,
                    gap_high=gap + margin,
                    best_group=best.group,
                    worst_group=worst.group,
                )
            )
        return tuple(groups), tuple(gaps)


def gap_margin(best: GroupRecall, worst: GroupRecall, confidence: float) -> float:
    """Half-width of the normal-approximation interval of a difference of two recalls.

    Each recall's variance uses p(1-p)/n with p shrunk by one success and one failure (Agresti-
    Caffo), so a recall of exactly 0 or 1 on a small group still gets a real interval.
    """
    z = float(norm.ppf(0.5 + confidence / 2))
    variance = 0.0
    for group in (best, worst):
        tp = (group.recall or 0.0) * group.positives
        shrunk = (tp + 1) / (group.positives + 2)
        variance += shrunk * (1 - shrunk) / (group.positives + 2)
    return z * variance**0.5
