"""Alert lifecycle (pure): one alert per problem, from firing through updates to resolution.

One problem shows on several monitors at once: a concept shift lowers recall and ROC-AUC, raises
the churn rate, trips the change detector and widens recall gaps, all in the same window. So the
conditions that begin within ``group_within_windows`` windows of each other form one problem and
one alert. Its headline is the condition that best explains the others (:func:`cause_rank`; of
recall gaps, the widest); the rest are listed as its members. Broken data is never grouped with
anything else: it asks for a different fix.

The alert fires once, is UPDATED when the problem gets worse, shows a new symptom or is better
explained (a recall gap shown to be confined to one group), and resolves once every member has
been clear for ``resolve_after_clear_windows`` windows of its own monitor.

Monitors report at their own pace (labels come late; a consumer catching up reads one topic ahead
of another), so grouping and resolution go by window time, not by arrival: a problem resolves
only once every monitor has judged the window it became clear in. Until then a monitor that is
behind can still add what it saw to the problem.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import cast

from alerter.rules import (
    SOURCES,
    SYMPTOM_RANK,
    Condition,
    OpenCondition,
    WindowSignals,
    cause_order,
    cause_rank,
    source_of,
)
from shared.schemas import Alert, AlertMember, AlertSeverity, AlertStatus, AlertType

_RANK = {AlertSeverity.INFO: 0, AlertSeverity.WARNING: 1, AlertSeverity.CRITICAL: 2}
_UNRANKED = (99, 0.0)  # a member not seen yet as of a window
_CLOSED_KEPT = 64  # resolved problems kept to weigh the conditions of windows not yet decided


def _family(condition: Condition) -> str:
    return "data" if condition.type == AlertType.DATA_QUALITY else "model"


@dataclass
class _Member:
    condition: Condition
    since: datetime
    clear_windows: int = 0
    cleared: tuple[datetime, datetime] | None = None  # the window its clearing completed in
    # the cause order it showed in each window (:func:`cause_order`)
    ranks: dict[datetime, tuple[int, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ranks.setdefault(self.since, cause_order(self.condition))

    def rank(self, as_of: datetime | None = None) -> tuple[int, float]:
        """Its best cause rank so far (once shown, it stays), then its mean excess gap over the
        windows it showed in: one wide window of a diluted gap does not outrank the gap it
        comes from."""
        shown = [r for w, r in self.ranks.items() if as_of is None or w <= as_of]
        if not shown:
            return _UNRANKED
        return min(rank for rank, _ in shown), statistics.fmean(order for _, order in shown)


@dataclass
class Problem:
    """An open alert: its members by key, its headline, and the last message published."""

    key: str
    opened: datetime
    family: str
    headline: str
    members: dict[str, _Member]
    alert: Alert | None = None

    def headline_as_of(self, start: datetime) -> str:
        """The headline as the windows up to ``start`` show it, whatever arrived since: the
        decision of a window must not depend on which monitor's signal came first."""
        return min(self.members, key=lambda k: (self.members[k].rank(start),
                                                self.members[k].since, k))  # fmt: skip

    def holding(self) -> dict[str, _Member]:
        """Members not yet cleared (all of them, once every one has cleared)."""
        live = {k: m for k, m in self.members.items() if m.cleared is None}
        return live or self.members

    def severity(self) -> AlertSeverity:
        return max((m.condition.severity for m in self.holding().values()), key=_RANK.__getitem__)

    def cleared(self) -> tuple[datetime, datetime] | None:
        """The window the problem cleared in: once its headline and every member the headline
        does not explain have cleared. A symptom the headline explains (a rolling gap, a
        confirmed drift) may lag its cause; it does not hold the problem open, and if it goes on
        after its cause is gone, it is a problem of its own."""
        cause = self.headline_condition()
        counted = [
            m
            for key, m in self.members.items()
            if key == self.headline or not explains(cause, m.condition)
        ]
        windows = [m.cleared for m in counted if m.cleared is not None]
        if len(windows) < len(counted):
            return None
        return max(windows)

    def showed_before(self, start: datetime, span: timedelta) -> bool:
        """Whether the problem showed in a window of the ``span`` before the window at
        ``start``: its headline, or a member the headline does not explain (a small window
        shows a fall in recall only now and then, its ROC-AUC in others)."""
        cause = self.headline_condition()
        return any(
            _showed_before(m, start, span)
            for key, m in self.members.items()
            if key == self.headline or not explains(cause, m.condition)
        )

    def headline_condition(self) -> Condition:
        return self.members[self.headline].condition


@dataclass
class AlertBook:
    """The open problems by alert key."""

    resolve_after_clear_windows: int
    group_within_windows: int = 1
    # the monitors whose windows must all be judged before a problem resolves
    sources: tuple[str, ...] = tuple(SOURCES.values())
    problems: dict[str, Problem] = field(default_factory=dict)
    closed: deque[Problem] = field(default_factory=lambda: deque(maxlen=_CLOSED_KEPT))
    judged: dict[str, datetime] = field(default_factory=dict)  # latest window start per source

    @property
    def active(self) -> dict[str, Alert]:
        return {key: p.alert for key, p in self.problems.items() if p.alert is not None}

    def open_conditions(self) -> dict[str, OpenCondition]:
        """Every member of every open problem, by condition key."""
        return {
            key: OpenCondition(member.condition, member.since)
            for problem in self.problems.values()
            for key, member in problem.members.items()
            if member.cleared is None
        }

    def open_gaps(self) -> dict[str, int]:
        """The attributes with an open recall gap, each with the windows of its monitor it has
        been clear in since it last held (0: it held in the latest)."""
        gaps: dict[str, int] = {}
        for problem in self.problems.values():
            for member in problem.members.values():
                condition = member.condition
                if condition.type == AlertType.BIAS and member.cleared is None:
                    clear = min(gaps.get(condition.subject, member.clear_windows),
                                member.clear_windows)  # fmt: skip
                    gaps[condition.subject] = clear
        return gaps

    def with_roles(self, holding: list[Condition], start: datetime) -> list[Condition]:
        """``holding`` (in the window at ``start``) with each condition's part in its problem:
        the headline of another condition's alert is named in ``symptom_of``."""
        marked = []
        for condition in holding:
            problem = self._problem_with(condition.key, start, [*self.closed])
            headline = problem.headline_as_of(start) if problem is not None else None
            if headline is not None and headline != condition.key:
                condition = replace(condition, symptom_of=headline)
            marked.append(condition)
        return marked

    def restore(self, alerts: list[Alert]) -> None:
        """Rebuild the open problems from the alerts topic (oldest first), after a restart."""
        for alert in alerts:
            if alert.status == AlertStatus.RESOLVED:
                self.problems.pop(alert.key, None)
                continue
            members = alert.members or (_member_of(alert),)
            self.problems[alert.key] = Problem(
                key=alert.key,
                opened=alert.opened or alert.window_start,
                family="data" if alert.type == AlertType.DATA_QUALITY else "model",
                headline=f"{alert.type.value}:{alert.subject}",
                members={m.key: _Member(_condition_of(m), m.since) for m in members},
                alert=alert,
            )

    def apply(self, window: WindowSignals, holding: list[Condition]) -> list[Alert]:
        """All monitors' conditions of one window at once (see :meth:`apply_source`), with one
        message per alert: a problem that opens and gains members in the window fires once."""
        published: dict[str, Alert] = {}
        for signal in (window.performance, window.drift, window.fairness, window.estimate):
            if signal is None:
                continue
            source = source_of(signal)
            own = [c for c in holding if c.source == source]
            for alert in self.apply_source(source, window.start, window.end, own):
                earlier = published.get(alert.key)
                opened = earlier is not None and earlier.status == AlertStatus.FIRING
                if opened and alert.status == AlertStatus.UPDATED:
                    alert = alert.model_copy(update={"status": AlertStatus.FIRING})
                published[alert.key] = alert
        return list(published.values())

    def apply_source(
        self, source: str, start: datetime, end: datetime, holding: list[Condition]
    ) -> list[Alert]:
        """Alerts to publish after one monitor's window: new problems, updates, resolutions.

        Only members that came from ``source`` can be cleared by it.
        """
        opened: set[str] = set()
        changed: set[str] = set()
        # the best explanation first, so that it opens the problem the others join
        for condition in sorted(holding, key=cause_order):
            problem = self._problem_with(condition.key, start) or self._joinable(
                condition, start, end
            )
            if problem is None:
                key = condition.key
                if key in self.problems:  # the last one is still waiting to resolve
                    key = f"{key}@{start:%Y-%m-%d}"
                problem = Problem(
                    key=key,
                    opened=start,
                    family=_family(condition),
                    headline=condition.key,
                    members={condition.key: _Member(condition, start)},
                )
                self.problems[problem.key] = problem
                opened.add(problem.key)
                continue
            severity = problem.severity()
            # a monitor that is behind may show the problem in an earlier window than the one
            # it was opened in: it was first seen then
            problem.opened = min(problem.opened, start)
            member = problem.members.get(condition.key)
            if member is None:
                problem.members[condition.key] = _Member(condition, start)
                changed.add(problem.key)
            else:
                member.condition, member.clear_windows, member.cleared = condition, 0, None
                member.since = min(member.since, start)
                shown = member.ranks.get(start, _UNRANKED)
                member.ranks[start] = min(cause_order(condition), shown)
            member = problem.members[condition.key]
            if member.rank() < problem.members[problem.headline].rank():
                problem.headline = condition.key
                changed.add(problem.key)
            if _RANK[problem.severity()] > _RANK[severity]:
                changed.add(problem.key)
        holding_keys = {c.key for c in holding}
        published = [
            self._publish(self.problems[k], AlertStatus.FIRING, start, end) for k in sorted(opened)
        ]
        published += [
            self._publish(self.problems[k], AlertStatus.UPDATED, start, end)
            for k in sorted(changed - opened)
        ]
        published += self._clear(source, holding_keys, start, end)
        return published

    def _clear(self, source: str, holding: set[str], start: datetime, end: datetime) -> list[Alert]:
        self.judged[source] = max(start, self.judged.get(source, start))
        for problem in self.problems.values():
            for key, member in problem.members.items():
                if key in holding or member.condition.source not in (source, ""):
                    continue
                if member.since > start or member.cleared is not None:
                    continue  # a window from before it began, or already cleared
                member.clear_windows += 1
                if member.clear_windows >= self.resolve_after_clear_windows:
                    member.cleared = (start, end)
        judged = [self.judged[s] for s in self.sources if s in self.judged]
        if len(judged) < len(self.sources):
            return []
        watermark = min(judged)
        published = []
        for problem in list(self.problems.values()):
            cleared = problem.cleared()
            if cleared is not None and cleared[0] <= watermark:
                published.append(self._resolve(problem, *cleared))
        return published

    def _problem_with(
        self, condition_key: str, start: datetime, closed: list[Problem] | None = None
    ) -> Problem | None:
        """The open problem (or one of the ``closed``) that ``condition_key`` is part of as of
        the window at ``start``. A member that cleared and comes back rejoins its problem while
        the problem is open and its headline (the cause it was seen with) still holds; the
        headline itself, while its problem still shows (a fall in recall that small windows
        show only now and then); else it begins a new problem."""
        for problem in [*self.problems.values(), *(closed or [])]:
            member = problem.members.get(condition_key)
            if member is None or start < member.since - self._span(problem):
                continue
            if member.cleared is None or start <= member.cleared[0]:
                return problem
            if self.problems.get(problem.key) is not problem:
                continue
            span = self._span(problem)
            if condition_key == problem.headline:
                if problem.showed_before(start, span):
                    return problem
            elif _showed_before(problem.members[problem.headline], start, span):
                return problem
        return None

    def _span(self, problem: Problem) -> timedelta:
        """The grouping span in the problem's window length (none before it is published): how
        far before a member's first window a monitor that is behind may still report it as part
        of the problem, and how recently a headline must have shown to still be there."""
        if problem.alert is None:
            return timedelta(0)
        return (problem.alert.window_end - problem.alert.window_start) * self.group_within_windows

    def _joinable(self, condition: Condition, start: datetime, end: datetime) -> Problem | None:
        """The problem of the same family a new condition joins: the latest opened within the
        grouping span of ``start``; else, for a symptom (``SYMPTOM_RANK``), the latest one that
        still shows (:meth:`Problem.showed_before`) and whose headline explains it
        (:func:`explains`): a symptom may show a few windows
        after its cause, as a rolling statistic or a confirmed drift does. So may a recall gap
        that explains the headline, and a gap of another attribute while one of the problem's
        gaps is still open. Any other cause that begins later (drifted inputs, broken data,
        performance) is a problem of its own."""
        span = (end - start) * self.group_within_windows
        family = [
            p
            for p in self.problems.values()
            if p.family == _family(condition)
            and ((cleared := p.cleared()) is None or start <= cleared[0])
        ]
        near = [p for p in family if abs(start - p.opened) <= span]
        if near:
            return max(near, key=lambda p: p.opened)
        # still there: it showed in the grouping span before this window, or in the earlier
        # windows this condition's own evidence covers (a gap pooled over windows)
        covered = (end - start) * (int(condition.evidence.get("windows") or 1) - 1)
        ongoing = [p for p in family if p.opened <= start
                   and p.showed_before(start, max(span, covered))]  # fmt: skip
        explained = [
            p
            for p in ongoing
            if cause_rank(condition) >= SYMPTOM_RANK and explains(p.headline_condition(), condition)
        ]
        # a gap confined to one group explains a fall in overall recall, and takes more windows
        # to show than the fall: it joins the problem as its better explanation
        explaining = [
            p
            for p in ongoing
            if condition.type == AlertType.BIAS and explains(condition, p.headline_condition())
        ]
        # one group the model fails shows in every attribute whose groups hold it unevenly: a
        # gap of another attribute while one of the problem's gaps is still open is the same
        # problem, whichever of the two is the wider (the wider heads it)
        siblings = [
            p
            for p in family
            if condition.type == AlertType.BIAS
            and p.opened <= start
            and any(
                m.cleared is None
                and m.condition.type == AlertType.BIAS
                and m.condition.subject != condition.subject
                and _same_likely_cause(m.condition, condition)
                for m in p.members.values()
            )
        ]
        chosen = explained or explaining or siblings
        return max(chosen, key=lambda p: p.opened) if chosen else None

    def _publish(
        self, problem: Problem, status: AlertStatus, start: datetime, end: datetime
    ) -> Alert:
        headline = problem.headline_condition()
        others = [key for key in sorted(problem.holding()) if key != problem.headline]
        explanation = headline.explanation
        if others:
            explanation += f" Seen with it, as part of the same problem: {', '.join(others)}."
        earlier = problem.alert
        # what it fired with (a message from before these fields: its own)
        opening = (
            problem.severity() if earlier is None else earlier.opening_severity or earlier.severity
        )
        fired = start if earlier is None else earlier.fired_window or earlier.window_start
        problem.alert = Alert(
            event_time=end,
            key=problem.key,
            status=status,
            type=headline.type,
            severity=problem.severity(),
            opening_severity=opening,
            fired_window=fired,
            subject=headline.subject,
            explanation=explanation,
            window_start=start,
            window_end=end,
            opened=problem.opened,
            members=tuple(
                _message_of(key, member) for key, member in sorted(problem.members.items())
            ),
            evidence={**headline.evidence, "source": headline.source},
        )
        return problem.alert

    def _resolve(self, problem: Problem, start: datetime, end: datetime) -> Alert:
        del self.problems[problem.key]
        self.closed.append(problem)
        fired = cast(Alert, problem.alert)  # a problem is published as soon as it opens
        lagging = sorted(key for key, m in problem.members.items() if m.cleared is None)
        cleared = "what it does not explain have" if lagging else "everything seen with it have"
        after = (
            f" Still showing, as symptoms of a cause now gone: {', '.join(lagging)}; if they go "
            "on, they alert as a problem of their own."
            if lagging
            else ""
        )
        return fired.model_copy(
            update={
                "event_time": end,
                "status": AlertStatus.RESOLVED,
                "window_start": start,
                "window_end": end,
                "explanation": (
                    f"Resolved: {fired.type.value} {fired.subject} and {cleared} been clear "
                    f"for {self.resolve_after_clear_windows} window(s); the problem began in the "
                    f"window of {problem.opened:%Y-%m-%d}.{after}"
                ),
            }
        )


def _showed_before(member: _Member, start: datetime, span: timedelta) -> bool:
    """Whether ``member`` showed in a window of the ``span`` before the window at ``start``:
    its cause is still there. Windows before ``start`` only, so that it does not matter which
    monitor's signal of that window came first."""
    return any(start - span <= shown < start for shown in member.ranks)


def explains(cause: Condition, condition: Condition) -> bool:
    """Whether ``cause`` (an open problem's headline) explains ``condition``: it ranks better as
    a cause (:func:`cause_order`: of two recall gaps of one rank, the wider), and where both
    name a likely cause, they name the same one.

    Examples
    --------
    >>> performance = Condition(AlertType.PERFORMANCE, "recall", AlertSeverity.CRITICAL, "",
    ...                         {"likely_cause": "concept"})
    >>> gap = Condition(AlertType.BIAS, "Partner", AlertSeverity.WARNING, "",
    ...                 {"likely_cause": "concept", "confined": False, "gap": 0.3})
    >>> explains(performance, gap), explains(gap, performance)
    (True, False)
    >>> wider = Condition(AlertType.BIAS, "gender", AlertSeverity.WARNING, "",
    ...                   {"likely_cause": "concept", "confined": False, "gap": 0.4})
    >>> explains(wider, gap), explains(gap, wider)
    (True, False)
    """
    return cause_order(cause) < cause_order(condition) and _same_likely_cause(cause, condition)


def _same_likely_cause(one: Condition, other: Condition) -> bool:
    """Whether two conditions name the same likely cause, where both name one."""
    theirs, ours = one.evidence.get("likely_cause"), other.evidence.get("likely_cause")
    return theirs is None or ours is None or theirs == ours


def _message_of(key: str, member: _Member) -> AlertMember:
    condition = member.condition
    return AlertMember(
        key=key,
        type=condition.type,
        subject=condition.subject,
        severity=condition.severity,
        source=condition.source,
        since=member.since,
        explanation=condition.explanation,
        evidence=condition.evidence,
    )


def _condition_of(member: AlertMember) -> Condition:
    return Condition(
        type=member.type,
        subject=member.subject,
        severity=member.severity,
        explanation=member.explanation,
        evidence=dict(member.evidence),
        source=member.source,
    )


def _member_of(alert: Alert) -> AlertMember:
    """An alert published without members stands for its own one condition."""
    return AlertMember(
        key=f"{alert.type.value}:{alert.subject}",
        type=alert.type,
        subject=alert.subject,
        severity=alert.severity,
        source=str(alert.evidence.get("source", "")),
        since=alert.opened or alert.window_start,
        explanation=alert.explanation,
        evidence=alert.evidence,
    )
