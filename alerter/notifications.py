"""What Alertmanager is told of each problem (pure: the notifier in ``alerter/notifier.py`` reads
the topics and posts).

Each problem on the alert topic becomes one Alertmanager alert. Its labels name the problem and
never change while it lives, so that Alertmanager sees one alert and notifies once: the alert
type, the subject and the severity at opening, the model version, the problem's key and the day
of the window it fired in (a later problem on the same subject is another alert). What changes
(the headline, the severity now, the explanation, the decision of the window) goes in the
annotations. ``startsAt`` is when the alerter published the problem; an open problem is sent
again every resend interval with an end a few intervals ahead, as Prometheus does with its own
alerts, and its resolution is sent once with ``endsAt`` when the alerter resolved it.

Alertmanager notifies nobody of an alert it first sees resolved, nor of one resolved before its
group's first notification (``group_wait``). So a problem is sent as firing for at least the
group wait before its resolution is sent: one that resolved fast (a backfill, a fast replay) is
still notified. Problems read back at a restart count as sent already: the notifier before it
sent them.

Applying a message twice (a restart reads some of them again) changes nothing: what was read
is tracked per partition.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.handler import PartitionKey
from shared.schemas import Alert, AlertStatus, AlertType, Decision

# Alertmanager forgets an alert not sent again before its end: this many resend intervals ahead.
ENDS_AFTER_RESENDS = 4
# Decisions kept for alerts read after them (the two topics are read independently).
RECENT_DECISIONS = 16

ALERT_NAMES = {
    AlertType.PERFORMANCE: "TrustwatchPerformance",
    AlertType.DRIFT: "TrustwatchDrift",
    AlertType.CHANGE_POINT: "TrustwatchChangePoint",
    AlertType.BIAS: "TrustwatchBias",
    AlertType.DATA_QUALITY: "TrustwatchDataQuality",
}


def runbook_anchor(name: str) -> str:
    """The anchor of a runbook section titled ``name`` in docs/runbooks.md (how GitHub and
    most Markdown renderers make them).

    >>> runbook_anchor("TrustwatchDrift")
    'trustwatchdrift'
    """
    return name.lower()


@dataclass
class Notice:
    """One problem as Alertmanager knows it."""

    identity: tuple[str, str]  # (problem key, day of the window it fired in)
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    window_end: datetime
    ends_at: datetime | None = None  # set when resolved
    changed: bool = True  # not yet sent since it last changed
    sent_at: float | None = None  # monotonic seconds of the last successful send
    firing_sent_at: float | None = None  # ... of the first one

    @property
    def resolved(self) -> bool:
        return self.ends_at is not None

    def resolves(self, now: float, group_wait: float) -> bool:
        """Whether a send now is its resolution: resolved, and sent as firing long enough ago
        for Alertmanager to have notified it."""
        return (
            self.ends_at is not None
            and self.firing_sent_at is not None
            and now - self.firing_sent_at >= group_wait
        )

    def postable(self, now: datetime, resend_seconds: float, resolution: bool) -> dict[str, Any]:
        """The alert as Alertmanager's v2 API takes it (``POST /api/v2/alerts``): firing, with
        an end a few resend intervals ahead, or its resolution."""
        ends_at = now + timedelta(seconds=ENDS_AFTER_RESENDS * resend_seconds)
        if resolution and self.ends_at is not None:
            ends_at = self.ends_at
        return {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": self.starts_at.isoformat(),
            "endsAt": max(ends_at, self.starts_at).isoformat(),
        }


@dataclass
class Notifications:
    """The problems Alertmanager is told of, built from the alert and decision topics."""

    model_version: str
    runbook_url: str
    resend_seconds: float
    group_wait: float = 0.0  # Alertmanager's: how long a problem is sent as firing, at least
    open: dict[tuple[str, str], Notice] = field(default_factory=dict)
    resolved: list[Notice] = field(default_factory=list)  # until sent
    read_to: dict[PartitionKey, int] = field(default_factory=dict)
    decisions: deque[Decision] = field(default_factory=lambda: deque(maxlen=RECENT_DECISIONS))

    def seen(self, partition: PartitionKey, offset: int | None) -> bool:
        """Whether the message at ``offset`` was applied already; marks it read."""
        if offset is None:
            return False
        if offset < self.read_to.get(partition, 0):
            return True
        self.read_to[partition] = offset + 1
        return False

    def apply_alert(self, alert: Alert, published: datetime) -> Notice:
        identity = (alert.key, f"{alert.fired_window or alert.window_start:%Y-%m-%d}")
        notice = self.open.get(identity)
        if notice is None:
            notice = Notice(
                identity=identity,
                labels=self._labels(alert, identity),
                annotations={},
                starts_at=published,
                window_end=alert.window_end,
            )
        notice.annotations = self._annotations(alert, notice.labels["alertname"])
        notice.window_end = alert.window_end
        notice.changed = True
        decision = next((d for d in reversed(self.decisions) if alert.key in d.alert_keys), None)
        if decision is not None and decision.window_end >= alert.window_end:
            notice.annotations.update(_decision_annotations(decision))
        if alert.status is AlertStatus.RESOLVED:
            self.open.pop(identity, None)
            notice.ends_at = max(published, notice.starts_at)
            self.resolved.append(notice)
        else:
            self.open[identity] = notice
        return notice

    def apply_decision(self, decision: Decision) -> None:
        self.decisions.append(decision)
        for notice in [*self.open.values(), *self.resolved]:
            key = notice.identity[0]
            if key in decision.alert_keys and decision.window_end >= notice.window_end:
                notice.annotations.update(_decision_annotations(decision))
                notice.changed = True

    def due(self, now: float) -> list[Notice]:
        """What to send now: every change not yet sent, open problems not sent for a resend
        interval (Alertmanager must hear of them again before their end), and resolutions
        whose firing Alertmanager has had its group wait to notify."""
        stale = now - self.resend_seconds
        return [
            notice
            for notice in [*self.open.values(), *self.resolved]
            if notice.sent_at is None
            or notice.sent_at <= stale
            or (notice.changed and (not notice.resolved or notice.resolves(now, self.group_wait)))
        ]

    def resolution(self, notice: Notice, now: float) -> bool:
        return notice.resolves(now, self.group_wait)

    def sent(self, notices: list[Notice], now: float) -> None:
        """``notices`` went through at ``now`` (sent as :meth:`resolution` said then)."""
        finished = []
        for notice in notices:
            resolution = notice.resolves(now, self.group_wait)
            if resolution:
                finished.append(notice)
            # a resolution held back for the group wait is still to be sent
            notice.changed = notice.resolved and not resolution
            notice.sent_at = now
            if notice.firing_sent_at is None:
                notice.firing_sent_at = now
        self._forget(finished)

    def refused(self, notices: list[Notice], now: float) -> None:
        """Alertmanager refused ``notices``: resolutions are let go, open problems wait for
        their next resend."""
        for notice in notices:
            notice.changed = False
            notice.sent_at = now
        self._forget(notices)

    def _forget(self, notices: list[Notice]) -> None:
        gone = {id(notice) for notice in notices}
        self.resolved = [n for n in self.resolved if id(n) not in gone]

    def assume_sent(self) -> None:
        """Everything known now was sent by an earlier notifier (read back at a restart)."""
        for notice in [*self.open.values(), *self.resolved]:
            notice.firing_sent_at = float("-inf")

    def _labels(self, alert: Alert, identity: tuple[str, str]) -> dict[str, str]:
        kind, subject = _opened_as(alert)
        severity = alert.opening_severity or alert.severity
        return {
            "alertname": ALERT_NAMES[kind],
            "type": kind.value,
            "subject": subject,
            "severity": severity.value.lower(),
            "model_version": self.model_version,
            "problem": identity[0],
            "fired": identity[1],
        }

    def _annotations(self, alert: Alert, alertname: str) -> dict[str, str]:
        return {
            "summary": f"{alert.type.value} on {alert.subject}, {alert.severity.value} "
            f"({alert.status.value.lower()} in the window of {alert.window_start:%Y-%m-%d})",
            "description": alert.explanation,
            "severity_now": alert.severity.value.lower(),
            "window": f"{alert.window_start.isoformat()} to {alert.window_end.isoformat()}",
            "members": ", ".join(member.key for member in alert.members),
            "runbook_url": f"{self.runbook_url}#{runbook_anchor(alertname)}",
        }


def _opened_as(alert: Alert) -> tuple[AlertType, str]:
    """The type and subject the problem opened with, which its key spells (``TYPE:subject``,
    ``@day`` added when the same condition came back before the last one resolved); the
    headline may have moved to another condition since."""
    kind, _, subject = alert.key.split("@", 1)[0].partition(":")
    if kind in AlertType.__members__ and subject:
        return AlertType(kind), subject
    return alert.type, alert.subject


def _decision_annotations(decision: Decision) -> dict[str, str]:
    actions = ", ".join(action.value for action in (decision.action, *decision.also))
    return {"decision": f"{actions}: {decision.explanation}"}
