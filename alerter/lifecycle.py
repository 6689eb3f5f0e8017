"""Alert lifecycle (pure): fire once, update on escalation, resolve after clear windows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from alerter.rules import Condition, WindowSignals, source_of
from shared.schemas import Alert, AlertSeverity, AlertStatus

_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}


@dataclass
class AlertBook:
    """The open alerts by key, the monitor each came from, and how many windows each has been
    clear on that monitor."""

    resolve_after_clear_windows: int
    active: dict[str, Alert] = field(default_factory=dict)
    clear_windows: dict[str, int] = field(default_factory=dict)
    source_of: dict[str, str] = field(default_factory=dict)

    def apply(self, window: WindowSignals, holding: list[Condition]) -> list[Alert]:
        """All three monitors' conditions of one window at once (see :meth:`apply_source`)."""
        published: list[Alert] = []
        for signal in (window.performance, window.drift, window.fairness, window.estimate):
            if signal is None:
                continue
            source = source_of(signal)
            own = [c for c in holding if c.source == source]
            published += self.apply_source(source, window.start, window.end, own)
        return published

    def restore(self, alerts: list[Alert]) -> None:
        """Rebuild the open alerts from the alerts topic (oldest first), after a restart."""
        for alert in alerts:
            if alert.status == AlertStatus.FIRING:
                self.active[alert.key] = alert
                self.source_of[alert.key] = str(alert.evidence.get("source", ""))
            else:
                self.active.pop(alert.key, None)
                self.clear_windows.pop(alert.key, None)

    def apply_source(
        self, source: str, start: datetime, end: datetime, holding: list[Condition]
    ) -> list[Alert]:
        """Alerts to publish for one monitor's window: new firings, escalations, resolutions.

        Only alerts that came from ``source`` can be cleared by it.
        """
        window = _Window(start, end)
        published: list[Alert] = []
        holding_keys = set()
        for condition in holding:
            holding_keys.add(condition.key)
            self.clear_windows.pop(condition.key, None)
            current = self.active.get(condition.key)
            if current is not None and _RANK[condition.severity] <= _RANK[current.severity]:
                continue  # still holding, already announced at this severity or higher
            self.source_of[condition.key] = source
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
                evidence={**condition.evidence, "source": source},
            )
            self.active[condition.key] = alert
            published.append(alert)
        mine = {key for key in self.active if self.source_of.get(key) in (source, "")}
        for key in sorted(mine - holding_keys):
            cleared = self.clear_windows.get(key, 0) + 1
            self.clear_windows[key] = cleared
            if cleared < self.resolve_after_clear_windows:
                continue
            fired = self.active.pop(key)
            self.clear_windows.pop(key)
            self.source_of.pop(key, None)
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


@dataclass(frozen=True)
class _Window:
    start: datetime
    end: datetime
