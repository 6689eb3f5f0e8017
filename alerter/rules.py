"""Which alert conditions hold in a window (pure): signals in, conditions out."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from shared.policy import Policy
from shared.schemas import (
    AlertSeverity,
    AlertType,
    DriftSeverity,
    DriftSignal,
    Evidence,
    FairnessSignal,
    GroupRecall,
    PerformanceSignal,
    RecallGap,
)
from shared.stats import difference_interval, wilson_interval


@dataclass(frozen=True)
class WindowSignals:
    """What the monitors said about one window; a monitor that has not reported is None."""

    start: datetime
    end: datetime
    performance: PerformanceSignal | None = None
    drift: DriftSignal | None = None
    fairness: FairnessSignal | None = None
    estimate: PerformanceSignal | None = None  # provisional, before the labels arrive

    def complete(self) -> bool:
        return None not in (self.performance, self.drift, self.fairness)

    def with_signal(self, signal: Signal) -> WindowSignals:
        """These signals with ``signal``'s source (see :func:`source_of`) replaced by it."""
        if isinstance(signal, DriftSignal):
            return replace(self, drift=signal)
        if isinstance(signal, FairnessSignal):
            return replace(self, fairness=signal)
        if signal.provisional:
            return replace(self, estimate=signal)
        return replace(self, performance=signal)


@dataclass(frozen=True)
class Condition:
    """An alert condition that holds in a window."""

    type: AlertType
    subject: str
    severity: AlertSeverity
    explanation: str
    evidence: Evidence = field(default_factory=dict)
    source: str = ""  # the monitor whose signal showed it
    symptom_of: str | None = None  # the headline of its alert, when that is another condition

    @property
    def key(self) -> str:
        return f"{self.type.value}:{self.subject}"


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def graded(value: float, warning: float, critical: float) -> AlertSeverity | None:
    """WARNING from ``warning`` on, CRITICAL from ``critical`` on, else no alert."""
    if value >= critical:
        return AlertSeverity.CRITICAL
    if value >= warning:
        return AlertSeverity.WARNING
    return None


def drift_conditions(signal: DriftSignal) -> list[Condition]:
    """MEDIUM (WARNING) and HIGH (CRITICAL) drift, as confirmed over the last windows."""
    found = []
    drifts = [(f, "input") for f in signal.features]
    if signal.prediction is not None:
        drifts.append((signal.prediction, "prediction"))
    for feature, drift_of in drifts:
        level = feature.confirmed or feature.severity
        if level not in (DriftSeverity.MEDIUM, DriftSeverity.HIGH):
            continue
        severity = AlertSeverity.CRITICAL if level == DriftSeverity.HIGH else AlertSeverity.WARNING
        found.append(
            Condition(
                type=AlertType.DRIFT,
                subject=feature.feature,
                severity=severity,
                explanation=(
                    f"{feature.feature} drifted {level.value} in the window of "
                    f"{_day(signal.window_start)} (PSI {feature.psi:.2f}, chi-square p = "
                    f"{feature.p_value:.1e}, n = {signal.rows}); it carries "
                    f"{feature.importance_share:.0%} of the model's SHAP importance."
                ),
                evidence={
                    "drift_of": drift_of,
                    "drift_severity": level.value,
                    "window_severity": feature.severity.value,
                    "js_distance": feature.js_distance,
                    "psi": feature.psi,
                    "p_value": feature.p_value,
                    "rows": signal.rows,
                    "importance_share": feature.importance_share,
                },
            )
        )
    return found


def attribution_conditions(signal: DriftSignal, policy: Policy) -> list[Condition]:
    """The model leans on other features than on the reference (SHAP ranking, by nDCG)."""
    if (
        signal.attribution_ndcg is None
        or signal.attribution_ndcg >= policy.drift.attribution_ndcg_min
    ):
        return []
    return [
        Condition(
            type=AlertType.DRIFT,
            subject="attribution",
            severity=AlertSeverity.WARNING,
            explanation=(
                f"The model's reasons changed in the window of {_day(signal.window_start)}: "
                f"its SHAP ranking matches the reference's at nDCG {signal.attribution_ndcg:.2f} "
                f"(below {policy.drift.attribution_ndcg_min:.2f}); it now leans most on "
                f"{', '.join(signal.attribution_top[:3])}."
            ),
            evidence={"ndcg": signal.attribution_ndcg, "drift_of": "attribution"},
        )
    ]


def data_quality_conditions(signal: DriftSignal, policy: Policy) -> list[Condition]:
    """Rows refused by validation: an upstream problem, reported apart from drift."""
    total = signal.rows + signal.quarantined_rows
    if not signal.quarantined_rows or not total:
        return []
    share = signal.quarantined_rows / total
    rules = policy.data_quality
    severity = graded(share, rules.quarantine_share_warning, rules.quarantine_share_critical)
    if severity is None:
        return []
    reasons = ", ".join(f"{count} {code}" for code, count in signal.quarantined_by_reason.items())
    evidence: Evidence = {"quarantine_share": share, "quarantined_rows": signal.quarantined_rows}
    for code, count in signal.quarantined_by_reason.items():
        evidence[f"reason_{code}"] = count
    return [
        Condition(
            type=AlertType.DATA_QUALITY,
            subject="quarantine",
            severity=severity,
            explanation=(
                f"{share:.1%} of rows were quarantined in the window of "
                f"{_day(signal.window_start)} ({signal.quarantined_rows} of {total}: {reasons}). "
                "Schema problems are not drift: fix the upstream pipeline; do not retrain on "
                "broken data."
            ),
            evidence=evidence,
        )
    ]


def _rate_distance(low: float, high: float, baseline: float) -> float:
    """How far the interval [low, high] lies from the baseline (0 when it contains it)."""
    return max(low - baseline, baseline - high, 0.0)


# The subject of prediction drift: the share of rows the model predicts positive.
PREDICTED_POSITIVE_RATE = "predicted_positive_rate"


def rate_drift_conditions(
    signal: PerformanceSignal, policy: Policy, label: str = "label"
) -> list[Condition]:
    """Label drift (the rate of the positive ``label``, the subject named after the label's
    column) and prediction drift (the share predicted positive)."""
    if signal.labelled < policy.performance.min_support:
        return []
    tolerance = policy.drift.rate_tolerance
    found = []
    checks = (
        (label, f"{label} rate", signal.label_rate, signal.label_rate_low,
         signal.label_rate_high, signal.baseline_label_rate),
        (PREDICTED_POSITIVE_RATE, f"share predicted {label}", signal.positive_rate,
         signal.positive_rate_low, signal.positive_rate_high, signal.baseline_positive_rate),
    )  # fmt: skip
    for subject, what, value, low, high, baseline in checks:
        if value is None or low is None or high is None or baseline is None:
            continue
        distance = _rate_distance(low, high, baseline)
        severity = graded(distance, tolerance, 2 * tolerance)
        if severity is None:
            continue
        found.append(
            Condition(
                type=AlertType.DRIFT,
                subject=subject,
                severity=severity,
                explanation=(
                    f"The {what} moved to {value:.0%} (baseline {baseline:.0%}, "
                    f"{policy.performance.confidence:.0%} CI {low:.0%} to {high:.0%}) in the "
                    f"window of {_day(signal.window_start)} (n = {signal.labelled})."
                ),
                evidence={
                    "rate": value,
                    "rate_low": low,
                    "rate_high": high,
                    "baseline": baseline,
                    "drift_of": "prediction" if subject == PREDICTED_POSITIVE_RATE else "label",
                },
            )
        )
    return found


def change_point_conditions(signal: PerformanceSignal) -> list[Condition]:
    rising = [c for c in signal.change_points if c.mean_after > c.mean_before]
    if not rising:
        return []
    change = rising[0]
    return [
        Condition(
            type=AlertType.CHANGE_POINT,
            subject=change.detector,
            severity=AlertSeverity.WARNING,
            explanation=(
                f"ADWIN detected a rise in the {change.detector.replace('_', ' ')} at "
                f"{change.event_time:%Y-%m-%d %H:%M}: {change.mean_before:.2f} before, "
                f"{change.mean_after:.2f} after."
            ),
            evidence={"mean_before": change.mean_before, "mean_after": change.mean_after},
        )
    ]


def performance_conditions(signal: PerformanceSignal, policy: Policy) -> list[Condition]:
    rules = policy.performance
    if signal.labelled < rules.min_support:
        return []
    found = []
    # A drop counts only when the whole confidence interval lies below the tolerated level:
    # a window of a few hundred rows moves recall by several points by chance alone.
    if signal.recall is not None and signal.recall_high is not None and signal.baseline_recall > 0:
        drop = (signal.baseline_recall - signal.recall) / signal.baseline_recall
        sure_drop = (signal.baseline_recall - signal.recall_high) / signal.baseline_recall
        severity = graded(sure_drop, rules.recall_drop_warning, rules.recall_drop_critical)
        if severity is not None:
            found.append(
                Condition(
                    type=AlertType.PERFORMANCE,
                    subject="recall",
                    severity=severity,
                    explanation=(
                        f"Recall fell to {signal.recall:.2f} (baseline "
                        f"{signal.baseline_recall:.2f}, -{drop:.0%}, {rules.confidence:.0%} CI "
                        f"{signal.recall_low:.2f} to {signal.recall_high:.2f}) in the window of "
                        f"{_day(signal.window_start)} (n = {signal.labelled} labelled rows)."
                    ),
                    evidence={
                        "recall": signal.recall,
                        "baseline_recall": signal.baseline_recall,
                        "relative_drop": drop,
                        "recall_low": signal.recall_low,
                        "recall_high": signal.recall_high,
                        "labelled": signal.labelled,
                    },
                )
            )
    if signal.roc_auc is not None and signal.roc_auc_high is not None:
        sure_drop = signal.baseline_roc_auc - signal.roc_auc_high
        severity = graded(sure_drop, rules.roc_auc_drop_warning, rules.roc_auc_drop_critical)
        if severity is not None:
            found.append(
                Condition(
                    type=AlertType.PERFORMANCE,
                    subject="roc_auc",
                    severity=severity,
                    explanation=(
                        f"ROC-AUC fell to {signal.roc_auc:.3f} (baseline "
                        f"{signal.baseline_roc_auc:.3f}, {rules.confidence:.0%} CI "
                        f"{signal.roc_auc_low:.3f} to {signal.roc_auc_high:.3f}) in the window of "
                        f"{_day(signal.window_start)} (n = {signal.labelled} labelled rows)."
                    ),
                    evidence={
                        "roc_auc": signal.roc_auc,
                        "baseline_roc_auc": signal.baseline_roc_auc,
                        "labelled": signal.labelled,
                    },
                )
            )
    return found


GroupBaseline = Mapping[str, Mapping[str, float]]  # attribute -> group -> held-out recall


def confined_to_worst_group(gap: RecallGap, baseline: GroupBaseline, policy: Policy) -> bool:
    """Whether the model fell for the worst group while still serving the best one as in
    training: the worst group's recall lies below its held-out recall, and the best group's
    above the tolerated drop from its own, each by a one-sided Wilson bound at the policy's
    confidence, both over the same windows as the gap.

    Then the gap is the problem itself (a fairness problem), not one symptom of a model that got
    worse for everyone. Both must be shown: a best group too small to show that it is served
    as before does not count.
    """
    held_out = baseline.get(gap.attribute, {})
    worst, best = gap.worst_group or "", gap.best_group or ""
    if worst not in held_out or best not in held_out:
        return False
    if gap.worst_recall is None or gap.best_recall is None:
        return False
    # each claim is one-sided (below its held-out recall; above the tolerated drop): its bound
    # at the policy's confidence is that of the two-sided interval at 2 x confidence - 1
    two_sided = 2 * policy.fairness.gap_confidence - 1
    # a recall is true positives over positives: the counts, back from the two
    _, worst_high = wilson_interval(round(gap.worst_recall * gap.worst_positives),
                                    gap.worst_positives, two_sided)  # fmt: skip
    best_low, _ = wilson_interval(round(gap.best_recall * gap.best_positives),
                                  gap.best_positives, two_sided)  # fmt: skip
    tolerated = (1 - policy.performance.recall_drop_warning) * held_out[best]
    return worst_high < held_out[worst] and best_low >= tolerated


def pooled_estimate(
    attribute: str, windows: Sequence[Sequence[GroupRecall]], policy: Policy
) -> RecallGap | None:
    """The recall gap of ``attribute`` over the groups of several windows taken together: best
    minus worst recall among the groups with enough positives and negatives over them all, with
    the policy's interval; None with fewer than two such groups."""
    counts: dict[str, list[int]] = {}
    for groups in windows:
        for group in groups:
            if group.attribute == attribute:
                total = counts.setdefault(group.group, [0, 0, 0])
                total[0] += group.positives
                total[1] += group.negatives
                total[2] += group.true_positives
    rules = policy.fairness
    recall = {
        name: true_positives / positives
        for name, (positives, negatives, true_positives) in counts.items()
        if positives >= rules.min_group_positives and negatives >= rules.min_group_negatives
    }
    if len(recall) < 2:
        return None
    best, worst = max(recall, key=recall.__getitem__), min(recall, key=recall.__getitem__)
    (best_positives, _, best_hits), (worst_positives, _, worst_hits) = counts[best], counts[worst]
    low, high = difference_interval(best_hits, best_positives, worst_hits, worst_positives,
                                    rules.gap_confidence, rules.gap_interval)  # fmt: skip
    return RecallGap(
        attribute=attribute, gap=recall[best] - recall[worst], gap_low=low, gap_high=high,
        best_group=best, worst_group=worst, best_recall=recall[best],
        worst_recall=recall[worst], best_positives=best_positives,
        worst_positives=worst_positives, windows=len(windows),
    )  # fmt: skip


def deployment_gap(gap: RecallGap, baseline: GroupBaseline | None) -> float:
    """The model's own gap between the same two groups on its held-out set (best minus worst as
    the window has them; 0 when either group was not measured, or when the held-out order was
    the other way round: a reversed gap is a new one)."""
    held_out = (baseline or {}).get(gap.attribute, {})
    best, worst = held_out.get(gap.best_group or ""), held_out.get(gap.worst_group or "")
    if best is None or worst is None:
        return 0.0
    return max(0.0, best - worst)


def fairness_conditions(
    signal: FairnessSignal,
    policy: Policy,
    baseline: GroupBaseline | None = None,
    sustained: Collection[str] = (),
    since_held: Mapping[str, Sequence[Sequence[GroupRecall]]] | None = None,
) -> list[Condition]:
    """A recall gap whose whole interval lies beyond the tolerance, in the window alone (a
    sudden gap), over the fewest latest windows whose groups are large enough to compare (a
    sudden gap in small windows) or over the latest windows where it shows most strongly (a gap
    that began a few windows ago, or a small persistent one), whichever is strongest.

    With the held-out recall of each group (``baseline``) and the policy's
    ``fairness.gaps_relative_to_deployment``, the tolerance is counted from the model's own gap
    between the same two groups at deployment (:func:`deployment_gap`): a gap the model always
    had is known, not news. The evidence also says whether the gap is confined to the worst
    group (see :func:`confined_to_worst_group`).

    A gap of an attribute in ``sustained`` (one open already) holds, as a WARNING, while the
    latest windows' estimate of it stays beyond the tolerance: it fires on its interval and
    clears on its estimate, so it does not flap. Once it has been clear in a window, its
    estimate is taken over the windows since it last held (their groups in ``since_held``),
    the window now included: one window that shows a gap by chance after the cause has gone
    does not hold it open, and one that hid it while the cause goes on does not clear it."""
    rules = policy.fairness

    def known(gap: RecallGap) -> float:
        return deployment_gap(gap, baseline) if rules.gaps_relative_to_deployment else 0.0

    found = []
    candidates: dict[str, list[tuple[RecallGap, str]]] = {}
    # what the latest windows show: the fewest in which the groups are large enough, else the
    # window alone
    latest = {gap.attribute: gap for gap in signal.gaps}
    latest |= {gap.attribute: gap for gap in signal.pooled_gaps}
    # an open gap that was clear in the windows before: its estimate since it last held
    for attribute, earlier in (since_held or {}).items():
        estimate = pooled_estimate(attribute, [*earlier, signal.groups], policy)
        if estimate is not None:
            latest[attribute] = estimate
    for gap in signal.gaps:
        candidates.setdefault(gap.attribute, []).append((gap, "in the window"))
    for gap in signal.pooled_gaps:
        if gap.windows > 1:
            where = f"over the last {gap.windows} windows (the fewest with groups large enough)"
            candidates.setdefault(gap.attribute, []).append((gap, where))
    for gap in signal.strongest_gaps:
        own = latest.get(gap.attribute)
        # older windows only back a gap the latest windows still show: an old gap must not linger
        if gap.windows == 1 or (
            own is not None
            and own.gap is not None
            and (own.gap - known(own) < rules.recall_gap_warning)
        ):
            continue
        span = f"over the last {gap.windows} windows"
        candidates.setdefault(gap.attribute, []).append((gap, span))
    for attribute, options in candidates.items():
        judged = [(g.gap_low - known(g), g, where) for g, where in options
                  if g.gap is not None and g.gap_low is not None]  # fmt: skip
        if not judged:
            continue
        excess, gap, where = max(judged, key=lambda item: item[0])
        severity = graded(excess, rules.recall_gap_warning, rules.recall_gap_critical)
        recent = latest.get(attribute)
        if severity is None and attribute in sustained and recent is not None:
            # flagged already: it holds while its estimate stays beyond the tolerance, so an
            # interval that widens for a window or two does not resolve it and fire it again
            if recent.gap is None or recent.gap - known(recent) < rules.recall_gap_warning:
                continue
            severity, gap = AlertSeverity.WARNING, recent
            span = (
                "in the window"
                if recent.windows == 1
                else f"over the last {recent.windows} windows"
            )
            where = f"{span} (open already: its estimate is still beyond the tolerance)"
        if severity is None:
            continue
        own_gap = known(gap)
        confined = baseline is not None and confined_to_worst_group(gap, baseline, policy)
        found.append(
            Condition(
                type=AlertType.BIAS,
                subject=attribute,
                severity=severity,
                explanation=(
                    f"Recall for {attribute}={gap.worst_group} is {gap.worst_recall:.2f} against "
                    f"{gap.best_recall:.2f} for {attribute}={gap.best_group} (gap {gap.gap:.2f}, "
                    f"{rules.gap_confidence:.0%} CI {gap.gap_low:.2f} to {gap.gap_high:.2f}, "
                    f"tolerance {rules.recall_gap_warning:.2f}"
                    + (
                        f" beyond the model's own gap of {own_gap:.2f} at deployment"
                        if own_gap > 0
                        else ""
                    )
                    + f") {where} ending {_day(signal.window_start)} ({gap.worst_positives} "
                    f"and {gap.best_positives} positives)."
                    + (
                        f" Only {attribute}={gap.worst_group} is served worse than in training."
                        if confined
                        else ""
                    )
                ),
                evidence={
                    "gap": gap.gap,
                    "gap_low": gap.gap_low,
                    "gap_high": gap.gap_high,
                    "ratio": gap.ratio,
                    "worst_group": gap.worst_group,
                    "worst_recall": gap.worst_recall,
                    "best_group": gap.best_group,
                    "best_recall": gap.best_recall,
                    "confined": confined,
                    "deployment_gap": own_gap,
                    "windows": gap.windows,
                },
            )
        )
    return found


Signal = PerformanceSignal | DriftSignal | FairnessSignal
SOURCES: dict[type, str] = {
    PerformanceSignal: "performance",
    DriftSignal: "drift",
    FairnessSignal: "fairness",
}
ESTIMATE = "estimate"


def source_of(signal: Signal) -> str:
    """Which monitor stream a signal belongs to (a provisional estimate is its own)."""
    if isinstance(signal, PerformanceSignal) and signal.provisional:
        return ESTIMATE
    return SOURCES[type(signal)]


def estimated_performance_conditions(signal: PerformanceSignal, policy: Policy) -> list[Condition]:
    """An early warning from calibrated probabilities while labels are out: never CRITICAL,
    never a reason to retrain. It cannot see concept drift (the probabilities do not change)."""
    rules = policy.performance
    if signal.recall is None or signal.baseline_recall <= 0 or signal.rows < rules.min_support:
        return []
    drop = (signal.baseline_recall - signal.recall) / signal.baseline_recall
    if drop < rules.recall_drop_warning:
        return []
    return [
        Condition(
            type=AlertType.PERFORMANCE,
            subject="estimated_recall",
            severity=AlertSeverity.WARNING,
            explanation=(
                f"Estimated recall {signal.recall:.2f} (baseline {signal.baseline_recall:.2f}, "
                f"-{drop:.0%}) in the window of {_day(signal.window_start)}, from calibrated "
                f"probabilities: labels have not arrived yet (n = {signal.rows})."
            ),
            evidence={"estimated_recall": signal.recall, "relative_drop": drop},
        )
    ]


def conditions_of(
    signal: Signal,
    policy: Policy,
    group_baseline: GroupBaseline | None = None,
    sustained_gaps: Collection[str] = (),
    since_held: Mapping[str, Sequence[Sequence[GroupRecall]]] | None = None,
    label: str = "label",
) -> list[Condition]:
    """The alert conditions one monitor's signal shows. Each alert key comes from one source,
    so an alert is judged (fired, kept, resolved) on its own monitor's windows only.
    ``sustained_gaps``: the attributes whose recall gap is open (see
    :func:`fairness_conditions`), ``since_held`` the groups of the windows each has been clear
    in since it last held; ``label``: the label's column, as the model contract names it."""
    if isinstance(signal, PerformanceSignal) and signal.provisional:
        found = estimated_performance_conditions(signal, policy)
    elif isinstance(signal, PerformanceSignal):
        found = (
            performance_conditions(signal, policy)
            + change_point_conditions(signal)
            + rate_drift_conditions(signal, policy, label)
        )
    elif isinstance(signal, DriftSignal):
        found = (
            drift_conditions(signal)
            + data_quality_conditions(signal, policy)
            + attribution_conditions(signal, policy)
        )
    else:
        found = fairness_conditions(signal, policy, group_baseline, sustained_gaps, since_held)
    source = source_of(signal)
    return [replace(condition, source=source) for condition in found]


def conditions(
    window: WindowSignals,
    policy: Policy,
    group_baseline: GroupBaseline | None = None,
    label: str = "label",
) -> list[Condition]:
    """Every alert condition that holds in ``window``."""
    found: list[Condition] = []
    for signal in (window.performance, window.drift, window.fairness, window.estimate):
        if signal is not None:
            found += conditions_of(signal, policy, group_baseline, label=label)
    return found


@dataclass(frozen=True)
class OpenCondition:
    """A condition that holds (or has not yet been clear long enough), and since when."""

    condition: Condition
    since: datetime  # start of the first window it held in

    @property
    def key(self) -> str:
        return self.condition.key


def is_input_drift(condition: Condition) -> bool:
    return condition.type == AlertType.DRIFT and condition.evidence.get("drift_of") == "input"


# conditions ranked from here on only ever show what something else did: change points, the
# churn and prediction rates, the model's reasons, recall gaps not confined to one group
SYMPTOM_RANK = 3


def cause_rank(condition: Condition) -> int:
    """How well a condition explains the others it appears with (0 best).

    When several conditions begin together they are one problem, named after the best-ranked:
    broken data and drifted inputs explain what the model does with them; a recall gap confined
    to one group is a fairness problem that also lowers overall recall; a model worse for everyone
    shows in performance, then in change points, then in the churn rate (a shifted prior moves
    the predictions with it), the predictions and the model's reasons; a recall gap that is not
    confined to one group is a symptom of the others.
    """
    if condition.type == AlertType.DATA_QUALITY or is_input_drift(condition):
        return 0
    if condition.type == AlertType.BIAS:
        return 1 if condition.evidence.get("confined") else 7
    if condition.type == AlertType.PERFORMANCE:
        # an estimate without labels is weaker evidence than measured performance
        return 3 if condition.source == ESTIMATE else 2
    if condition.type == AlertType.CHANGE_POINT:
        return 3
    return {"label": 4, "prediction": 5}.get(str(condition.evidence.get("drift_of")), 6)


def gap_excess(condition: Condition) -> float:
    """How far a recall gap goes beyond the model's own at deployment (0 for anything else)."""
    if condition.type != AlertType.BIAS:
        return 0.0
    evidence = condition.evidence
    return float(evidence.get("gap") or 0.0) - float(evidence.get("deployment_gap") or 0.0)


def cause_order(condition: Condition) -> tuple[int, float]:
    """:func:`cause_rank`, and among recall gaps of one rank, the wider gap first.

    A group the model fails shows in every sensitive attribute whose groups hold it unevenly:
    the injured group's own attribute has the widest gap, the others a diluted share of it. So
    of two gaps the wider explains the narrower, not the other way round.
    """
    return cause_rank(condition), -gap_excess(condition)


def with_likely_cause(
    condition: Condition, open_conditions: Mapping[str, OpenCondition]
) -> Condition:
    """A performance, change-point or bias condition, with what most likely caused it.

    The cause is the open input problem with the largest impact: broken data first (it is not
    drift), then the drifted input feature with the largest PSI x SHAP share. With none open, the
    inputs look as before, which points at the relationship between inputs and label (concept
    drift).
    """
    if condition.type not in (AlertType.PERFORMANCE, AlertType.CHANGE_POINT, AlertType.BIAS):
        return condition
    quality = [o for o in open_conditions.values() if o.condition.type == AlertType.DATA_QUALITY]
    drifted = [o for o in open_conditions.values() if is_input_drift(o.condition)]
    if quality:
        cause = quality[0]
        sentence = f" Likely cause: broken input data since {_day(cause.since)}."
    elif drifted:
        cause = max(
            drifted,
            key=lambda o: (
                float(o.condition.evidence.get("psi") or 0.0)
                * float(o.condition.evidence.get("importance_share") or 0.0)
            ),
        )
        evidence = cause.condition.evidence
        sentence = (
            f" Likely cause: {cause.condition.subject} drifted {evidence.get('drift_severity')} "
            f"(PSI {float(evidence['psi'] or 0.0):.2f}) since {_day(cause.since)}, the drifted "
            "input with the largest impact."
        )
    else:
        return replace(
            condition,
            explanation=condition.explanation + " No input drift is open: the link between the "
            "inputs and the label may have changed (concept drift).",
            evidence={**condition.evidence, "likely_cause": "concept"},
        )
    return replace(
        condition,
        explanation=condition.explanation + sentence,
        evidence={**condition.evidence, "likely_cause": cause.key},
    )
