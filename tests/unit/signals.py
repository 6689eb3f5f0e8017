"""Builders of signals for alerter tests."""

from datetime import UTC, datetime, timedelta

from alerter.rules import WindowSignals
from shared.schemas import (
    ChangePoint,
    DriftSeverity,
    DriftSignal,
    FairnessSignal,
    FeatureDrift,
    GroupRecall,
    PerformanceSignal,
    RecallGap,
)

ORIGIN = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def bounds(day):
    return ORIGIN + day * DAY, ORIGIN + (day + 1) * DAY


def performance(day, recall=0.8, recall_ci=(0.74, 0.86), auc=0.85, auc_ci=(0.82, 0.88),
                labelled=500, change_points=(), churn=(0.27, 0.23, 0.31),
                predicted=(0.41, 0.37, 0.45)):  # fmt: skip
    start, end = bounds(day)
    return PerformanceSignal(
        event_time=end, window_start=start, window_end=end, rows=labelled, labelled=labelled,
        precision=0.5, recall=recall, f1=0.6, roc_auc=auc, accuracy=0.75, positive_rate=0.4,
        recall_low=recall_ci[0], recall_high=recall_ci[1], roc_auc_low=auc_ci[0],
        roc_auc_high=auc_ci[1], baseline_recall=0.8, baseline_roc_auc=0.85,
        label_rate=churn[0], label_rate_low=churn[1], label_rate_high=churn[2],
        baseline_label_rate=0.265, positive_rate_low=predicted[1],
        positive_rate_high=predicted[2], baseline_positive_rate=0.41,
        change_points=tuple(change_points),
    )  # fmt: skip


def drift(day, severities=None, quarantined=None):
    start, end = bounds(day)
    severities = severities or {}
    features = tuple(
        FeatureDrift(
            feature=name, psi=0.5 if severity == DriftSeverity.HIGH else 0.15, statistic=10.0,
            p_value=1e-9, significant=True, severity=severity, importance_share=0.05,
        )
        for name, severity in severities.items()
    ) + (
        FeatureDrift(feature="gender", psi=0.001, statistic=0.1, p_value=0.7, significant=False,
                     severity=DriftSeverity.NONE, importance_share=0.01),
    )  # fmt: skip
    quarantined = quarantined or {}
    return DriftSignal(
        event_time=end, window_start=start, window_end=end, rows=500, features=features,
        quarantined_rows=sum(quarantined.values()), quarantined_by_reason=quarantined,
    )  # fmt: skip


# held-out recall of each group, as the model's metadata gives it
GROUP_BASELINE = {"gender": {"Female": 0.8, "Male": 0.8}}


def fairness(day, gap=None, best_positives=70):
    """A recall gap on gender: Male at 0.8 (its held-out recall), Female lower by the gap."""
    start, end = bounds(day)
    low, high = (None, None) if gap is None else gap
    worst = 0.8 - ((low + high) / 2 if gap else 0.0)
    groups = (
        GroupRecall(attribute="gender", group="Female", positives=70, negatives=180,
                    true_positives=round(worst * 70), recall=worst, eligible=True),
        GroupRecall(attribute="gender", group="Male", positives=best_positives, negatives=180,
                    true_positives=round(0.8 * best_positives), recall=0.8, eligible=True),
    )  # fmt: skip
    gaps = (
        RecallGap(attribute="gender", gap=0.8 - worst, gap_low=low, gap_high=high,
                  best_group="Male", worst_group="Female", best_recall=0.8, worst_recall=worst,
                  best_positives=best_positives, worst_positives=70),
    )  # fmt: skip
    return FairnessSignal(
        event_time=end, window_start=start, window_end=end, rows=500, groups=groups, gaps=gaps
    )


def window(day, perf=None, drift_signal=None, fair=None):
    start, end = bounds(day)
    return WindowSignals(
        start,
        end,
        perf or performance(day),
        drift_signal or drift(day),
        fair or fairness(day),
    )


def change_point(day, before=0.2, after=0.4):
    return ChangePoint(
        detector="error_rate", event_time=ORIGIN + day * DAY, mean_before=before, mean_after=after
    )
