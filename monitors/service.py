"""The three monitors as handlers of the shared consumer loop, in two stages.

A calculator knows one statistic: which rows it reads, how to start a window's state, feed it a
row, turn the state into a partial-window message and back, merge two states, and turn a closed
window into a signal. The stages around it are the same for every monitor:

- :class:`WindowWorker` keeps one set of tumbling windows per source partition it reads and
  publishes each partition's share of a window (:class:`~shared.schemas.WindowPartial`) once that
  partition's event time has passed the window's end.
- :class:`WindowCombiner` merges the partials of a window in partition order and publishes the
  window's signal once every source partition has passed its end. It reads the single partition of
  ``windows.<monitor>``, so in a consumer group exactly one instance combines; statistics that
  span windows (ADWIN, rolling views, severity confirmation) live here, and whoever takes the
  partition over rebuilds them by replaying that partition up to its committed offset.

So a monitor can run as one process or several in one consumer group, and gives the same signals:
each partition's rows are counted once, by whichever instance holds the partition, and the
partials merge exactly.

With late labels a row is scored twice: once PENDING (the prediction) and once JOINED (when its
label arrives, days later). Input monitors read INLINE and PENDING rows; label monitors read INLINE
and JOINED rows. Each stream is in event-time order on its own, so each monitor's watermark moves
with the rows it reads.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel

from monitors.attribution import LinearAttribution, RowSample, ndcg
from monitors.changepoint import AdwinDetector, ChangeWatch, RowStream, detect
from monitors.confirm import SeverityConfirmer
from monitors.drift import PREDICTION, DriftWindow, ReferenceProfile
from monitors.fairness import GroupWindow, merge_all
from monitors.performance import PerformanceWindow, calibrate, estimate_performance
from monitors.windowing import ClosedWindow, RecentIds, TumblingWindows, window_start
from shared.artifact import PROBABILITY_COLUMN, ModelMetadata
from shared.features import NUMERIC_FEATURES
from shared.loop import FanOutHandler, Handler, Inbound, Outbound, PartitionKey
from shared.policy import Policy
from shared.schemas import (
    DriftPartial,
    DriftSignal,
    EstimatePartial,
    FairnessPartial,
    FairnessSignal,
    GroupCell,
    LabelState,
    PackedArray,
    PartialState,
    PerformancePartial,
    PerformanceSignal,
    QuarantinedRow,
    RollingPerformance,
    ScoredRow,
    WindowPartial,
    WindowSignal,
)
from shared.settings import Settings
from shared.topics import DRIFT_SIGNALS, FAIRNESS_SIGNALS, PERFORMANCE_SIGNALS, QUARANTINE, Topic

log = logging.getLogger(__name__)

S = TypeVar("S")

INPUT_STATES = frozenset({LabelState.INLINE, LabelState.PENDING})
LABEL_STATES = frozenset({LabelState.INLINE, LabelState.JOINED})


class WindowCalculator(Protocol[S]):
    name: str
    signal_topic: Topic

    def accepts(self, row: BaseModel) -> bool: ...

    def new_window(self) -> S: ...

    def update(self, state: S, row: BaseModel) -> None: ...

    def encode(self, state: S) -> PartialState: ...

    def decode(self, partial: PartialState) -> S: ...

    def merge(self, state: S, other: S) -> S: ...

    def signal(self, closed: ClosedWindow[S]) -> WindowSignal: ...

    def reset(self) -> None:
        """Forget what spans windows (before a replay rebuilds it)."""
        ...


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
    errors: RowStream = field(default_factory=lambda: RowStream(("error_rate",)))


class PerformanceCalculator:
    """Confusion counts and ROC-AUC of labelled rows, plus ADWIN on the per-row error."""

    name = "performance"
    signal_topic = PERFORMANCE_SIGNALS

    def __init__(self, metadata: ModelMetadata, policy: Policy):
        self.metadata = metadata
        self.policy = policy
        self.confidence = policy.performance.confidence
        self.reset()

    def reset(self) -> None:
        self.recent: deque[PerformanceWindow] = deque(
            maxlen=self.policy.performance.rolling_windows
        )
        self.error_watch = ChangeWatch(
            "error_rate", AdwinDetector(delta=self.policy.drift.adwin_delta)
        )

    def accepts(self, row: BaseModel) -> bool:
        return isinstance(row, ScoredRow) and row.label_state in LABEL_STATES

    def new_window(self) -> PerformanceState:
        return PerformanceState()

    def update(self, state: PerformanceState, row: ScoredRow) -> None:  # type: ignore[override]
        state.window.update(row.label, row.prediction, row.probability)
        if row.label is not None:
            state.errors.update(row.event_time, {"error_rate": row.prediction != row.label})

    def encode(self, state: PerformanceState) -> PerformancePartial:
        w = state.window
        return PerformancePartial(
            rows=w.rows, tp=w.tp, fp=w.fp, tn=w.tn, fn=w.fn,
            predicted_positive=w.predicted_positive,
            scores=PackedArray.of(w.scores, "<f8"),
            labels=PackedArray.of(w.labels, "<i8"),
            stream=state.errors.message(),
        )  # fmt: skip

    def decode(self, partial: PerformancePartial) -> PerformanceState:  # type: ignore[override]
        window = PerformanceWindow(
            rows=partial.rows, tp=partial.tp, fp=partial.fp, tn=partial.tn, fn=partial.fn,
            predicted_positive=partial.predicted_positive,
            scores=partial.scores.array().tolist(),
            labels=partial.labels.array().tolist(),
        )  # fmt: skip
        return PerformanceState(window, RowStream.from_message(("error_rate",), partial.stream))

    def merge(self, state: PerformanceState, other: PerformanceState) -> PerformanceState:
        return PerformanceState(state.window.merge(other.window), state.errors.merge(other.errors))

    def signal(self, closed: ClosedWindow[PerformanceState]) -> PerformanceSignal:
        change_points = detect([self.error_watch], closed.state.errors)
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
            change_points=tuple(change_points),
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
    scores: list[float] = field(default_factory=list)
    predictions: list[int] = field(default_factory=list)


class EstimatedPerformanceCalculator:
    """Provisional performance of predictions whose labels have not arrived (CBPE-style)."""

    name = "performance-estimate"
    signal_topic = PERFORMANCE_SIGNALS

    def __init__(self, metadata: ModelMetadata):
        self.metadata = metadata

    def reset(self) -> None:
        """Nothing spans windows."""

    def accepts(self, row: BaseModel) -> bool:
        return isinstance(row, ScoredRow) and row.label_state == LabelState.PENDING

    def new_window(self) -> EstimateState:
        return EstimateState()

    def update(self, state: EstimateState, row: ScoredRow) -> None:  # type: ignore[override]
        state.scores.append(row.probability)
        state.predictions.append(row.prediction)

    def encode(self, state: EstimateState) -> EstimatePartial:
        return EstimatePartial(
            scores=PackedArray.of(state.scores, "<f8"),
            predictions=PackedArray.of(state.predictions, "<i8"),
        )

    def decode(self, partial: EstimatePartial) -> EstimateState:  # type: ignore[override]
        return EstimateState(partial.scores.array().tolist(), partial.predictions.array().tolist())

    def merge(self, state: EstimateState, other: EstimateState) -> EstimateState:
        return EstimateState(state.scores + other.scores, state.predictions + other.predictions)

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


# Label-free change detection runs on the model's output and on each numeric input.
WATCHED_STREAMS = (PREDICTION, *NUMERIC_FEATURES)


@dataclass
class DriftState:
    counts: DriftWindow
    stream: RowStream = field(default_factory=lambda: RowStream(WATCHED_STREAMS))
    quarantined: Counter = field(default_factory=Counter)
    quarantined_rows: int = 0
    sample: RowSample | None = None


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
        self.profile = ReferenceProfile.fit(
            reference,
            policy.drift.bins,
            test_bins=policy.drift.test_bins,
            prediction_column=PROBABILITY_COLUMN if PROBABILITY_COLUMN in reference else None,
        )
        self.importance = metadata.importance_share()
        self.reset()

    def reset(self) -> None:
        drift = self.policy.drift
        self.confirmer = SeverityConfirmer(drift.confirm_windows, drift.confirm_min)
        self.watches = [
            ChangeWatch(name, AdwinDetector(delta=drift.adwin_delta)) for name in WATCHED_STREAMS
        ]

    def accepts(self, row: BaseModel) -> bool:
        if isinstance(row, QuarantinedRow):
            return True
        return isinstance(row, ScoredRow) and row.label_state in INPUT_STATES

    def new_window(self) -> DriftState:
        sample = None
        if self.attribution is not None:
            sample = RowSample(self.policy.drift.attribution_sample_rows)
        return DriftState(DriftWindow(self.profile), sample=sample)

    def update(self, state: DriftState, row: BaseModel) -> None:
        if isinstance(row, QuarantinedRow):
            state.quarantined_rows += 1
            state.quarantined.update({issue.code.value for issue in row.issues})
            return
        scored: ScoredRow = row  # type: ignore[assignment]
        values = scored.features.model_dump()
        if state.sample is not None:
            state.sample.update(scored.event_id, dict(values))
        values[PREDICTION] = scored.probability
        state.counts.update(values)
        state.stream.update(scored.event_time, values)

    def encode(self, state: DriftState) -> DriftPartial:
        return DriftPartial(
            scored_rows=state.counts.rows,
            counts=PackedArray.of(state.counts.counts.ravel(), "<i8"),
            unseen=PackedArray.of(state.counts.unseen, "<i8"),
            quarantined_rows=state.quarantined_rows,
            quarantined_by_reason=dict(state.quarantined),
            stream=state.stream.message(),
            sample=state.sample.message() if state.sample is not None else None,
        )

    def decode(self, partial: DriftPartial) -> DriftState:  # type: ignore[override]
        shape = self.profile.reference.shape
        counts = DriftWindow(
            self.profile,
            partial.scored_rows,
            partial.counts.array().reshape(shape).astype(float),
            partial.unseen.array(),
        )
        return DriftState(
            counts,
            RowStream.from_message(WATCHED_STREAMS, partial.stream),
            Counter(partial.quarantined_by_reason),
            partial.quarantined_rows,
            RowSample.from_message(partial.sample) if partial.sample is not None else None,
        )

    def merge(self, state: DriftState, other: DriftState) -> DriftState:
        sample = state.sample
        if sample is not None and other.sample is not None:
            sample = sample.merge(other.sample)
        return DriftState(
            state.counts.merge(other.counts),
            state.stream.merge(other.stream),
            state.quarantined + other.quarantined,
            state.quarantined_rows + other.quarantined_rows,
            sample or other.sample,
        )

    def signal(self, closed: ClosedWindow[DriftState]) -> DriftSignal:
        counts = closed.state.counts
        change_points = detect(self.watches, closed.state.stream)
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
            change_points=tuple(change_points),
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
        self.reset()

    def reset(self) -> None:
        # the last span_windows windows by start: a replayed window replaces itself
        self.recent: dict[datetime, GroupWindow] = {}

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

    def encode(self, state: GroupWindow) -> FairnessPartial:
        cells = tuple(
            GroupCell(attribute=attribute, group=group, counts=tuple(counts))  # type: ignore[arg-type]
            for (attribute, group), counts in sorted(state.cells.items())
        )
        return FairnessPartial(rows=state.rows, cells=cells)

    def decode(self, partial: FairnessPartial) -> GroupWindow:  # type: ignore[override]
        cells = {(c.attribute, c.group): list(c.counts) for c in partial.cells}
        return GroupWindow(self.policy.fairness.attributes, cells, partial.rows)

    def merge(self, state: GroupWindow, other: GroupWindow) -> GroupWindow:
        return state.merge(other)

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


# Reads a partition's messages with offsets in [start, end): how a stage rebuilds its state.
PartitionReader = Callable[[Topic, int, int, int], Iterable[tuple[int, BaseModel]]]


def row_identity(row: BaseModel) -> Hashable:
    """What makes a row the same row when it is delivered twice: its id and label state (a row
    is scored once PENDING and again JOINED), or for a quarantined one where it was read from."""
    if isinstance(row, QuarantinedRow):
        return (row.source_topic, row.source_partition, row.source_offset)
    return (row.event_id, row.label_state)  # type: ignore[attr-defined]


class WindowWorker(Handler, Generic[S]):
    """Rows to partial windows: tumbling event-time windows per source partition.

    A row published twice (a scorer killed between publishing and committing re-scores what it
    had not committed) is counted once: duplicates share the partition (same key), and each
    partition remembers its last ``dedupe_rows`` row ids, read back from before the position
    where reading resumes after an assignment, so a duplicate of a row whose window has closed
    is not counted as late either. A primary partition's windows close when that partition's own
    event time has passed their end (plus the allowed lateness), so a partition never waits for
    another. Rows of secondary topics
    (quarantine) join the window open for their time and close with the primary partitions this
    instance reads. A primary row moves those windows on only once the quarantine records
    published before it have been read (its ``quarantine_marks``): the consumer may deliver the
    row before records of the quarantine topic that were acknowledged before the row was
    published. Every assignment starts empty: the consumer re-reads each partition from its
    committed offset, which is held at the first row of the partition's oldest open window.
    """

    def __init__(
        self,
        calculator: WindowCalculator[S],
        settings: Settings,
        primary: Topic,
        partials: Topic,
        read: PartitionReader,
        secondary: Sequence[Topic] = (),
    ):
        self.calculator = calculator
        self.settings = settings
        self.partials = partials
        self.read = read
        self.primary_name = settings.topic_name(primary)
        self.secondary_names = {settings.topic_name(topic) for topic in secondary}
        self.quarantine_name = settings.topic_name(QUARANTINE)
        self.topics = {settings.topic_name(topic): topic for topic in (primary, *secondary)}
        self.size = timedelta(seconds=settings.window_seconds)
        self.origin = settings.simulation_start
        self.on_assign({})

    def _windows(self) -> TumblingWindows[S]:
        return TumblingWindows(
            origin=self.origin,
            size=self.size,
            allowed_lateness=timedelta(seconds=self.settings.allowed_lateness_seconds),
            new_state=self.calculator.new_window,
        )

    def on_assign(self, partitions: Mapping[PartitionKey, int]) -> None:
        primary = {p for p in partitions if p[0] == self.primary_name}
        self.by_partition: dict[PartitionKey, TumblingWindows[S]] = {}
        for key in primary:
            self.by_partition[key] = self._windows()
            self.by_partition[key].expect_partitions({key})
        self.secondary: dict[PartitionKey, TumblingWindows[S]] = {}
        for key in (p for p in partitions if p[0] in self.secondary_names):
            self.secondary[key] = self._windows()
            self.secondary[key].expect_partitions(primary)
            self.by_partition[key] = self.secondary[key]
        # next offset to read per secondary partition, and primary progress not yet passed on to
        # the secondary windows: (event time, quarantine marks) in the order read
        self.secondary_read_to = {key: max(0, partitions[key]) for key in self.secondary}
        self.waiting: dict[PartitionKey, deque[tuple[datetime, Mapping[int, int]]]] = {
            key: deque() for key in primary
        }
        self.reported: dict[PartitionKey, datetime] = {}
        self.newest_row_ms: dict[tuple[PartitionKey, datetime], int] = {}
        self.recent_ids: dict[PartitionKey, RecentIds] = {}
        for key in self.by_partition:
            self.recent_ids[key] = recent = RecentIds(self.settings.dedupe_rows)
            # the rows just before where reading resumes: their duplicates are not late rows
            start = partitions[key]
            lookback = self.read(self.topics[key[0]], key[1], start - recent.capacity, start)
            for _, row in lookback:
                if self.calculator.accepts(row):
                    recent.seen(row_identity(row))

    def handle(self, batch: Sequence[Inbound]) -> list[Outbound]:
        for item in batch:
            row = item.value
            key = item.partition_key
            if key in self.secondary_read_to:
                self.secondary_read_to[key] = max(self.secondary_read_to[key], item.offset + 1)
            if not self.calculator.accepts(row):
                continue
            windows = self.by_partition.get(key)
            if windows is None:
                log.warning("a row of %s[%d], which is not assigned here, was skipped", *key)
                continue
            if self.recent_ids[key].seen(row_identity(row)):
                continue  # published twice by a scorer that restarted before committing
            event_time: datetime = row.event_time  # type: ignore[attr-defined]
            primary = key[0] == self.primary_name
            state = windows.add(event_time, key, item.offset, advances_watermark=primary)
            if primary and self.secondary:
                self.waiting[key].append((event_time, item.quarantine_marks))
            if state is not None:
                self.calculator.update(state, row)
                start = window_start(event_time, self.origin, self.size)
                newest = self.newest_row_ms.get((key, start), 0)
                self.newest_row_ms[(key, start)] = max(newest, item.timestamp_ms)
        self._pass_progress_to_secondary()
        return self._partials({key: w.advance() for key, w in self.by_partition.items()})

    def _pass_progress_to_secondary(self) -> None:
        """Primary event time reaches the secondary windows once the quarantine records published
        before those rows have been read here; a row waits behind the rows read before it."""
        for key, waiting in self.waiting.items():
            while waiting:
                event_time, marks = waiting[0]
                if any(
                    name == self.quarantine_name and marks.get(partition, 0) > read_to
                    for (name, partition), read_to in self.secondary_read_to.items()
                ):
                    break
                waiting.popleft()
                for windows in self.secondary.values():
                    windows.observe(event_time, key)

    def on_idle(self) -> list[Outbound]:
        """Input is idle: close every open window, and tell the combiner that every partition read
        here is complete through the newest window any of them saw."""
        closed = {key: w.flush() for key, w in self.by_partition.items()}
        marks = [w.closed_through for w in self.by_partition.values() if w.closed_through]
        if marks:
            for windows in self.by_partition.values():
                windows.flush(through=max(marks))
        return self._partials(closed)

    def held_offsets(self) -> dict[PartitionKey, int]:
        held: dict[PartitionKey, int] = {}
        for windows in self.by_partition.values():
            held.update(windows.held_offsets())  # type: ignore[arg-type]
        return held

    def _partials(self, closed: Mapping[PartitionKey, list[ClosedWindow[S]]]) -> list[Outbound]:
        outputs = []
        for key, windows in closed.items():
            mark = self.by_partition[key].closed_through
            if mark is None:
                continue
            # A mark promises the combiner every partial of this partition up to it: each partial
            # may promise only the windows published so far (the combiner can read the first of
            # them in one batch and the rest in the next).
            for index, window in enumerate(windows):
                last = index == len(windows) - 1
                outputs.append(self._partial(key, window, mark if last else window.end))
            if not windows and mark > self.reported.get(key, mark - self.size):
                # no rows closed, but the partition moved on: say so, or the combiner would wait
                empty: ClosedWindow = ClosedWindow(mark - self.size, mark, None, 0)
                outputs.append(self._partial(key, empty, mark))
            self.reported[key] = mark
        return outputs

    def _partial(self, key: PartitionKey, window: ClosedWindow[S], mark: datetime) -> Outbound:
        newest = self.newest_row_ms.pop((key, window.start), 0)
        partial = WindowPartial(
            event_time=window.end,
            monitor=self.calculator.name,
            window_start=window.start,
            window_end=window.end,
            source=key[0],
            partition=key[1],
            closed_through=mark,
            rows=window.rows,
            late_rows=window.late_rows,
            last_row_at=datetime.fromtimestamp(newest / 1000, tz=UTC) if newest else None,
            state=self.calculator.encode(window.state) if window.rows else None,
        )
        return Outbound(self.partials, partial)


class WindowCombiner(Handler, Generic[S]):
    """Partial windows to signals, on the instance that holds the partials topic's partition.

    A window closes when every source partition's ``closed_through`` has passed its end; its
    partials merge in partition order, so the signal does not depend on which instance read which
    partition. A partial published twice (its worker re-read the partition after a restart or a
    rebalance) replaces the first while the window is open and is dropped after.
    """

    def __init__(
        self,
        calculator: WindowCalculator[S],
        settings: Settings,
        partials: Topic,
        sources: Sequence[Topic],
        read: PartitionReader,
    ):
        self.calculator = calculator
        self.partials = partials
        self.partials_key: PartitionKey = (settings.topic_name(partials), 0)
        self.expected = {(settings.topic_name(t), p) for t in sources for p in range(t.partitions)}
        self.idle_seconds = settings.idle_flush_seconds
        self.restore_partials = settings.restore_partials
        self.read = read
        self.active = False
        self._reset()

    def _reset(self) -> None:
        self.open: dict[datetime, dict[PartitionKey, tuple[int, WindowPartial]]] = {}
        self.marks: dict[PartitionKey, datetime] = {}
        self.closed_through: datetime | None = None
        self.last_partial_at = time.monotonic()
        self.idle_ticks = 0
        # rows of partials that came after their window had closed: reported as late rows
        self.late_pending = 0
        # the partitions each recently published window was merged from
        self.published_parts: dict[datetime, set[PartitionKey]] = {}
        # windows rebuilt from the replay: published before, so they close without a signal
        self.republished: set[datetime] = set()
        self.replayed_to = 0
        self.calculator.reset()

    def on_assign(self, partitions: Mapping[PartitionKey, int]) -> None:
        self._reset()
        self.active = self.partials_key in partitions
        if not self.active:
            return
        # Everything before the committed offset belongs to windows already published: replay the
        # last of it to rebuild what spans windows (rolling views, ADWIN), publishing nothing.
        # A window's last partials may come after that offset (another partition's later window
        # was still open then, and held it): such a window stays open, still without a signal,
        # until they are in.
        end = partitions[self.partials_key]
        start = max(0, end - self.restore_partials)
        for offset, partial in self.read(self.partials, 0, start, end):
            self._add(partial, offset)  # type: ignore[arg-type]
        self.replayed_to = max(0, end)
        self.republished = set(self.open)
        self._close(self._ready())

    def _ready(self) -> list[datetime]:
        """Open windows that every source partition has passed."""
        if not self.expected <= self.marks.keys():
            return []
        mark = min(self.marks[key] for key in self.expected)
        return [start for start, parts in self.open.items() if self._end(parts) <= mark]

    def handle(self, batch: Sequence[Inbound]) -> list[Outbound]:
        added = False
        for item in batch:
            if item.partition_key == self.partials_key:
                added |= self._add(item.value, item.offset)  # type: ignore[arg-type]
        if not added:
            return []
        self.last_partial_at = time.monotonic()
        self.idle_ticks = 0
        return self._close(self._ready())

    def on_idle(self) -> list[Outbound]:
        """A partition whose worker has gone quiet (the stream ended, or more instances than
        partitions) must not hold windows forever: close them once no partial came for a while.

        Workers flush their open windows on the same idle tick (this one, when they share the
        consumer): their partials are still on the way. So windows close on the second idle tick
        in a row without a partial, not the first."""
        if not self.open or time.monotonic() - self.last_partial_at < self.idle_seconds:
            return []
        self.idle_ticks += 1
        if self.idle_ticks < 2:
            return []
        return self._close(list(self.open))

    def held_offsets(self) -> dict[PartitionKey, int]:
        # replayed partials are before the committed offset already: holding them would move it
        # back, and a window published before would be published again after the next restart
        offsets = [
            offset
            for parts in self.open.values()
            for offset, _ in parts.values()
            if offset >= self.replayed_to
        ]
        return {self.partials_key: min(offsets)} if offsets else {}

    def _add(self, partial: WindowPartial, offset: int) -> bool:
        if partial.monitor != self.calculator.name:
            return False
        key = (partial.source, partial.partition)
        if key not in self.marks or partial.closed_through > self.marks[key]:
            self.marks[key] = partial.closed_through
        done = self.closed_through is not None and partial.window_end <= self.closed_through
        published_with = self.published_parts.get(partial.window_start)
        if partial.rows and done and published_with is not None and key not in published_with:
            # its window was published without it (closed while idle): count its rows late
            published_with.add(key)
            log.warning(
                "%s: a partial of %s[%d] for the window of %s came after it closed; %d rows late",
                self.calculator.name, *key, partial.window_start.isoformat(), partial.rows,
            )  # fmt: skip
            self.late_pending += partial.rows
        elif partial.rows and not done:
            self.open.setdefault(partial.window_start, {})[key] = (offset, partial)
        return True

    @staticmethod
    def _end(parts: Mapping[PartitionKey, tuple[int, WindowPartial]]) -> datetime:
        return next(iter(parts.values()))[1].window_end

    def _close(self, starts: list[datetime]) -> list[Outbound]:
        outputs = []
        for start in sorted(starts):
            parts = self.open.pop(start)
            self.published_parts[start] = set(parts)
            while len(self.published_parts) > self.restore_partials:
                del self.published_parts[min(self.published_parts)]
            merged = [partial for _, (_, partial) in sorted(parts.items())]
            if start in self.republished:
                # rebuild the state that spans windows; late rows wait for the next signal
                self.republished.discard(start)
                self._signal(merged, late_rows=0)
                continue
            outputs.append(self._signal(merged, late_rows=self.late_pending))
            self.late_pending = 0
        return outputs

    def _signal(self, parts: list[WindowPartial], late_rows: int) -> Outbound:
        """The window's signal; ``late_rows``: rows of other windows that came after they closed."""
        # only partials with rows open a window, and those carry their state
        states = [self.calculator.decode(p.state) for p in parts if p.state is not None]
        state = functools.reduce(self.calculator.merge, states)
        first = parts[0]
        closed = ClosedWindow(
            first.window_start,
            first.window_end,
            state,
            sum(p.late_rows for p in parts) + late_rows,
            sum(p.rows for p in parts),
        )
        if self.closed_through is None or closed.end > self.closed_through:
            self.closed_through = closed.end
        newest = [p.last_row_at for p in parts if p.last_row_at is not None]
        signal = self.calculator.signal(closed).model_copy(
            update={
                "closed_at": datetime.now(tz=UTC),
                "last_row_at": max(newest) if newest else None,
            }
        )
        return Outbound(self.calculator.signal_topic, signal)


def monitor_handler(
    calculators: Sequence[WindowCalculator],
    settings: Settings,
    primary: Topic,
    partials: Topic,
    read: PartitionReader,
    secondary: Sequence[Topic] = (),
) -> Handler:
    """Workers and combiners of ``calculators`` on one consumer (they share its offsets)."""
    workers = [WindowWorker(c, settings, primary, partials, read, secondary) for c in calculators]
    combiners = [
        WindowCombiner(c, settings, partials, [primary, *secondary], read) for c in calculators
    ]
    return FanOutHandler(*workers, *combiners)
