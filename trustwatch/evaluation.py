"""Scoring alerts against the scenario's ground truth (pure): what was caught, by what, how late."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from pydantic import AwareDatetime, BaseModel, ConfigDict

from shared.schemas import Alert, AlertStatus, AlertType, DriftKind, ScenarioEvent

# Which alert types can be said to have caught an injected step of each kind, and whether the
# alert's subject must be the step's target.
CATCHERS: dict[DriftKind, tuple[tuple[AlertType, bool], ...]] = {
    DriftKind.COVARIATE: ((AlertType.DRIFT, True),),
    DriftKind.PRIOR: ((AlertType.PERFORMANCE, False), (AlertType.DRIFT, False)),
    DriftKind.CONCEPT: ((AlertType.PERFORMANCE, False), (AlertType.CHANGE_POINT, False)),
    DriftKind.GROUP_BIAS: ((AlertType.BIAS, True),),
    DriftKind.SCHEMA: ((AlertType.DATA_QUALITY, False),),
}


class InjectedOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str
    target: str
    start: AwareDatetime
    end: AwareDatetime | None
    caught_by: str | None
    delay_windows: int | None


def catches(alert: Alert, step: ScenarioEvent) -> bool:
    if alert.status == AlertStatus.RESOLVED:
        return False  # a firing or an update (whose headline may be better explained) catches
    if alert.window_end <= step.start or (step.end is not None and alert.window_start >= step.end):
        return False
    for alert_type, same_subject in CATCHERS[step.kind]:
        if alert.type == alert_type and (not same_subject or alert.subject == step.target):
            return True
    return False


def score_injections(
    steps: Sequence[ScenarioEvent], alerts: Sequence[Alert], window: timedelta
) -> list[InjectedOutcome]:
    """For each step, the first alert that caught it and its delay in whole windows (0: onset).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> day = timedelta(days=1)
    >>> t0 = datetime(2026, 3, 8, tzinfo=UTC)
    >>> step = ScenarioEvent(event_time=t0, scenario="s", run_id="r", step_id="x",
    ...     kind=DriftKind.COVARIATE, target="tenure", start=t0, end=None, description="")
    >>> alert = Alert(event_time=t0 + 2 * day, key="DRIFT:tenure", status=AlertStatus.FIRING,
    ...     type=AlertType.DRIFT, severity="CRITICAL", subject="tenure", explanation="",
    ...     window_start=t0 + day, window_end=t0 + 2 * day)
    >>> score_injections([step], [alert], day)[0].delay_windows
    1
    """
    outcomes = []
    for step in steps:
        caught = sorted((a for a in alerts if catches(a, step)), key=lambda a: a.window_start)
        first = caught[0] if caught else None
        delay = None
        if first is not None:
            delay = max(0, (first.window_end - step.start - timedelta(microseconds=1)) // window)
        outcomes.append(
            InjectedOutcome(
                kind=step.kind.value,
                target=step.target,
                start=step.start,
                end=step.end,
                caught_by=first.type.value if first else None,
                delay_windows=delay,
            )
        )
    return outcomes
