"""Scoring alerts against the scenario's ground truth (pure): what was caught, by what, how late."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

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


class StepJudgement(BaseModel):
    """One injected step judged over a whole run: caught or not, how late, by how many alerts,
    and how soon after its end everything it raised resolved."""

    model_config = ConfigDict(frozen=True)

    kind: str
    target: str
    caught_by: str | None
    delay_windows: int | None
    # problems that fired while the step was on, or in the windows it takes to settle after it
    problems: int
    # windows from the step's end to the end of the window its last problem resolved in (None:
    # the step never ended, or a problem of it was still open at the end of the run)
    resolved_windows: int | None
    unresolved: bool


class RunJudgement(BaseModel):
    """A run against its ground truth. False alarms are problems that fired in a window outside
    every step and its settling windows, counted per phase of the run: before the first step
    (the whole of a run without steps), between steps, after the last one ended."""

    model_config = ConfigDict(frozen=True)

    steps: list[StepJudgement]
    false_alarms: dict[str, int]
    clean_windows: dict[str, int]


PHASES = ("before", "between", "after")


def _fired(alert: Alert) -> datetime:
    return alert.fired_window or alert.window_start


def judge_run(
    steps: Sequence[ScenarioEvent],
    alerts: Sequence[Alert],
    origin: datetime,
    window: timedelta,
    windows: int,
    settle_windows: int = 3,
) -> RunJudgement:
    """Judge a run of ``windows`` windows from ``origin``; a step's problems are those that fired
    from its start to ``settle_windows`` after its end (the resolution allowed), attributed to
    the latest step begun by then.

    Examples
    --------
    >>> from datetime import UTC
    >>> day = timedelta(days=1)
    >>> t0 = datetime(2026, 3, 1, tzinfo=UTC)
    >>> step = ScenarioEvent(event_time=t0, scenario="s", run_id="r", step_id="x",
    ...     kind=DriftKind.COVARIATE, target="tenure", start=t0 + 4 * day, end=t0 + 6 * day,
    ...     description="")
    >>> def alert(status, day_index, fired_index):
    ...     start = t0 + day_index * day
    ...     return Alert(event_time=start + day, key="DRIFT:tenure", status=status,
    ...         type=AlertType.DRIFT, severity="CRITICAL", subject="tenure", explanation="",
    ...         window_start=start, window_end=start + day, fired_window=t0 + fired_index * day)
    >>> run = judge_run([step], [alert(AlertStatus.FIRING, 4, 4), alert(AlertStatus.RESOLVED, 7, 4),
    ...     alert(AlertStatus.FIRING, 12, 12)], t0, day, 14)
    >>> run.steps[0].delay_windows, run.steps[0].problems, run.steps[0].resolved_windows
    (0, 1, 2)
    >>> run.false_alarms, run.clean_windows
    ({'before': 0, 'between': 0, 'after': 1}, {'before': 4, 'between': 0, 'after': 5})
    """
    settle = window * settle_windows
    ordered = sorted(steps, key=lambda s: s.start)
    far = origin + window * (windows + settle_windows)

    def span_end(step: ScenarioEvent) -> datetime:
        return far if step.end is None else step.end + settle

    def step_at(moment: datetime) -> ScenarioEvent | None:
        begun = [s for s in ordered if s.start <= moment < span_end(s)]
        return begun[-1] if begun else None

    def phase(moment: datetime) -> str:
        if not ordered or moment < ordered[0].start:
            return "before"
        return "after" if all(moment >= span_end(s) for s in ordered) else "between"

    clean = dict.fromkeys(PHASES, 0)
    for index in range(windows):
        start = origin + window * index
        if step_at(start) is None:
            clean[phase(start)] += 1
    false_alarms = dict.fromkeys(PHASES, 0)
    problems: dict[str, list[tuple[str, datetime]]] = {s.step_id: [] for s in ordered}
    resolved: dict[tuple[str, datetime], Alert] = {}
    for alert in alerts:
        identity = (alert.key, _fired(alert))
        if alert.status == AlertStatus.RESOLVED:
            resolved[identity] = alert
        elif alert.status == AlertStatus.FIRING:
            owner = step_at(_fired(alert))
            if owner is None:
                false_alarms[phase(_fired(alert))] += 1
            elif identity not in problems[owner.step_id]:
                problems[owner.step_id].append(identity)
    judged = []
    for step, outcome in zip(ordered, score_injections(ordered, alerts, window), strict=True):
        own = problems[step.step_id]
        unresolved = any(identity not in resolved for identity in own)
        resolved_windows = None
        if step.end is not None and own and not unresolved:
            last = max(resolved[identity].window_end for identity in own)
            resolved_windows = max(0, -(-(last - step.end) // window))
        judged.append(
            StepJudgement(
                kind=outcome.kind,
                target=outcome.target,
                caught_by=outcome.caught_by,
                delay_windows=outcome.delay_windows,
                problems=len(own),
                resolved_windows=resolved_windows,
                unresolved=step.end is not None and unresolved,
            )
        )
    return RunJudgement(steps=judged, false_alarms=false_alarms, clean_windows=clean)
