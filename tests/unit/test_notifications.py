"""What the notifier tells Alertmanager of each problem, and when (no broker, no Alertmanager:
tests/integration/test_prometheus.py sends the `full` scenario's problems to a real one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from alerter.notifications import ENDS_AFTER_RESENDS, Notifications
from alerter.notifier import AlertmanagerError, NotifierHandler
from shared.schemas import Action, Alert, AlertSeverity, AlertStatus, AlertType, Decision

DAY = timedelta(days=1)
START = datetime(2026, 3, 5, tzinfo=UTC)
PUBLISHED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
RESEND = 60.0


def _alert(status: AlertStatus, day: int, **changes) -> Alert:
    fields = dict(
        event_time=START + (day + 1) * DAY,
        key="DRIFT:tenure",
        status=status,
        type=AlertType.DRIFT,
        severity=AlertSeverity.WARNING,
        subject="tenure",
        explanation=f"tenure drifted (day {day})",
        window_start=START + day * DAY,
        window_end=START + (day + 1) * DAY,
        opened=START,
        fired_window=START,
    )
    return Alert(**(fields | changes))


def _decision(day: int, keys: tuple[str, ...] = ("DRIFT:tenure",)) -> Decision:
    return Decision(
        event_time=START + (day + 1) * DAY,
        window_start=START + day * DAY,
        window_end=START + (day + 1) * DAY,
        action=Action.RETRAIN,
        reasons=("drift",),
        explanation="retrain on recent data",
        alert_keys=keys,
    )


def _notifications() -> Notifications:
    return Notifications(model_version="v1", runbook_url="https://runbooks/x.md",
                         resend_seconds=RESEND)  # fmt: skip


def test_a_problems_labels_stay_those_it_fired_with_while_its_annotations_follow_it():
    notes = _notifications()
    fired = notes.apply_alert(_alert(AlertStatus.FIRING, 0), PUBLISHED)
    labels = dict(fired.labels)
    assert labels == {
        "alertname": "TrustwatchDrift", "type": "DRIFT", "subject": "tenure",
        "severity": "warning", "model_version": "v1", "problem": "DRIFT:tenure",
        "fired": "2026-03-05",
    }  # fmt: skip
    # worse, and headed by another condition now: the same Alertmanager alert
    # (a late signal moved the day it opened earlier, too)
    worse = _alert(AlertStatus.UPDATED, 1, severity=AlertSeverity.CRITICAL,
                   opening_severity=AlertSeverity.WARNING, type=AlertType.PERFORMANCE,
                   subject="recall", opened=START - DAY)  # fmt: skip
    updated = notes.apply_alert(worse, PUBLISHED + timedelta(minutes=1))
    assert updated is fired and updated.labels == labels
    assert updated.annotations["severity_now"] == "critical"
    assert updated.annotations["runbook_url"] == "https://runbooks/x.md#trustwatchdrift"
    assert "day 1" in updated.annotations["description"]
    assert updated.starts_at == PUBLISHED


def test_a_condition_back_before_the_last_one_resolved_keeps_its_own_type_and_subject():
    notes = _notifications()
    again = _alert(AlertStatus.FIRING, 3, key="DRIFT:tenure@2026-03-08", opened=START + 3 * DAY,
                   fired_window=START + 3 * DAY)  # fmt: skip
    notice = notes.apply_alert(again, PUBLISHED)
    assert (notice.labels["type"], notice.labels["subject"]) == ("DRIFT", "tenure")
    assert notice.labels["problem"] == "DRIFT:tenure@2026-03-08"


def test_open_problems_are_sent_again_each_resend_interval_and_resolutions_once():
    notes = _notifications()
    notes.apply_alert(_alert(AlertStatus.FIRING, 0), PUBLISHED)
    due = notes.due(now=100.0)
    assert len(due) == 1
    wall = PUBLISHED + timedelta(seconds=5)
    postable = due[0].postable(wall, RESEND, resolution=False)
    assert postable["startsAt"] == PUBLISHED.isoformat()
    assert postable["endsAt"] == (wall + ENDS_AFTER_RESENDS * timedelta(seconds=RESEND)).isoformat()
    notes.sent(due, now=100.0)
    assert notes.due(now=100.0 + RESEND - 1) == []
    assert len(notes.due(now=100.0 + RESEND)) == 1  # Alertmanager must hear of it again
    resolved_at = PUBLISHED + timedelta(minutes=3)
    notes.apply_alert(_alert(AlertStatus.RESOLVED, 2), resolved_at)
    assert notes.open == {}
    [resolution] = notes.due(now=101.0)
    assert notes.resolution(resolution, 101.0)
    assert resolution.postable(wall, RESEND, True)["endsAt"] == resolved_at.isoformat()
    notes.sent([resolution], now=101.0)
    assert notes.due(now=1e9) == []


def test_a_problem_that_resolved_fast_is_sent_firing_for_the_group_wait_before_its_resolution():
    notes = Notifications(model_version="v1", runbook_url="r", resend_seconds=RESEND,
                          group_wait=30.0)  # fmt: skip
    notes.apply_alert(_alert(AlertStatus.FIRING, 0), PUBLISHED)
    notes.apply_alert(_alert(AlertStatus.RESOLVED, 1), PUBLISHED + timedelta(seconds=1))
    [notice] = notes.due(0.0)
    assert not notes.resolution(notice, 0.0)  # Alertmanager would notify nobody of it
    notes.sent([notice], 0.0)
    assert notes.due(29.0) == []
    assert notes.due(30.0) == [notice] and notes.resolution(notice, 30.0)
    notes.sent([notice], 30.0)
    assert notes.due(1e9) == []


def test_problems_read_back_at_a_restart_count_as_notified_already():
    notes = Notifications(model_version="v1", runbook_url="r", resend_seconds=RESEND,
                          group_wait=30.0)  # fmt: skip
    notes.apply_alert(_alert(AlertStatus.FIRING, 0), PUBLISHED)
    notes.apply_alert(_alert(AlertStatus.RESOLVED, 1), PUBLISHED)
    notes.apply_alert(_alert(AlertStatus.FIRING, 2, key="BIAS:gender"), PUBLISHED)
    notes.assume_sent()
    due = notes.due(0.0)
    assert {n.identity[0]: notes.resolution(n, 0.0) for n in due} == {
        "DRIFT:tenure": True,  # its resolution at once: no firing sent again for it
        "BIAS:gender": False,
    }


def test_a_message_read_twice_changes_nothing():
    notes = _notifications()
    key = ("test.alerts", 0)
    assert not notes.seen(key, 0)
    notes.apply_alert(_alert(AlertStatus.FIRING, 0), PUBLISHED)
    assert not notes.seen(key, 1)
    notes.apply_alert(_alert(AlertStatus.RESOLVED, 1), PUBLISHED)
    assert notes.seen(key, 0) and notes.seen(key, 1)  # a restart reads them again: skipped
    assert not notes.seen(key, 2)


@pytest.mark.parametrize("decision_first", [True, False], ids=["decision first", "alert first"])
def test_the_decision_of_the_window_is_an_annotation_whichever_topic_is_read_first(decision_first):
    notes = _notifications()
    if decision_first:
        notes.apply_decision(_decision(0))
        notes.apply_decision(_decision(0, keys=("BIAS:gender",)))
    notice = notes.apply_alert(_alert(AlertStatus.FIRING, 0), PUBLISHED)
    if not decision_first:
        notes.sent(notes.due(0.0), 0.0)
        notes.apply_decision(_decision(0))
        assert notes.due(1.0) == [notice]  # changed: sent again at once
    assert notice.annotations["decision"] == "RETRAIN: retrain on recent data"


def test_an_unreachable_alertmanager_is_retried_with_a_doubling_backoff_up_to_the_resend():
    clock = [0.0]
    calls: list[float] = []

    def post(url, alerts):
        calls.append(clock[0])
        if clock[0] < 200:
            raise AlertmanagerError("unreachable (connection refused)", retry=True)

    notes = _notifications()
    handler = NotifierHandler(notes, "http://am:9093", post=post, clock=lambda: clock[0])
    notes.apply_alert(_alert(AlertStatus.FIRING, 0), PUBLISHED)
    while clock[0] < 260:
        handler.send_due()
        clock[0] += 0.5
    gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    assert gaps[:7] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0]
    # once through, the open problem is not sent again before the resend interval
    assert calls[-1] >= 200 and notes.due(clock[0]) == []


def test_alerts_alertmanager_refuses_are_not_sent_again():
    def post(url, alerts):
        raise AlertmanagerError("HTTP 400: bad alert", retry=False)

    notes = _notifications()
    handler = NotifierHandler(notes, "http://am:9093", post=post, clock=lambda: 0.0)
    notes.apply_alert(_alert(AlertStatus.RESOLVED, 0), PUBLISHED)
    assert handler.send_due() == 0
    assert notes.due(0.0) == []
