"""The three monitors as handlers of the shared consumer loop.

A calculator knows one statistic: which rows it reads, how to start a window's state, feed it a
row and turn a closed window into a signal. :class:`MonitorHandler` does the windowing for all.

With late labels a row is scored twice: once PENDING (the prediction) and once JOINED (when its
label arrives, days later). Input monitors read INLINE and PENDING rows; label monitors read INLINE
and JOINED rows. Each stream is in event-time order on its own, so each monitor's watermark moves
with the rows it reads.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel

from monitors.attribution import LinearAttribution, RowSample, ndcg
from monitors.changepoint import AdwinDetector, ChangeWatch
from monitors.confirm import SeverityConfirmer
from monitors.drift import PREDICTION, DriftWindow, ReferenceProfile
from monitors.fairness import GroupWindow, merge_all
from monitors.performance import PerformanceWindow, calibrate, estimate_performance
from monitors.windowing import ClosedWindow, TumblingWindows, window_start
from shared.artifact import PROBABILITY_COLUMN, ModelMetadata
from shared.features import NUMERIC_FEATURES
from shared.loop import Handler, Inbound, Outbound, PartitionKey
from shared.policy import Policy
from shared.schemas import (
    ChangePoint,
    DriftSignal,
    FairnessSignal,
    LabelState,
    PerformanceSignal,
    QuarantinedRow,
    RollingPerformance,
    ScoredRow,
    WindowSignal,
)
from shared.settings import Settings
from shared.topics import DRIFT_SIGNALS, FAIRNESS_SIGNALS, PERFORMANCE_SIGNALS, Topic

S = TypeVar("S")

INPUT_STATES = frozenset({LabelState.INLINE, LabelState.PENDING})
LABEL_STATES = frozenset({LabelState.INLINE, LabelState.JOINED})


class WindowCalculator(Protocol[S]):
    name: str
    signal_topic: Topic

    def accepts(self, row: BaseModel) -> bool: ...

    def new_window(self) -> S: ...

    def update(self, state: S, row: BaseModel) -> None: ...

    def signal(self, closed: ClosedWindow[S]) -> WindowSignal: ...


def _window_fields(closed: ClosedWindow, rows: int) -> dict:
    return {
        "event_time": closed.end,
        "window_start": closed.start,
        "window_end": closed.end,
        "rows": rows,
        "late_rows": closed.late_rows,
    }


@dataclass
class PerformanceState:
    window: PerformanceWindow = field(default_factory=PerformanceWindow)
    change_points: list[ChangePoint] = field(default_factory=list)


class PerformanceCalculator:
    """Confusion counts and ROC-AUC of labelled rows, plus ADWIN on the per-row error."""

    name = "performance"
    signal_topic = PERFORMANCE_SIGNALS

    def __init__(self, metadata: ModelMetadata, policy: Policy):
        self.metadata = metadata
        self.confidence = policy.performance.confidence
        self.recent: deque[PerformanceWindow] = deque(maxlen=policy.performance.rolling_windows)
        self.error_watch = ChangeWatch("error_rate", AdwinDetector(delta=policy.drift.adwin_delta))

    def accepts(self, row: BaseModel) -> bool:
        return isinstance(row, ScoredRow) and row.label_state in LABEL_STATES

    def new_window(self) -> PerformanceState:
        return PerformanceState()

    def update(self, state: PerformanceState, row: ScoredRow) -> None:  # type: ignore[override]
        state.window.update(row.label, row.prediction, row.probability)
        change = self.error_watch.observe(float(row.prediction != row.label), row.event_time)
        if change is not None:
            state.change_points.append(change)

    def signal(self, closed: ClosedWindow[PerformanceState]) -> PerformanceSignal:
        result = closed.state.window.result(self.confidence)
        self.recent.append(closed.state.window)
        merged = PerformanceWindow()
        for window in self.recent:
            merged = merged.merge(window)
        span = merged.result(self.confidence)
        recall_low, recall_high = result.recall_interval or (None, None)
        auc_low, auc_high = result.roc_auc_interval or (None, None)
        label_low, label_high = result.label_rate_interval or (None, None)
        positive_low, positive_high = result.positive_rate_interval or (None, None)
        baseline = self.metadata.baseline
        return PerformanceSignal(
            **_window_fields(closed, result.rows),
            labelled=result.labelled,
            precision=result.precision,
            recall=result.recall,
            f1=result.f1,
            roc_auc=result.roc_auc,
            accuracy=result.accuracy,
            positive_rate=result.positive_rate,
            brier=result.brier,
            label_coverage=result.label_coverage,
            recall_low=recall_low,
            recall_high=recall_high,
            roc_auc_low=auc_low,
            roc_auc_high=auc_high,
            baseline_recall=baseline.recall,
            baseline_roc_auc=baseline.roc_auc,
            label_rate=result.label_rate,
            label_rate_low=label_low,
            label_rate_high=label_high,
            baseline_label_rate=baseline.label_rate,
            positive_rate_low=positive_low,
            positive_rate_high=positive_high,
            baseline_positive_rate=baseline.positive_rate,
            change_points=tuple(closed.state.change_points),
            rolling=RollingPerformance(
                windows=len(self.recent),
                labelled=span.labelled,
                precision=span.precision,
                recall=span.recall,
                recall_low=(span.recall_interval or (None, None))[0],
                recall_high=(span.recall_interval or (None, None))[1],
                roc_auc=span.roc_auc,
                brier=span.brier,
            ),
        )


@dataclass
class EstimateState:
    probabilities: list[float] = field(default_factory=list)
    predictions: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)


class EstimatedPerformanceCalculator:
    """Provisional performance of predictions whose labels have not arrived (CBPE-style)."""

    name = "performance-estimate"
    signal_topic = PERFORMANCE_SIGNALS

    def __init__(self, metadata: ModelMetadata):
        self.metadata = metadata

    def accepts(self, row: BaseModel) -> bool:
        return isinstance(row, ScoredRow) and row.label_state == LabelState.PENDING

    def new_window(self) -> EstimateState:
        return EstimateState()

    def update(self, state: EstimateState, row: ScoredRow) -> None:  # type: ignore[override]
        state.scores.append(row.probability)
        state.predictions.append(row.prediction)

    def signal(self, closed: ClosedWindow[EstimateState]) -> PerformanceSignal:
        scores = np.asarray(closed.state.scores)
        probability = calibrate(
            scores, self.metadata.calibration_scores, self.metadata.calibration_rates
        )
        estimate = estimate_performance(probability, np.asarray(closed.state.predictions), scores)
        baseline = self.metadata.baseline
        return PerformanceSignal(
            **_window_fields(closed, estimate.rows),
            provisional=True,
            labelled=0,
            precision=estimate.precision,
            recall=estimate.recall,
            f1=estimate.f1,
            roc_auc=estimate.roc_auc,
            accuracy=estimate.accuracy,
            positive_rate=float(np.mean(closed.state.predictions)) if estimate.rows else None,
            label_coverage=0.0,
            label_rate=estimate.label_rate,
            baseline_recall=baseline.recall,
            baseline_roc_auc=baseline.roc_auc,
            baseline_label_rate=baseline.label_rate,
            baseline_positive_rate=baseline.positive_rate,
        )


@dataclass
class DriftState:
    counts: DriftWindow
    quarantined: Counter = field(default_factory=Counter)
    quarantined_rows: int = 0
    change_points: list[ChangePoint] = field(default_factory=list)
    sample: RowSample | None = None


# Label-free change detection runs on the model's output and on each numeric input.
WATCHED_STREAMS = (PREDICTION, *NUMERIC_FEATURES)


class DriftCalculator:
    """Drift per feature and of the prediction; quarantined rows counted apart; ADWIN on the
    prediction and the numeric inputs."""

    name = "drift"
    signal_topic = DRIFT_SIGNALS

    def __init__(
        self,
        reference: pd.DataFrame,
        metadata: ModelMetadata,
        policy: Policy,
        attribution: LinearAttribution | None = None,
    ):
        self.policy = policy
        self.metadata = metadata
        self.attribution = attribution
        self.windows_opened = 0
        self.profile = ReferenceProfile.fit(
            reference,
            policy.drift.bins,
            test_bins=policy.drift.test_bins,
            prediction_column=PROBABILITY_COLUMN if PROBABILITY_COLUMN in reference else None,
        )
        self.importance = metadata.importance_share()
        self.confirmer = SeverityConfirmer(policy.drift.confirm_windows, policy.drift.confirm_min)
        self.watches = {
            name: ChangeWatch(name, AdwinDetector(delta=policy.drift.adwin_delta))
            for name in WATCHED_STREAMS
        }

    def restore(self, published: Iterable[DriftSignal]) -> None:
        """Rebuild the k-of-n confirmation from the signals published before a restart."""
        for signal in sorted(published, key=lambda s: s.window_start):
            drifts = [*signal.features, *([signal.prediction] if signal.prediction else [])]
            self.confirmer.restore(signal.window_start, drifts)

    def accepts(self, row: BaseModel) -> bool:
        if isinstance(row, QuarantinedRow):
            return True
        return isinstance(row, ScoredRow) and row.label_state in INPUT_STATES

    def new_window(self) -> DriftState:
        self.windows_opened += 1
        sample = None
        if self.attribution is not None:
            sample = RowSample(self.policy.drift.attribution_sample_rows, seed=self.windows_opened)
        return DriftState(DriftWindow(self.profile), sample=sample)

    def update(self, state: DriftState, row: BaseModel) -> None:
        if isinstance(row, QuarantinedRow):
            state.quarantined_rows += 1
            state.quarantined.update({issue.code.value for issue in row.issues})
            return
        scored: ScoredRow = row  # type: ignore[assignment]
        values = scored.features.model_dump()
        if state.sample is not None:
            state.sample.update(dict(values))
        values[PREDICTION] = scored.probability
        state.counts.update(values)
        for name, watch in self.watches.items():
            change = watch.observe(float(values[name]), scored.event_time)
            if change is not None:
                state.change_points.append(change)

    def signal(self, closed: ClosedWindow[DriftState]) -> DriftSignal:
        counts = closed.state.counts
        drifts = self.confirmer.confirm(
            counts.result(self.policy.drift, self.importance), closed.start
        )
        features = tuple(d for d in drifts if d.feature != PREDICTION)
        prediction = next((d for d in drifts if d.feature == PREDICTION), None)
        ranked = sorted((d for d in features if d.significant), key=lambda d: -d.impact)
        attribution_ndcg, attribution_top = None, ()
        sample = closed.state.sample
        if self.attribution is not None and sample is not None and sample.rows:
            importance = self.attribution.importance(sample.frame())
            order = sorted(importance, key=lambda name: -importance[name])
            attribution_ndcg = ndcg(self.metadata.shap_importance, order)
            attribution_top = tuple(order[:5])
        return DriftSignal(
            **_window_fields(closed, counts.rows),
            features=features,
            prediction=prediction,
            top_impact=tuple(d.feature for d in ranked[:5]),
            attribution_ndcg=attribution_ndcg,
            attribution_top=attribution_top,
            change_points=tuple(closed.state.change_points),
            quarantined_rows=closed.state.quarantined_rows,
            quarantined_by_reason=dict(sorted(closed.state.quarantined.items())),
            unseen_categories=counts.unseen_by_feature(),
        )


class FairnessCalculator:
    """Per-group metrics of labelled rows, judged per window and over a rolling span."""

    name = "fairness"
    signal_topic = FAIRNESS_SIGNALS

    def __init__(self, policy: Policy):
        self.policy = policy
        # the last span_windows windows by start: a replayed window replaces itself
        self.recent: dict[datetime, GroupWindow] = {}

    def restore(self, published: Iterable[FairnessSignal]) -> None:
        """Rebuild the rolling span from the signals published before a restart."""
        attributes = self.policy.fairness.attributes
        for signal in published:
            window = GroupWindow.from_groups(attributes, signal.groups, signal.rows)
            self._remember(signal.window_start, window)

    def _remember(self, start: datetime, window: GroupWindow) -> None:
        self.recent[start] = window
        for old in sorted(self.recent)[: -self.policy.fairness.span_windows]:
            del self.recent[old]

    def accepts(self, row: BaseModel) -> bool:
        return isinstance(row, ScoredRow) and row.label_state in LABEL_STATES

    def new_window(self) -> GroupWindow:
        return GroupWindow(self.policy.fairness.attributes)

    def update(self, state: GroupWindow, row: ScoredRow) -> None:  # type: ignore[override]
        state.update(row.features.model_dump(), row.label, row.prediction)

    def signal(self, closed: ClosedWindow[GroupWindow]) -> FairnessSignal:
        rules = self.policy.fairness
        limits = (rules.min_group_positives, rules.min_group_negatives, rules.gap_confidence)
        groups, gaps = closed.state.result(*limits)
        self._remember(closed.start, closed.state)
        span = [w for start, w in sorted(self.recent.items()) if start <= closed.start]
        _, rolling = merge_all(span, rules.attributes).result(*limits)
        return FairnessSignal(
            **_window_fields(closed, closed.state.rows),
            groups=tuple(g.message() for g in groups),
            gaps=tuple(g.message() for g in gaps),
            rolling_gaps=tuple(g.message() for g in rolling),
            span_windows=len(span),
        )


class MonitorHandler(Handler, Generic[S]):
    """Tumbling event-time windows around one calculator.

    Only the primary topic (scored rows) moves the watermark; rows of other topics (quarantine)
    join whichever window is open for their time.
    """

    def __init__(self, calculator: WindowCalculator[S], settings: Settings, primary: Topic):
        self.calculator = calculator
        self.primary_name = settings.topic_name(primary)
        self.size = timedelta(seconds=settings.window_seconds)
        self.origin = settings.simulation_start
        self.newest_row_ms: dict[datetime, int] = {}
        self.windows: TumblingWindows[S] = TumblingWindows(
            origin=settings.simulation_start,
            size=timedelta(seconds=settings.window_seconds),
            allowed_lateness=timedelta(seconds=settings.allowed_lateness_seconds),
            new_state=calculator.new_window,
        )

    def handle(self, batch: Sequence[Inbound]) -> list[Outbound]:
        for item in batch:
            row = item.value
            if not self.calculator.accepts(row):
                continue
            state = self.windows.add(
                row.event_time,  # type: ignore[attr-defined]
                item.partition_key,
                item.offset,
                advances_watermark=item.source == self.primary_name,
            )
            if state is not None:
                self.calculator.update(state, row)
                start = window_start(row.event_time, self.origin, self.size)  # type: ignore[attr-defined]
                self.newest_row_ms[start] = max(self.newest_row_ms.get(start, 0), item.timestamp_ms)
        return self._signals(self.windows.advance())

    def on_idle(self) -> list[Outbound]:
        return self._signals(self.windows.flush())

    def held_offsets(self) -> dict[PartitionKey, int]:
        return self.windows.held_offsets()  # type: ignore[return-value]

    def on_assign(self, partitions: Sequence[PartitionKey]) -> None:
        self.windows.expect_partitions({p for p in partitions if p[0] == self.primary_name})

    def on_progress(self, pending: set[PartitionKey]) -> None:
        self.windows.hold_for({p for p in pending if p[0] != self.primary_name})

    def _signals(self, closed: list[ClosedWindow[S]]) -> list[Outbound]:
        outputs = []
        now = datetime.now(tz=UTC)
        for window in closed:
            newest = self.newest_row_ms.pop(window.start, 0)
            signal = self.calculator.signal(window).model_copy(
                update={
                    "closed_at": now,
                    "last_row_at": datetime.fromtimestamp(newest / 1000, tz=UTC)
                    if newest
                    else None,
                }
            )
            outputs.append(Outbound(self.calculator.signal_topic, signal))
        return outputs
