"""The alerter's Prometheus metrics, in one object built on an injected registry."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from alerter.rules import SOURCES, WindowSignals
from shared.policy import Policy
from shared.schemas import (
    Action,
    Alert,
    AlertSeverity,
    AlertStatus,
    AlertType,
    Decision,
    DriftSeverity,
)

# the policy's sections whose numbers judge the windows (exported as trustwatch_policy_threshold)
THRESHOLD_SECTIONS = ("drift", "performance", "data_quality", "fairness", "decision")

SEVERITY_LEVEL = {
    DriftSeverity.NONE: 0,
    DriftSeverity.LOW: 1,
    DriftSeverity.MEDIUM: 2,
    DriftSeverity.HIGH: 3,
}


class AlerterMetrics:
    """Model-health gauges per window, alert and decision counters.

    Labels are bounded: feature, metric, attribute, group, type, severity, action.
    """

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        self.drift_psi = Gauge(
            "trustwatch_drift_psi", "PSI of the feature in the last closed window.",
            ["feature"], registry=registry,
        )  # fmt: skip
        self.drift_severity = Gauge(
            "trustwatch_drift_severity",
            "Drift severity of the feature in the last window: 0 NONE, 1 LOW, 2 MEDIUM, 3 HIGH.",
            ["feature"], registry=registry,
        )  # fmt: skip
        self.drift_p_value = Gauge(
            "trustwatch_drift_p_value",
            "p-value of the feature's chi-square test in the last window (significant below the "
            "policy's drift.family_alpha shared among the features, Bonferroni).",
            ["feature"], registry=registry,
        )  # fmt: skip
        self.policy_threshold = Gauge(
            "trustwatch_policy_threshold",
            "A threshold of the policy in force, by its setting (section.key of shared/policy.yaml "
            "or TRUSTWATCH_POLICY_PATH).",
            ["setting"], registry=registry,
        )  # fmt: skip
        self.deployment_gap = Gauge(
            "trustwatch_group_recall_gap_deployment_ratio",
            "The model's own recall gap between the groups of the attribute on its held-out set "
            "(best minus worst), known at deployment.",
            ["attribute"], registry=registry,
        )  # fmt: skip
        self.model_info = Gauge(
            "trustwatch_model_info", "The model whose windows the alerter judges: 1, by version.",
            ["model_version"], registry=registry,
        )  # fmt: skip
        self.performance = Gauge(
            "trustwatch_model_performance_ratio",
            "Model metric in the last closed window (precision, recall, f1, roc_auc, accuracy).",
            ["metric"], registry=registry,
        )  # fmt: skip
        self.estimated_performance = Gauge(
            "trustwatch_model_estimated_performance_ratio",
            "Model metric of the last window estimated from calibrated probabilities, before its "
            "labels arrived.",
            ["metric"], registry=registry,
        )  # fmt: skip
        self.performance_baseline = Gauge(
            "trustwatch_model_baseline_ratio", "Held-out baseline of the model metric.",
            ["metric"], registry=registry,
        )  # fmt: skip
        self.group_recall = Gauge(
            "trustwatch_group_recall_ratio", "Recall of the group in the last closed window.",
            ["attribute", "group"], registry=registry,
        )  # fmt: skip
        self.recall_gap = Gauge(
            "trustwatch_group_recall_gap_ratio",
            "Best minus worst group recall among eligible groups in the last window.",
            ["attribute"], registry=registry,
        )  # fmt: skip
        self.alerts_fired = Counter(
            "trustwatch_alerts_fired", "Alerts fired: one per problem (updates are not counted).",
            ["type", "severity"], registry=registry,
        )  # fmt: skip
        self.alerts_resolved = Counter(
            "trustwatch_alerts_resolved", "Alerts resolved.", ["type"], registry=registry
        )
        self.alerts_active = Gauge(
            "trustwatch_alerts_active", "Alerts currently firing.",
            ["type", "severity"], registry=registry,
        )  # fmt: skip
        self.decisions = Counter(
            "trustwatch_decisions", "Decisions published.", ["action"], registry=registry
        )
        self.last_window_end = Gauge(
            "trustwatch_last_window_end_timestamp_seconds",
            "Event time at which the last decided window ended.", registry=registry,
        )  # fmt: skip
        self.end_to_end_lag = Gauge(
            "trustwatch_end_to_end_lag_seconds",
            "Wall-clock time from the publication of a window's newest row to the alerter's "
            "judgement of that window's signal.",
            ["source"], registry=registry,
        )  # fmt: skip
        self.signal_latency = Histogram(
            "trustwatch_window_close_to_alert_seconds",
            "Wall-clock time from a monitor closing a window to the alerter judging its signal.",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30), registry=registry,
        )  # fmt: skip
        self.windows_rows = Gauge(
            "trustwatch_window_rows", "Rows in the last closed window.", registry=registry
        )
        # Every counter series exists from the start at 0: a series first scraped at 1 would hide
        # its first increase from rate() and increase(), and from the rules built on them.
        for action in Action:
            self.decisions.labels(action.value)
        for alert_type in AlertType:
            self.alerts_resolved.labels(alert_type.value)
            for severity in AlertSeverity:
                self.alerts_fired.labels(alert_type.value, severity.value)

    def observe_configuration(
        self, policy: Policy, model_version: str, deployment_gaps: Mapping[str, float]
    ) -> None:
        """What the windows are judged with: the model's version, its own recall gaps at
        deployment and every number of the policy's judging sections."""
        self.model_info.labels(model_version).set(1)
        for attribute, gap in deployment_gaps.items():
            self.deployment_gap.labels(attribute).set(gap)
        for section in THRESHOLD_SECTIONS:
            for key, value in getattr(policy, section).model_dump().items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    self.policy_threshold.labels(f"{section}.{key}").set(value)

    def observe_latency(self, signal, source: str) -> None:
        now = datetime.now(tz=UTC)
        if signal.closed_at is not None:
            self.signal_latency.observe(max(0.0, (now - signal.closed_at).total_seconds()))
        if signal.last_row_at is not None:
            self.end_to_end_lag.labels(source).set((now - signal.last_row_at).total_seconds())

    def observe_signal(self, signal) -> None:
        """Gauges of one monitor's signal, as it arrives."""
        if getattr(signal, "provisional", False):
            for name in ("precision", "recall", "f1", "roc_auc", "accuracy"):
                value = getattr(signal, name)
                if value is not None:
                    self.estimated_performance.labels(name).set(value)
            return
        self.observe_window(
            WindowSignals(
                signal.window_start, signal.window_end, **{SOURCES[type(signal)]: signal}
            ),
            stamp=False,
        )

    def observe_window(self, window: WindowSignals, stamp: bool = True) -> None:
        if window.drift is not None:
            self.windows_rows.set(window.drift.rows)
            drifts = [*window.drift.features, *filter(None, [window.drift.prediction])]
            for feature in drifts:
                self.drift_psi.labels(feature.feature).set(feature.psi)
                self.drift_p_value.labels(feature.feature).set(feature.p_value)
                level = feature.confirmed or feature.severity
                self.drift_severity.labels(feature.feature).set(SEVERITY_LEVEL[level])
        if window.performance is not None:
            signal = window.performance
            for name in ("precision", "recall", "f1", "roc_auc", "accuracy", "brier"):
                value = getattr(signal, name)
                if value is not None:
                    self.performance.labels(name).set(value)
            self.performance_baseline.labels("recall").set(signal.baseline_recall)
            self.performance_baseline.labels("roc_auc").set(signal.baseline_roc_auc)
        if window.fairness is not None:
            for group in window.fairness.groups:
                if group.recall is not None:
                    self.group_recall.labels(group.attribute, group.group).set(group.recall)
            for gap in window.fairness.gaps:
                if gap.gap is not None:
                    self.recall_gap.labels(gap.attribute).set(gap.gap)
        if stamp:
            self.last_window_end.set(window.end.timestamp())

    def observe_alerts(self, published: list[Alert], active: dict[str, Alert]) -> None:
        for alert in published:
            if alert.status == AlertStatus.FIRING:
                self.alerts_fired.labels(alert.type.value, alert.severity.value).inc()
            elif alert.status == AlertStatus.RESOLVED:
                self.alerts_resolved.labels(alert.type.value).inc()
        counts: dict[tuple[str, str], int] = {}
        for alert in active.values():
            key = (alert.type.value, alert.severity.value)
            counts[key] = counts.get(key, 0) + 1
        self.alerts_active.clear()
        for (alert_type, severity), count in counts.items():
            self.alerts_active.labels(alert_type, severity).set(count)

    def observe_decision(self, decision: Decision, window_end=None) -> None:
        self.decisions.labels(decision.action.value).inc()
        if window_end is not None:
            self.last_window_end.set(window_end.timestamp())
