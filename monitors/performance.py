"""Classification performance of one window, mergeable across partitions (pure)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm, rankdata

from monitors.sketch import ScoreSketch, roc_auc_error_bound, sketch_roc_auc
from shared.stats import wilson_interval

# Items a class's score sketch keeps per level (the policy's performance.sketch_k is what the
# services use): the ROC-AUC is exact up to this many scores a class and within 0.001 beyond.
DEFAULT_SKETCH_K = 6000


def roc_auc(y_true: np.ndarray, y_score: np.ndarray) -> float | None:
    """Area under the ROC curve by the rank-sum (Mann-Whitney) identity; None with one class.

    Examples
    --------
    >>> roc_auc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.75
    """
    positives = int(y_true.sum())
    negatives = len(y_true) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(y_score)  # ties share the average rank, as the ROC curve's diagonal steps do
    rank_sum = float(ranks[y_true == 1].sum())
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def auc_interval(
    auc: float, positives: int, negatives: int, confidence: float
) -> tuple[float, float]:
    """Normal interval of ROC-AUC with the Hanley-McNeil (1982) standard error."""
    q1 = auc / (2 - auc)
    q2 = 2 * auc * auc / (1 + auc)
    variance = (
        auc * (1 - auc) + (positives - 1) * (q1 - auc * auc) + (negatives - 1) * (q2 - auc * auc)
    ) / (positives * negatives)
    z = float(norm.ppf(0.5 + confidence / 2))
    half = z * float(np.sqrt(max(variance, 0.0)))
    return max(0.0, auc - half), min(1.0, auc + half)


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass(frozen=True)
class PerformanceResult:
    """Metrics of one window; ``None`` where a metric is undefined (no labels, one class)."""

    rows: int
    labelled: int
    precision: float | None
    recall: float | None
    f1: float | None
    roc_auc: float | None
    accuracy: float | None
    positive_rate: float | None
    label_rate: float | None
    brier: float | None = None
    label_coverage: float | None = None
    roc_auc_error: float | None = None
    # confidence intervals, by the names a signal carries them under
    recall_low: float | None = None
    recall_high: float | None = None
    roc_auc_low: float | None = None
    roc_auc_high: float | None = None
    label_rate_low: float | None = None
    label_rate_high: float | None = None
    positive_rate_low: float | None = None
    positive_rate_high: float | None = None


@dataclass
class PerformanceWindow:
    """Confusion counts, the squared-error sum, and the labelled scores of each class as
    :class:`~monitors.sketch.ScoreSketch` (bounded; ROC-AUC exact up to ``k`` scores a class,
    within its stated error beyond).

    Examples
    --------
    >>> w = PerformanceWindow().update(1, 1, 0.9).update(0, 1, 0.6).update(1, 0, 0.4)
    >>> r = w.result()
    >>> (r.precision, r.recall, r.labelled, r.roc_auc)
    (0.5, 0.5, 3, 0.5)
    """

    rows: int = 0
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0
    predicted_positive: int = 0
    squared_error: float = 0.0
    k: int = DEFAULT_SKETCH_K
    positives: ScoreSketch = None  # type: ignore[assignment]  # set in __post_init__
    negatives: ScoreSketch = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.positives is None:
            self.positives = ScoreSketch(self.k)
        if self.negatives is None:
            self.negatives = ScoreSketch(self.k)

    def update(self, y_true: int | None, y_pred: int, score: float) -> PerformanceWindow:
        self.rows += 1
        self.predicted_positive += y_pred
        if y_true is None:
            return self  # unlabelled rows count toward the positive rate only
        if y_true and y_pred:
            self.tp += 1
        elif y_true:
            self.fn += 1
        elif y_pred:
            self.fp += 1
        else:
            self.tn += 1
        (self.positives if y_true else self.negatives).update(score)
        self.squared_error += (score - y_true) ** 2
        return self

    def merge(self, other: PerformanceWindow) -> PerformanceWindow:
        return PerformanceWindow(
            rows=self.rows + other.rows,
            tp=self.tp + other.tp,
            fp=self.fp + other.fp,
            tn=self.tn + other.tn,
            fn=self.fn + other.fn,
            predicted_positive=self.predicted_positive + other.predicted_positive,
            squared_error=self.squared_error + other.squared_error,
            k=self.k,
            positives=self.positives.merge(other.positives),
            negatives=self.negatives.merge(other.negatives),
        )

    def result(self, confidence: float = 0.95) -> PerformanceResult:
        labelled = self.tp + self.fp + self.tn + self.fn
        positives = self.tp + self.fn
        negatives = self.fp + self.tn
        precision = _ratio(self.tp, self.tp + self.fp)
        recall = _ratio(self.tp, self.tp + self.fn)
        f1 = _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)
        auc = sketch_roc_auc(self.positives, self.negatives)
        recall_low, recall_high = (
            wilson_interval(self.tp, positives, confidence) if positives else (None, None)
        )
        auc_low, auc_high = (
            auc_interval(auc, positives, negatives, confidence) if auc is not None else (None, None)
        )
        label_low, label_high = (
            wilson_interval(positives, labelled, confidence) if labelled else (None, None)
        )
        positive_low, positive_high = (
            wilson_interval(self.predicted_positive, self.rows, confidence)
            if self.rows
            else (None, None)
        )
        return PerformanceResult(
            rows=self.rows,
            labelled=labelled,
            precision=precision,
            recall=recall,
            f1=f1,
            roc_auc=auc,
            accuracy=_ratio(self.tp + self.tn, labelled),
            positive_rate=_ratio(self.predicted_positive, self.rows),
            label_rate=_ratio(positives, labelled),
            brier=self.squared_error / labelled if labelled else None,
            label_coverage=_ratio(labelled, self.rows),
            roc_auc_error=None
            if auc is None
            else roc_auc_error_bound(self.positives, self.negatives),
            recall_low=recall_low,
            recall_high=recall_high,
            roc_auc_low=auc_low,
            roc_auc_high=auc_high,
            label_rate_low=label_low,
            label_rate_high=label_high,
            positive_rate_low=positive_low,
            positive_rate_high=positive_high,
        )


def calibrate(scores: np.ndarray, knots: tuple[float, ...], rates: tuple[float, ...]) -> np.ndarray:
    """Churn probability of each score, by the model's calibration map (identity without one)."""
    if not knots:
        return np.asarray(scores, dtype=float)
    return np.interp(scores, knots, rates)


@dataclass(frozen=True)
class EstimatedPerformance:
    """Performance expected from calibrated probabilities alone, before labels arrive."""

    rows: int
    precision: float | None
    recall: float | None
    f1: float | None
    accuracy: float | None
    roc_auc: float | None
    label_rate: float | None


def estimate_performance(probability: np.ndarray, predicted: np.ndarray,
                         score: np.ndarray | None = None) -> EstimatedPerformance:  # fmt: skip
    """Confidence-based estimate (as NannyML's CBPE does in batch): with a calibrated
    probability p of churn, a positive prediction is a true positive with probability p and a
    negative one a false negative with probability p; the expected confusion matrix gives the
    metrics. ROC-AUC is the expected share of (churner, stayer) pairs the score orders right.

    Examples
    --------
    By hand: p = 0.9, 0.8, 0.3, 0.2 predicted 1, 1, 0, 0: TP 1.7, FP 0.3, FN 0.5, TN 1.5.

    >>> e = estimate_performance(np.array([0.9, 0.8, 0.3, 0.2]), np.array([1, 1, 0, 0]))
    >>> round(e.precision, 4), round(e.recall, 4), round(e.accuracy, 4)
    (0.85, 0.7727, 0.8)
    """
    p = np.asarray(probability, dtype=float)
    y = np.asarray(predicted, dtype=int)
    if len(p) == 0:
        return EstimatedPerformance(0, None, None, None, None, None, None)
    tp, fp = float(p[y == 1].sum()), float((1 - p[y == 1]).sum())
    fn, tn = float(p[y == 0].sum()), float((1 - p[y == 0]).sum())
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None
    order_by = p if score is None else np.asarray(score, dtype=float)
    auc = expected_roc_auc(p, order_by)
    return EstimatedPerformance(len(p), precision, recall, f1, (tp + tn) / len(p), auc,
                                float(p.mean()))  # fmt: skip


@dataclass
class EstimateWindow:
    """Predictions without labels, mergeable and bounded: counts, the sums of the calibrated
    churn probability over rows predicted positive and negative (the expected confusion matrix,
    exactly), and a sketch of the scores for the expected ROC-AUC.

    Examples
    --------
    The hand case of :func:`estimate_performance`, with the identity calibration:

    >>> w = EstimateWindow()
    >>> for p, y in [(0.9, 1), (0.8, 1), (0.3, 0), (0.2, 0)]:
    ...     _ = w.update(p, y, p)
    >>> e = w.result((), ())
    >>> round(e.precision, 4), round(e.recall, 4), round(e.accuracy, 4)
    (0.85, 0.7727, 0.8)
    """

    rows: int = 0
    predicted_positive: int = 0
    probability_predicted_positive: float = 0.0
    probability_predicted_negative: float = 0.0
    k: int = DEFAULT_SKETCH_K
    scores: ScoreSketch = None  # type: ignore[assignment]  # set in __post_init__

    def __post_init__(self) -> None:
        if self.scores is None:
            self.scores = ScoreSketch(self.k)

    def update(self, probability: float, predicted: int, score: float) -> EstimateWindow:
        """A row predicted ``predicted`` with model score ``score`` and calibrated churn
        ``probability``."""
        self.rows += 1
        if predicted:
            self.predicted_positive += 1
            self.probability_predicted_positive += probability
        else:
            self.probability_predicted_negative += probability
        self.scores.update(score)
        return self

    def update_many(self, probability: np.ndarray, predicted: np.ndarray,
                    scores: np.ndarray) -> EstimateWindow:  # fmt: skip
        """Rows at once, as :meth:`update` row by row (the sums may round differently)."""
        positive = np.asarray(predicted, dtype=bool)
        probability = np.asarray(probability, dtype=float)
        self.rows += len(positive)
        self.predicted_positive += int(positive.sum())
        self.probability_predicted_positive += float(probability[positive].sum())
        self.probability_predicted_negative += float(probability[~positive].sum())
        self.scores.extend(scores)
        return self

    def merge(self, other: EstimateWindow) -> EstimateWindow:
        return EstimateWindow(
            self.rows + other.rows,
            self.predicted_positive + other.predicted_positive,
            self.probability_predicted_positive + other.probability_predicted_positive,
            self.probability_predicted_negative + other.probability_predicted_negative,
            self.k,
            self.scores.merge(other.scores),
        )

    def result(self, knots: tuple[float, ...], rates: tuple[float, ...]) -> EstimatedPerformance:
        """The estimate, with the model's calibration map (``knots`` to ``rates``) for the
        expected ROC-AUC."""
        if not self.rows:
            return EstimatedPerformance(0, None, None, None, None, None, None)
        tp = self.probability_predicted_positive
        fp = self.predicted_positive - tp
        fn = self.probability_predicted_negative
        tn = self.rows - self.predicted_positive - fn
        values, weights = self.scores.weighted()
        auc = expected_roc_auc(calibrate(values, knots, rates), values, weights)
        return EstimatedPerformance(
            self.rows,
            tp / (tp + fp) if tp + fp else None,
            tp / (tp + fn) if tp + fn else None,
            2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
            (tp + tn) / self.rows,
            auc,
            (tp + fn) / self.rows,
        )


def expected_roc_auc(p: np.ndarray, score: np.ndarray,
                     rows: np.ndarray | None = None) -> float | None:  # fmt: skip
    """Expected ROC-AUC of ``score`` when row i churns with probability p_i.

    Every ordered pair of rows (i, j), i != j, counts with weight p_i (1 - p_j): 1 when i scores
    above j, 1/2 on a tie. The ratio of the expected count to the expected number of pairs.
    ``rows``: how many rows each entry stands for (a sketch's items), 1 each by default.
    """
    weight = np.ones(len(p)) if rows is None else np.asarray(rows, dtype=float)
    order = np.argsort(score, kind="mergesort")
    p, score, weight = p[order], score[order], weight[order]
    stayer = 1 - p
    # stayer weight strictly below each score, and within its tie group (the row itself apart)
    starts = np.searchsorted(score, score, side="left")
    ends = np.searchsorted(score, score, side="right")
    cumulative = np.concatenate([[0.0], np.cumsum(weight * stayer)])
    below = cumulative[starts]
    tied_others = cumulative[ends] - cumulative[starts] - stayer
    numerator = float((weight * p * (below + tied_others / 2)).sum())
    denominator = float((weight * p).sum() * (weight * stayer).sum() - (weight * p * stayer).sum())
    return numerator / denominator if denominator > 0 else None
