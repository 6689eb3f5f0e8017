"""The three monitors as handlers of the shared consumer loop.

A calculator knows one statistic: how to start a window's state, feed it a scored row and turn a
closed window into a signal. :class:`MonitorHandler` does the windowing for all three.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Generic, Protocol, TypeVar, cast

import pandas as pd

from monitors.changepoint import AdwinDetector
from monitors.drift import DriftWindow, ReferenceProfile
from monitors.fairness import GroupRecallWindow
from monitors.performance import PerformanceWindow
from monitors.windowing import ClosedWindow, TumblingWindows
from shared.artifact import ModelMetadata
from shared.loop import Handler, Inbound, Outbound, PartitionKey
from shared.policy import Policy
from shared.schemas import (
    ChangePoint,
    DriftSignal,
    FairnessSignal,
    PerformanceSignal,
    ScoredRow,
    WindowSignal,
)
from shared.settings import Settings
from shared.topics import DRIFT_SIGNALS, FAIRNESS_SIGNALS, PERFORMANCE_SIGNALS, Topic

S = TypeVar("S")


class WindowCalculator(Protocol[S]):
    name: str
    signal_topic: Topic

    def new_window(self) -> S: ...

    def update(self, state: S, row: ScoredRow) -> None: ...

    def signal(self, closed: ClosedWindow[S]) -> WindowSignal: ...


class PerformanceCalculator:
    name = "performance"
    signal_topic = PERFORMANCE_SIGNALS

    def __init__(self, metadata: ModelMetadata, policy: Policy):
        self.metadata = metadata
        self.confidence = policy.performance.confidence

    def new_window(self) -> PerformanceWindow:
        return PerformanceWindow()

    def update(self, state: PerformanceWindow, row: ScoredRow) -> None:
        state.update(row.label, row.prediction, row.probability)

    def signal(self, closed: ClosedWindow[PerformanceWindow]) -> PerformanceSignal:
        result = closed.state.result(self.confidence)
        recall_low, recall_high = result.recall_interval or (None, None)
        auc_low, auc_high = result.roc_auc_interval or (None, None)
        return PerformanceSignal(
            event_time=closed.end,
            window_start=closed.start,
            window_end=closed.end,
            rows=result.rows,
            late_rows=closed.late_rows,
            labelled=result.labelled,
            precision=result.precision,
            recall=result.recall,
            f1=result.f1,
            roc_auc=result.roc_auc,
            accuracy=result.accuracy,
            positive_rate=result.positive_rate,
            recall_low=recall_low,
            recall_high=recall_high,
            roc_auc_low=auc_low,
            roc_auc_high=auc_high,
            baseline_recall=self.metadata.baseline.recall,
            baseline_roc_auc=self.metadata.baseline.roc_auc,
        )


@dataclass
class DriftState:
    counts: DriftWindow
    change_points: list[ChangePoint] = field(default_factory=list)


class DriftCalculator:
    """Binned drift per feature, plus ADWIN on the per-row error of labelled rows."""

    name = "drift"
    signal_topic = DRIFT_SIGNALS

    def __init__(self, reference: pd.DataFrame, metadata: ModelMetadata, policy: Policy):
        self.policy = policy
        self.profile = ReferenceProfile.fit(reference, policy.drift.bins)
        self.importance = metadata.importance_share()
        self.error_detector = AdwinDetector(delta=policy.drift.adwin_delta)

    def new_window(self) -> DriftState:
        return DriftState(DriftWindow(self.profile))

    def update(self, state: DriftState, row: ScoredRow) -> None:
        state.counts.update(row.features.model_dump())
        if row.label is None:
            return
        before = self.error_detector.estimate
        self.error_detector.update(float(row.prediction != row.label))
        if self.error_detector.drift_detected:
            state.change_points.append(
                ChangePoint(
                    detector="error_rate",
                    event_time=row.event_time,
                    mean_before=before,
                    mean_after=self.error_detector.estimate,
                )
            )

    def signal(self, closed: ClosedWindow[DriftState]) -> DriftSignal:
        return DriftSignal(
            event_time=closed.end,
            window_start=closed.start,
            window_end=closed.end,
            rows=closed.state.counts.rows,
            late_rows=closed.late_rows,
            features=closed.state.counts.result(self.policy.drift, self.importance),
            change_points=tuple(closed.state.change_points),
        )


class FairnessCalculator:
    name = "fairness"
    signal_topic = FAIRNESS_SIGNALS

    def __init__(self, policy: Policy):
        self.policy = policy

    def new_window(self) -> GroupRecallWindow:
        return GroupRecallWindow(self.policy.fairness.attributes)

    def update(self, state: GroupRecallWindow, row: ScoredRow) -> None:
        state.update(row.features.model_dump(), row.label, row.prediction)

    def signal(self, closed: ClosedWindow[GroupRecallWindow]) -> FairnessSignal:
        rules = self.policy.fairness
        groups, gaps = closed.state.result(rules.min_group_positives, rules.gap_confidence)
        return FairnessSignal(
            event_time=closed.end,
            window_start=closed.start,
            window_end=closed.end,
            rows=closed.state.rows,
            late_rows=closed.late_rows,
            groups=groups,
            gaps=gaps,
        )


class MonitorHandler(Handler, Generic[S]):
    """Tumbling event-time windows around one calculator."""

    def __init__(self, calculator: WindowCalculator[S], settings: Settings):
        self.calculator = calculator
        self.windows: TumblingWindows[S] = TumblingWindows(
            origin=settings.simulation_start,
            size=timedelta(seconds=settings.window_seconds),
            allowed_lateness=timedelta(seconds=settings.allowed_lateness_seconds),
            new_state=calculator.new_window,
        )

    def handle(self, batch: Sequence[Inbound]) -> list[Outbound]:
        for item in batch:
            row = cast(ScoredRow, item.value)
            state = self.windows.add(row.event_time, item.partition_key, item.offset)
            if state is not None:
                self.calculator.update(state, row)
        return self._signals(self.windows.advance())

    def on_idle(self) -> list[Outbound]:
        return self._signals(self.windows.flush())

    def held_offsets(self) -> dict[PartitionKey, int]:
        return self.windows.held_offsets()  # type: ignore[return-value]

    def on_assign(self, partitions: Sequence[PartitionKey]) -> None:
        self.windows.expect_partitions(set(partitions))

    def _signals(self, closed: list[ClosedWindow[S]]) -> list[Outbound]:
        return [Outbound(self.calculator.signal_topic, self.calculator.signal(c)) for c in closed]
