"""Alert lifecycle (pure): fire once, update on escalation, resolve after clear windows."""

from __future__ import annotations

from dataclasses import dataclass, field

from alerter.rules import Condition, WindowSignals
from shared.schemas import Alert, AlertSeverity, AlertStatus

_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}


@dataclass
class AlertBook:
    """The open alerts by key, and how many windows each has been clear."""

    resolve_after_clear_windows: int
    active: dict[str, Alert] = field(default_factory=dict)
    clear_windows: dict[str, int] = field(default_factory=dict)

    def apply(self, window: WindowSignals, holding: list[Condition]) -> list[Alert]:
        """Alerts to publish for this window: new firings, escalations and resolutions."""
        published: list[Alert] = []
        holding_keys = set()
        for condition in holding:
            holding_keys.add(condition.key)
            self.clear_windows.pop(condition.key, None)
            current = self.active.get(condition.key)
            if current is not None and _RANK[condition.severity] <= _RANK[current.severity]:
                continue  # still holding, already announced at this severity or higher
            alert = Alert(
                event_time=window.end,
                key=condition.key,
                status=AlertStatus.FIRING,
                type=condition.type,
                severity=condition.severity,
                subject=condition.subject,
                explanation=condition.explanation,
                window_start=window.start,
                window_end=window.end,
                evidence=condition.evidence,
            )
            self.active[condition.key] = alert
            published.append(alert)
        for key in sorted(set(self.active) - holding_keys):
            cleared = self.clear_windows.get(key, 0) + 1
            self.clear_windows[key] = cleared
            if cleared < self.resolve_after_clear_windows:
                continue
            fired = self.active.pop(key)
            self.clear_windows.pop(key)
            published.append(
                fired.model_copy(
                    update={
                        "event_time": window.end,
                        "status": AlertStatus.RESOLVED,
                        "window_start": window.start,
                        "window_end": window.end,
                        "explanation": (
                            f"Resolved: {fired.subject} has been clear for {cleared} window(s) "
                            f"since the window of {fired.window_start:%Y-%m-%d}."
                        ),
                    }
                )
            )
        return published
