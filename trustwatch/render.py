"""How alerts and decisions look in a terminal."""

from __future__ import annotations

from pydantic import BaseModel
from rich.text import Text

from shared.schemas import (
    Action,
    Alert,
    AlertSeverity,
    AlertStatus,
    Decision,
    DriftSeverity,
    DriftSignal,
    FairnessSignal,
    PerformanceSignal,
    WindowSignal,
)

SEVERITY_STYLE = {
    AlertSeverity.INFO: "cyan",
    AlertSeverity.WARNING: "yellow",
    AlertSeverity.CRITICAL: "bold red",
}
ACTION_STYLE = {
    Action.NO_ACTION: "green",
    Action.RETRAIN: "bold magenta",
    Action.ESCALATE_FAIRNESS: "bold red",
}


def alert_text(alert: Alert) -> Text:
    text = Text()
    text.append(f"{alert.window_start:%Y-%m-%d} ", style="dim")
    if alert.status == AlertStatus.RESOLVED:
        text.append("RESOLVED ", style="green")
    elif alert.status == AlertStatus.UPDATED:
        text.append("UPDATED  ", style=SEVERITY_STYLE[alert.severity])
    else:
        text.append(f"{alert.severity.value:<8} ", style=SEVERITY_STYLE[alert.severity])
    text.append(f"{alert.type.value:<12} {alert.subject:<16} ", style="bold")
    text.append(alert.explanation)
    return text


def decision_text(decision: Decision) -> Text:
    text = Text()
    text.append(f"{decision.window_start:%Y-%m-%d} ", style="dim")
    text.append("decision ", style="bold")
    text.append(f"{decision.action.value:<17} ", style=ACTION_STYLE[decision.action])
    text.append(", ".join(decision.reasons), style="dim")
    return text


def signal_text(signal: WindowSignal) -> Text:
    text = Text()
    text.append(f"{signal.window_start:%Y-%m-%d} ", style="dim")
    if isinstance(signal, PerformanceSignal):
        kind = "estimate   " if signal.provisional else "performance"
        text.append(f"{kind} ", style="bold")
        recall = "-" if signal.recall is None else f"{signal.recall:.2f}"
        auc = "-" if signal.roc_auc is None else f"{signal.roc_auc:.3f}"
        text.append(f"recall {recall} (baseline {signal.baseline_recall:.2f}) ROC-AUC {auc} "
                    f"n={signal.rows} labelled={signal.labelled}")  # fmt: skip
    elif isinstance(signal, DriftSignal):
        text.append("drift       ", style="bold")
        flagged = [f for f in signal.features if (f.confirmed or f.severity) != DriftSeverity.NONE]
        if not flagged:
            text.append("no feature drifted", style="green")
        for feature in flagged:
            level = feature.confirmed or feature.severity
            style = {"LOW": "cyan", "MEDIUM": "yellow", "HIGH": "bold red"}[level.value]
            text.append(f"{feature.feature} {level.value} (PSI {feature.psi:.2f})  ", style=style)
        if signal.quarantined_rows:
            text.append(f"quarantined {signal.quarantined_rows}", style="magenta")
    elif isinstance(signal, FairnessSignal):
        text.append("fairness    ", style="bold")
        for gap in signal.gaps:
            if gap.gap is not None:
                text.append(f"{gap.attribute} gap {gap.gap:.2f}  ")
    return text


def render(message: BaseModel) -> Text:
    if isinstance(message, Alert):
        return alert_text(message)
    if isinstance(message, Decision):
        return decision_text(message)
    if isinstance(message, WindowSignal):
        return signal_text(message)
    return Text(message.model_dump_json())


def wanted(message: BaseModel, types: set[str], severities: set[str]) -> bool:
    """Filters of ``trustwatch watch``: alert type and severity (decisions and signals pass)."""
    if not isinstance(message, Alert):
        return True
    if types and message.type.value not in types:
        return False
    return not severities or message.severity.value in severities
