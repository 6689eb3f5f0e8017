"""How alerts and decisions look in a terminal."""

from __future__ import annotations

from rich.text import Text

from shared.schemas import Action, Alert, AlertSeverity, AlertStatus, Decision

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
