"""The alerter's handler: alert on each signal as it arrives; decide once a window is complete.

Alerts cannot wait for the slowest monitor: with late labels the performance and fairness
signals of a window arrive days after its drift signal. So each signal is judged on arrival
against the alerts of its own monitor, and one decision per window is made once its three signals
are in (or a later window is complete, or the input went idle), in window order, from the
conditions that held in that window and the drift streaks as of that window.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from alerter.decisions import DriftStreaks, decide
from alerter.lifecycle import AlertBook
from alerter.metrics import AlerterMetrics
from alerter.rules import (
    ESTIMATE,
    SOURCES,
    Condition,
    WindowSignals,
    conditions_of,
    source_of,
    with_likely_cause,
)
from model.artifact import ModelMetadata
from shared.handler import Handler, Inbound, Outbound, PartitionKey
from shared.policy import Policy
from shared.schemas import Alert, DriftSignal, FairnessSignal, GroupRecall, PerformanceSignal
from shared.topics import ALERTS, DECISIONS

# the order a window's signals are judged in, whichever arrived first
JUDGING_ORDER = (*SOURCES.values(), ESTIMATE)


@dataclass
class ArrivingWindow:
    """A window's signals not judged yet, by source (the first of each)."""

    end: datetime
    signals: dict[str, Inbound] = field(default_factory=dict)


@dataclass
class PendingWindow:
    signals: WindowSignals
    holding: list[Condition] = field(default_factory=list)
    streaks: dict[str, int] = field(default_factory=dict)
    first_offsets: dict[PartitionKey, int] = field(default_factory=dict)


@dataclass
class SeenWindows:
    """Window starts already handled, the ``capacity`` latest of them (bounded).

    Kept per window rather than as a high-water mark: one signal for a window far ahead (a
    forged or mis-stamped one) then leaves every real window after it to be judged and decided.

    Examples
    --------
    >>> seen = SeenWindows(capacity=2)
    >>> for start in (3, 1, 2):
    ...     seen.add(start)
    >>> sorted(seen.starts), 1 in seen
    ([2, 3], False)
    """

    capacity: int = 10_000
    starts: set = field(default_factory=set)
    _heap: list = field(default_factory=list)

    def add(self, start: Any) -> None:
        if start in self.starts:
            return
        self.starts.add(start)
        heapq.heappush(self._heap, start)
        while len(self._heap) > self.capacity:
            self.starts.discard(heapq.heappop(self._heap))

    def __contains__(self, start: object) -> bool:
        return start in self.starts


class AlerterHandler(Handler):
    def __init__(
        self,
        policy: Policy,
        metadata: ModelMetadata,
        metrics: AlerterMetrics,
        record: Callable[[BaseModel], None] | None = None,
    ):
        self.policy = policy
        # where every signal, alert and decision is kept (the history store), if anywhere
        self.record = record or (lambda _message: None)
        self.importance = metadata.importance_share()
        self.group_baseline = metadata.group_baseline_recall
        self.label = metadata.contract.label
        self.metrics = metrics
        self.book = AlertBook(
            policy.decision.resolve_after_clear_windows, policy.decision.group_within_windows
        )
        self.streaks = DriftStreaks()
        # the groups of the latest fairness windows judged, by window, as many as a gap can be
        # clear in and still be open (not kept across a restart: an open gap is then judged on
        # its window alone)
        self.fairness_groups: dict[datetime, tuple[GroupRecall, ...]] = {}
        self.fairness_kept = max(1, policy.decision.resolve_after_clear_windows - 1)
        self.pending: dict[datetime, PendingWindow] = {}
        self.judged: dict[str, SeenWindows] = {}
        self.decided = SeenWindows()
        # signals not judged yet, by window and source, and the latest window seen per source
        self.arriving: dict[datetime, ArrivingWindow] = {}
        self.latest_seen: dict[str, datetime] = {}

    def restore(
        self,
        alerts: Sequence[Alert],
        decided: Sequence[datetime],
        drift_signals: Sequence[DriftSignal] = (),
    ) -> None:
        """State after a restart, read back from the alerts, decisions and drift topics. The
        drift streaks replay the windows already decided; the others are re-read and judged."""
        self.book.restore(list(alerts))
        for start in decided:
            self.decided.add(start)
        for signal in sorted(drift_signals, key=lambda s: s.window_start):
            if signal.window_start in self.decided:
                self.streaks.update(
                    WindowSignals(signal.window_start, signal.window_end, drift=signal)
                )

    def handle(self, batch: Sequence[Inbound]) -> list[Outbound]:
        for item in batch:
            self._arrive(item)
        outputs = self._release()
        complete = [s for s, w in self.pending.items() if w.signals.complete()]
        if complete:
            outputs += self._decide_through(max(complete))
        return outputs

    def on_idle(self) -> list[Outbound]:
        outputs = self._release(everything=True)
        if not self.pending:
            return outputs
        return outputs + self._decide_through(max(self.pending))

    def held_offsets(self) -> dict[PartitionKey, int]:
        held: dict[PartitionKey, int] = {}
        firsts = [(k, o) for w in self.pending.values() for k, o in w.first_offsets.items()]
        firsts += [(i.partition_key, i.offset) for w in self.arriving.values()
                   for i in w.signals.values()]  # fmt: skip
        for key, offset in firsts:
            held[key] = min(offset, held.get(key, offset))
        return held

    def _arrive(self, item: Inbound) -> None:
        signal = item.value
        if not isinstance(signal, PerformanceSignal | DriftSignal | FairnessSignal):
            return  # the loop decodes each signal topic into its own model
        source = source_of(signal)
        start = signal.window_start
        window = self.arriving.setdefault(start, ArrivingWindow(signal.window_end))
        window.signals.setdefault(source, item)
        self.latest_seen[source] = max(start, self.latest_seen.get(source, start))

    def _release(self, everything: bool = False) -> list[Outbound]:
        """Judge the signals that arrived, window by window in window order, each window's in
        one order (:data:`JUDGING_ORDER`) whichever came first: a window waits for the signal
        of a monitor that is in step (it has reported the window before), so the alerts and
        decisions do not depend on the order the monitors' signals reach the alerter. A monitor
        that is behind (late labels, a slow or stopped one) is not waited for, nor is anything
        once the input is idle."""
        outputs: list[Outbound] = []
        for start in sorted(self.arriving):
            window = self.arriving[start]
            if not everything and not self._in_step_signals_arrived(start, window):
                break  # the windows after it wait too: each monitor's windows in order
            del self.arriving[start]
            for source in JUDGING_ORDER:
                if source in window.signals:
                    outputs += self._judge(window.signals[source])
        return outputs

    def _in_step_signals_arrived(self, start: datetime, window: ArrivingWindow) -> bool:
        length = window.end - start
        for source in SOURCES.values():
            latest = self.latest_seen.get(source)
            if source in window.signals or latest is None or latest >= start:
                continue  # here, never seen, or already past this window
            if latest >= start - length:
                return False  # it reported the window before: this one is on its way
        return True

    def _judge(self, item: Inbound) -> list[Outbound]:
        signal = item.value
        if not isinstance(signal, PerformanceSignal | DriftSignal | FairnessSignal):
            return []  # the loop decodes each signal topic into its own model
        source = source_of(signal)
        start, end = signal.window_start, signal.window_end
        if start in self.decided:
            return []  # a replayed signal of a window already decided
        judged = self.judged.setdefault(source, SeenWindows())
        if start in judged:
            return []  # replayed within this run
        judged.add(start)
        causes = self.book.open_conditions()
        open_gaps = self.book.open_gaps()
        since_held = (
            self._since_held(signal, open_gaps) if isinstance(signal, FairnessSignal) else {}
        )
        holding = [
            with_likely_cause(condition, causes)
            for condition in conditions_of(
                signal, self.policy, self.group_baseline, open_gaps, since_held, self.label
            )  # fmt: skip
        ]
        published = self.book.apply_source(source, start, end, holding)
        window = self.pending.get(start) or PendingWindow(WindowSignals(start, end))
        window.signals = window.signals.with_signal(signal)
        window.holding += holding
        window.first_offsets.setdefault(item.partition_key, item.offset)
        if source == "drift":
            window.streaks = dict(self.streaks.update(window.signals).streaks)
        self.pending[start] = window
        self.metrics.observe_signal(signal)
        self.metrics.observe_latency(signal, source)
        self.metrics.observe_alerts(published, self.book.active)
        self.record(signal)
        for alert in published:
            self.record(alert)
        return [Outbound(ALERTS, alert, key=alert.key) for alert in published]

    def _since_held(
        self, signal: FairnessSignal, open_gaps: dict[str, int]
    ) -> dict[str, list[tuple[GroupRecall, ...]]]:
        """For each open gap that has been clear in the windows just before this one, their
        groups: the gap is judged over them and this window. Then this window's groups are kept
        (the earliest kept window gives way: a signal for a window far ahead does not stay)."""
        length = signal.window_end - signal.window_start
        since_held = {}
        for attribute, clear in open_gaps.items():
            earlier = [self.fairness_groups.get(signal.window_start - back * length)
                       for back in range(clear, 0, -1)]  # fmt: skip
            if earlier and all(groups is not None for groups in earlier):
                since_held[attribute] = [groups for groups in earlier if groups is not None]
        self.fairness_groups[signal.window_start] = signal.groups
        while len(self.fairness_groups) > self.fairness_kept:
            del self.fairness_groups[next(iter(self.fairness_groups))]
        return since_held

    def _decide_through(self, last: datetime) -> list[Outbound]:
        outputs: list[Outbound] = []
        for start in sorted(s for s in self.pending if s <= last):
            window = self.pending.pop(start)
            # each condition weighs by its part in its problem as the windows up to this one
            # show it, whichever monitor's signal arrived first
            holding = self.book.with_roles(window.holding, start)
            decision = decide(window.signals, holding, window.streaks, self.importance, self.policy)
            self.metrics.observe_decision(decision, window.signals.end)
            self.record(decision)
            outputs.append(Outbound(DECISIONS, decision))
            self.decided.add(start)
        return outputs
