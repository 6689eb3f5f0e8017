"""The decision engine (pure): one decision per window from its signals and the open alerts.

Precedence when several actions apply: ESCALATE_FAIRNESS, then RETRAIN, then NO_ACTION. A group
served worse needs a person to look before anything is retrained: retraining on the same data can
keep or deepen the gap. The decision lists the other applicable actions in ``also``. A recall gap
escalates only when it is a problem of its own (the headline of its alert, see
:mod:`alerter.lifecycle`), not when it is a symptom of a model worse for everyone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from alerter.rules import ESTIMATE, Condition, WindowSignals
from shared.policy import Policy
from shared.schemas import Action, Alert, AlertType, Decision, DriftSeverity

PRECEDENCE = (Action.ESCALATE_FAIRNESS, Action.RETRAIN)


@dataclass
class DriftStreaks:
    """Consecutive windows in which each feature drifted HIGH.

    A window's streak continues the streak of the window just before it, looked up by window
    time, not the streak of whichever signal came last: a signal for a window far ahead (forged,
    or mis-stamped) must not break the streaks of the real windows around it. ``streaks`` is
    that of the window updated last; the latest ``kept`` windows are kept.
    """

    streaks: dict[str, int] = field(default_factory=dict)
    by_window: dict[datetime, dict[str, int]] = field(default_factory=dict)
    kept: int = 64

    def update(self, window: WindowSignals) -> DriftStreaks:
        if window.drift is None:
            return self
        high = {f.feature for f in window.drift.features if f.severity == DriftSeverity.HIGH}
        before = self.by_window.get(window.start - (window.end - window.start), {})
        # A feature not HIGH in this window (or not reported at all) starts over, as does every
        # feature after a window without a drift signal.
        self.streaks = {name: before.get(name, 0) + 1 for name in sorted(high)}
        self.by_window[window.start] = self.streaks
        if len(self.by_window) > self.kept:
            del self.by_window[min(self.by_window)]
        return self


def _estimated(alert: Alert | Condition) -> bool:
    source = alert.source if isinstance(alert, Condition) else alert.evidence.get("source")
    return source == ESTIMATE


def _own_problem(alert: Alert | Condition) -> bool:
    """A recall gap escalates when it is the problem, or part of a fairness problem; a gap that
    is one symptom of a model worse for everyone (or of a shifted churn rate) goes away with its
    cause, and its alert says so."""
    symptom_of = alert.symptom_of if isinstance(alert, Condition) else None
    return symptom_of is None or symptom_of.startswith(f"{AlertType.BIAS.value}:")


def decide(
    window: WindowSignals,
    open_alerts: Sequence[Alert | Condition],
    streaks: Mapping[str, int],
    importance_share: Mapping[str, float],
    policy: Policy,
) -> Decision:
    """The window's action from what is wrong in it (its open alerts) and the drift streaks as
    of that window."""
    active_alerts = {alert.key: alert for alert in open_alerts}
    reasons: dict[Action, list[str]] = {Action.RETRAIN: [], Action.ESCALATE_FAIRNESS: []}
    sentences: list[str] = []

    performance = window.performance
    matured = performance is not None and performance.labelled >= policy.performance.min_support
    for alert in active_alerts.values():
        if alert.type == AlertType.PERFORMANCE and _estimated(alert):
            continue  # only matured label evidence may lead to RETRAIN
        if alert.type == AlertType.PERFORMANCE and matured:
            reasons[Action.RETRAIN].append(f"PERFORMANCE_DEGRADED:{alert.subject}")
            sentences.append(alert.explanation)
        elif alert.type == AlertType.BIAS and _own_problem(alert):
            reasons[Action.ESCALATE_FAIRNESS].append(f"RECALL_GAP:{alert.subject}")
            sentences.append(alert.explanation)

    rules = policy.decision
    for feature, streak in sorted(streaks.items()):
        share = importance_share.get(feature, 0.0)
        if streak >= rules.drift_persistence_windows and share >= rules.drift_min_importance_share:
            reasons[Action.RETRAIN].append(f"SUSTAINED_HIGH_DRIFT:{feature}")
            sentences.append(
                f"{feature} has drifted HIGH for {streak} consecutive windows and carries "
                f"{share:.0%} of the model's SHAP importance."
            )

    applicable = [action for action in PRECEDENCE if reasons[action]]
    action = applicable[0] if applicable else Action.NO_ACTION
    codes = tuple(code for a in applicable for code in reasons[a])
    if action == Action.NO_ACTION and active_alerts:
        codes = tuple(f"WATCHING:{key}" for key in sorted(active_alerts))
        explanation = (
            f"No action yet for the window of {window.start:%Y-%m-%d}: "
            f"{len(active_alerts)} open alert(s) ({', '.join(sorted(active_alerts))}) do not yet "
            "meet the policy for an action (matured label evidence, sustained high-impact drift "
            "or a confirmed recall gap)."
        )
    elif action == Action.NO_ACTION:
        codes = ("WITHIN_TOLERANCE",)
        explanation = (
            f"No action for the window of {window.start:%Y-%m-%d}: "
            "performance, drift and fairness are within the policy's tolerances."
        )
    else:
        explanation = f"{action.value} for the window of {window.start:%Y-%m-%d}. " + " ".join(
            sentences
        )
    return Decision(
        event_time=window.end,
        window_start=window.start,
        window_end=window.end,
        action=action,
        also=tuple(applicable[1:]),
        reasons=codes,
        explanation=explanation,
        alert_keys=tuple(sorted(active_alerts)),
    )
