"""The alerter's handler: join the three signals of a window, then alert and decide."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from alerter.decisions import DriftStreaks, decide
from alerter.lifecycle import AlertBook
from alerter.metrics import AlerterMetrics
from alerter.rules import WindowSignals, conditions
from shared.artifact import ModelMetadata
from shared.loop import Handler, Inbound, Outbound, PartitionKey
from shared.policy import Policy
from shared.schemas import DriftSignal, FairnessSignal, PerformanceSignal
from shared.topics import ALERTS, DECISIONS

_FIELD = {PerformanceSignal: "performance", DriftSignal: "drift", FairnessSignal: "fairness"}


class AlerterHandler(Handler):
    """Waits until all three monitors reported a window (or a later window is complete, or the
    input went idle), then publishes that window's alerts and its decision, in window order."""

    def __init__(self, policy: Policy, metadata: ModelMetadata, metrics: AlerterMetrics):
        self.policy = policy
        self.importance = metadata.importance_share()
        self.metrics = metrics
        self.book = AlertBook(policy.decision.resolve_after_clear_windows)
        self.streaks = DriftStreaks()
        self.pending: dict[datetime, WindowSignals] = {}
        self.first_offsets: dict[datetime, dict[PartitionKey, int]] = {}
        self.decided_through: datetime | None = None

    def handle(self, batch: Sequence[Inbound]) -> list[Outbound]:
        for item in batch:
            signal = item.value
            start = signal.window_start  # type: ignore[attr-defined]
            if self.decided_through is not None and start <= self.decided_through:
                continue  # a replayed signal of a window already decided
            window = self.pending.get(start) or WindowSignals(start, signal.window_end)  # type: ignore[attr-defined]
            self.pending[start] = replace(window, **{_FIELD[type(signal)]: signal})
            offsets = self.first_offsets.setdefault(start, {})
            offsets.setdefault(item.partition_key, item.offset)
        complete = [s for s, w in self.pending.items() if w.complete()]
        if not complete:
            return []
        return self._decide_through(max(complete))

    def on_idle(self) -> list[Outbound]:
        if not self.pending:
            return []
        return self._decide_through(max(self.pending))

    def held_offsets(self) -> dict[PartitionKey, int]:
        held: dict[PartitionKey, int] = {}
        for offsets in self.first_offsets.values():
            for key, offset in offsets.items():
                held[key] = min(offset, held.get(key, offset))
        return held

    def _decide_through(self, last: datetime) -> list[Outbound]:
        outputs: list[Outbound] = []
        for start in sorted(s for s in self.pending if s <= last):
            window = self.pending.pop(start)
            self.first_offsets.pop(start, None)
            outputs += self._decide(window)
            self.decided_through = start
        return outputs

    def _decide(self, window: WindowSignals) -> list[Outbound]:
        holding = conditions(window, self.policy)
        published = self.book.apply(window, holding)
        self.streaks.update(window)
        decision = decide(window, self.book.active, self.streaks, self.importance, self.policy)
        self.metrics.observe_window(window)
        self.metrics.observe_alerts(published, self.book.active)
        self.metrics.observe_decision(decision)
        outputs = [Outbound(ALERTS, alert, key=alert.key) for alert in published]
        outputs.append(Outbound(DECISIONS, decision))
        return outputs
