"""The monitors' window statistics as calculators (pure: no Kafka, no metrics client).

A calculator knows one statistic: which rows it reads, how to start a window's state, feed it a
row, turn the state into a partial-window message and back (refusing one that does not fit), merge
two states, and turn a closed window into a signal. Every state is bounded by configuration, never
by the window's row count: counts on the reference's bins, per-class score sketches, event-time
buckets for the sequential detectors and a fixed-size row sample. The stages that run calculators
over Kafka (``monitors.service``) are the same for every monitor.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd
from pydantic import BaseModel

from model.artifact import PROBABILITY_COLUMN, ModelMetadata
from monitors.attribution import LinearAttribution, RowSample, ndcg
from monitors.changepoint import AdwinDetector, BucketStream, ChangeWatch, detect
from monitors.confirm import SeverityConfirmer
from monitors.drift import PREDICTION, DriftWindow, ReferenceProfile
from monitors.fairness import GroupWindow, recent_gaps
from monitors.performance import EstimateWindow, PerformanceWindow, calibrate
from monitors.sketch import ScoreSketch
from monitors.windowing import ClosedWindow
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
    WindowSignal,
)
from shared.topics import (
    DRIFT_SIGNALS,
    FAIRNESS_SIGNALS,
    PERFORMANCE_SIGNALS,
    RAW_ROWS,
    SCORED_ROWS,
    Topic,
)

S = TypeVar("S")

INPUT_STATES = frozenset({LabelState.INLINE, LabelState.PENDING})
LABEL_STATES = frozenset({LabelState.INLINE, LabelState.JOINED})


class WindowCalculator(Protocol[S]):
    name: str
    signal_topic: Topic

    def accepts(self, row: BaseModel) -> bool: ...

    def new_window(self) -> S: ...

    def update(self, state: S, rows: Sequence[Any]) -> None:
        """Feed the state a batch of rows it accepts, in the order they were read."""
        ...

    def encode(self, state: S) -> PartialState: ...

    def decode(self, partial: PartialState, span: tuple[datetime, datetime] | None = None) -> S:
        """The state of a partial (of the window ``span``, start and end, when given);
        ValueError when it does not fit this calculator or that window."""
        ...

    def merge(self, state: S, other: S) -> S: ...

    def signal(self, closed: ClosedWindow[S]) -> WindowSignal: ...

    def reset(self) -> None:
        """Forget what spans windows (before a replay rebuilds it)."""
        ...


@dataclass(frozen=True)
class StreamClock:
    """Where event-time buckets of the sequential detectors start and how wide they are: a
    window holds ``buckets`` of them, whatever its row count."""

    origin: datetime
    window: timedelta
    buckets: int

    @property
    def width(self) -> timedelta:
        return self.window / self.buckets

    def stream(self, names: tuple[str, ...]) -> BucketStream:
        return BucketStream(names, self.origin, self.width)


def _window_fields(closed: ClosedWindow, rows: int) -> dict:
    return {
        "event_time": closed.end,
        "window_start": closed.start,
        "window_end": closed.end,
        "rows": rows,
        "late_rows": closed.late_rows,
    }


ERROR_STREAM = ("error_rate",)


@dataclass
class PerformanceState:
    window: PerformanceWindow
    errors: BucketStream


class PerformanceCalculator:
    """Confusion counts and ROC-AUC of labelled rows, plus ADWIN on the error per bucket."""

    name = "performance"
    signal_topic = PERFORMANCE_SIGNALS

    def __init__(self, metadata: ModelMetadata, policy: Policy, clock: StreamClock):
        self.metadata = metadata
        self.policy = policy
        self.clock = clock
        self.confidence = policy.performance.confidence
        self.k = policy.summaries.sketch_k
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
        return PerformanceState(PerformanceWindow(k=self.k), self.clock.stream(ERROR_STREAM))

    def update(self, state: PerformanceState, rows: Sequence[ScoredRow]) -> None:
        times, errors = [], []
        for row in rows:
            state.window.update(row.label, row.prediction, row.probability)
            if row.label is not None:
                times.append(row.event_time)
                errors.append(float(row.prediction != row.label))
        state.errors.update_many(times, {"error_rate": errors})

    def encode(self, state: PerformanceState) -> PerformancePartial:
        w = state.window
        return PerformancePartial(
            rows=w.rows, tp=w.tp, fp=w.fp, tn=w.tn, fn=w.fn,
            predicted_positive=w.predicted_positive, squared_error=w.squared_error,
            positives=w.positives.message(), negatives=w.negatives.message(),
            stream=state.errors.message(),
        )  # fmt: skip

    def decode(
        self, partial: PartialState, span: tuple[datetime, datetime] | None = None
    ) -> PerformanceState:
        if not isinstance(partial, PerformancePartial):
            raise ValueError(f"a {partial.kind} partial, expected PerformancePartial")
        positives = ScoreSketch.from_message(partial.positives, self.k)
        negatives = ScoreSketch.from_message(partial.negatives, self.k)
        if positives.rows != partial.tp + partial.fn or negatives.rows != partial.fp + partial.tn:
            raise ValueError("score sketches do not hold the labelled rows the counts say")
        labelled = partial.tp + partial.fp + partial.tn + partial.fn
        if labelled > partial.rows or partial.predicted_positive > partial.rows:
            raise ValueError("confusion counts exceed the rows")
        window = PerformanceWindow(
            rows=partial.rows, tp=partial.tp, fp=partial.fp, tn=partial.tn, fn=partial.fn,
            predicted_positive=partial.predicted_positive, squared_error=partial.squared_error,
            k=self.k, positives=positives, negatives=negatives,
        )  # fmt: skip
        errors = BucketStream.from_message(
            ERROR_STREAM, self.clock.origin, self.clock.width, partial.stream
        )
        if errors.rows != labelled:
            raise ValueError("the error stream does not hold the labelled rows")
        if span is not None and not errors.within(*span):
            raise ValueError("the error stream has buckets outside the window")
        return PerformanceState(window, errors)

    def merge(self, state: PerformanceState, other: PerformanceState) -> PerformanceState:
        return PerformanceState(state.window.merge(other.window), state.errors.merge(other.errors))

    def signal(self, closed: ClosedWindow[PerformanceState]) -> PerformanceSignal:
        cap = self.policy.summaries.adwin_values_per_bucket
        change_points = detect([self.error_watch], closed.state.errors, cap)
        result = closed.state.window.result(self.confidence)
        self.recent.append(closed.state.window)
        merged = self.recent[0]
        for window in list(self.recent)[1:]:
            merged = merged.merge(window)
        span = asdict(merged.result(self.confidence))
        baseline = self.metadata.baseline
        return PerformanceSignal(
            **_window_fields(closed, result.rows),
            **{name: value for name, value in asdict(result).items() if name != "rows"},
            baseline_recall=baseline.recall,
            baseline_roc_auc=baseline.roc_auc,
            baseline_label_rate=baseline.label_rate,
            baseline_positive_rate=baseline.positive_rate,
            change_points=tuple(change_points),
            rolling=RollingPerformance(
                windows=len(self.recent),
                **{name: span[name] for name in RollingPerformance.model_fields if name in span},
            ),
        )


class EstimatedPerformanceCalculator:
    """Provisional performance of predictions whose labels have not arrived (CBPE-style)."""

    name = "performance-estimate"
    signal_topic = PERFORMANCE_SIGNALS

    def __init__(self, metadata: ModelMetadata, policy: Policy):
        self.metadata = metadata
        self.k = policy.summaries.sketch_k

    def reset(self) -> None:
        """Nothing spans windows."""

    def accepts(self, row: BaseModel) -> bool:
        return isinstance(row, ScoredRow) and row.label_state == LabelState.PENDING

    def new_window(self) -> EstimateWindow:
        return EstimateWindow(k=self.k)

    def update(self, state: EstimateWindow, rows: Sequence[ScoredRow]) -> None:
        scores = np.fromiter((row.probability for row in rows), float, len(rows))
        predicted = np.fromiter((row.prediction for row in rows), bool, len(rows))
        probability = calibrate(
            scores, self.metadata.calibration_scores, self.metadata.calibration_rates
        )
        state.update_many(probability, predicted, scores)

    def encode(self, state: EstimateWindow) -> EstimatePartial:
        return EstimatePartial(
            rows=state.rows,
            predicted_positive=state.predicted_positive,
            probability_predicted_positive=state.probability_predicted_positive,
            probability_predicted_negative=state.probability_predicted_negative,
            scores=state.scores.message(),
        )

    def decode(
        self, partial: PartialState, span: tuple[datetime, datetime] | None = None
    ) -> EstimateWindow:
        if not isinstance(partial, EstimatePartial):
            raise ValueError(f"a {partial.kind} partial, expected EstimatePartial")
        scores = ScoreSketch.from_message(partial.scores, self.k)
        if scores.rows != partial.rows or partial.predicted_positive > partial.rows:
            raise ValueError("the score sketch does not hold the rows the counts say")
        if partial.probability_predicted_positive > partial.predicted_positive or (
            partial.probability_predicted_negative > partial.rows - partial.predicted_positive
        ):
            raise ValueError("probability sums exceed their rows")
        return EstimateWindow(
            partial.rows,
            partial.predicted_positive,
            partial.probability_predicted_positive,
            partial.probability_predicted_negative,
            self.k,
            scores,
        )

    def merge(self, state: EstimateWindow, other: EstimateWindow) -> EstimateWindow:
        return state.merge(other)

    def signal(self, closed: ClosedWindow[EstimateWindow]) -> PerformanceSignal:
        state = closed.state
        estimate = state.result(self.metadata.calibration_scores, self.metadata.calibration_rates)
        baseline = self.metadata.baseline
        return PerformanceSignal(
            **_window_fields(closed, estimate.rows),
            **{name: value for name, value in asdict(estimate).items() if name != "rows"},
            provisional=True,
            labelled=0,
            positive_rate=state.predicted_positive / state.rows if state.rows else None,
            label_coverage=0.0,
            baseline_recall=baseline.recall,
            baseline_roc_auc=baseline.roc_auc,
            baseline_label_rate=baseline.label_rate,
            baseline_positive_rate=baseline.positive_rate,
        )


# Quarantine records of these topics are rows (on the broker: "<namespace>.<topic>").
ROW_TOPIC_SUFFIXES = (f".{RAW_ROWS.name}", f".{SCORED_ROWS.name}")


@dataclass
class DriftState:
    counts: DriftWindow
    stream: BucketStream
    quarantined: Counter = field(default_factory=Counter)
    quarantined_rows: int = 0
    sample: RowSample | None = None


class DriftCalculator:
    """Drift per feature and of the prediction; quarantined rows counted apart; ADWIN on the
    prediction and the numeric inputs, per event-time bucket."""

    name = "drift"
    signal_topic = DRIFT_SIGNALS

    def __init__(
        self,
        reference: pd.DataFrame,
        metadata: ModelMetadata,
        policy: Policy,
        clock: StreamClock,
        attribution: LinearAttribution | None = None,
    ):
        self.policy = policy
        self.metadata = metadata
        self.clock = clock
        self.attribution = attribution
        contract = metadata.contract
        self.profile = ReferenceProfile.fit(
            reference,
            policy.drift.bins,
            contract.names,
            policy.drift.test_bins,
            PROBABILITY_COLUMN if PROBABILITY_COLUMN in reference else None,
            numeric=contract.numeric,
        )
        # the check's compiled loops made ready now, not in the first window: compiled the first
        # time on a machine (a few seconds), loaded from disk after
        DriftWindow(self.profile).update_frame(reference.head(1)).check(policy.drift)
        # label-free change detection runs on the model's output and on each numeric input
        self.watched = (PREDICTION, *contract.numeric)
        self.importance = metadata.importance_share()
        self.reset()

    def reset(self) -> None:
        drift = self.policy.drift
        self.confirmer = SeverityConfirmer(drift.confirm_windows, drift.confirm_min)
        self.watches = [
            ChangeWatch(name, AdwinDetector(delta=drift.adwin_delta)) for name in self.watched
        ]

    def accepts(self, row: BaseModel) -> bool:
        if isinstance(row, QuarantinedRow):
            # rows refused on the way in or out of the scorer; not labels, partials or signals
            return row.source_topic.endswith(ROW_TOPIC_SUFFIXES)
        return isinstance(row, ScoredRow) and row.label_state in INPUT_STATES

    def new_window(self) -> DriftState:
        sample = None
        if self.attribution is not None:
            sample = RowSample(self.policy.drift.attribution_sample_rows)
        return DriftState(DriftWindow(self.profile), self.clock.stream(self.watched), sample=sample)

    def update(self, state: DriftState, rows: Sequence[ScoredRow | QuarantinedRow]) -> None:
        scored: list[ScoredRow] = []
        for row in rows:
            if isinstance(row, QuarantinedRow):
                state.quarantined_rows += 1
                state.quarantined.update({issue.code.value for issue in row.issues})
            else:
                scored.append(row)
        if not scored:
            return
        # the validated rows' own feature mappings
        features = [row.features for row in scored]
        if state.sample is not None:
            for row, values in zip(scored, features, strict=True):
                state.sample.update(row.event_id, values)  # kept as is: a frozen message's
        columns: dict[str, Any] = {name: [values[name] for values in features]
                                   for name in features[0]}  # fmt: skip
        columns[PREDICTION] = [row.probability for row in scored]
        state.counts.update_columns(columns, len(scored))
        state.stream.update_many([row.event_time for row in scored], columns)

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

    def decode(
        self, partial: PartialState, span: tuple[datetime, datetime] | None = None
    ) -> DriftState:
        if not isinstance(partial, DriftPartial):
            raise ValueError(f"a {partial.kind} partial, expected DriftPartial")
        shape = self.profile.reference.shape
        counts = partial.counts.array()
        if counts.size != shape[0] * shape[1] or (counts < 0).any():
            raise ValueError(f"{counts.size} drift counts, expected {shape[0] * shape[1]}")
        if partial.unseen.array().size != shape[0]:
            raise ValueError(f"unseen counts of {partial.unseen.array().size} features")
        window = DriftWindow(
            self.profile,
            partial.scored_rows,
            counts.reshape(shape).astype(float),
            partial.unseen.array(),
        )
        stream = BucketStream.from_message(
            self.watched, self.clock.origin, self.clock.width, partial.stream
        )
        if stream.rows != partial.scored_rows:
            raise ValueError("the bucket stream does not hold the scored rows")
        if span is not None and not stream.within(*span):
            raise ValueError("the bucket stream has buckets outside the window")
        sample = None
        if partial.sample is not None:
            sample = RowSample.from_message(partial.sample)
        return DriftState(
            window,
            stream,
            Counter(partial.quarantined_by_reason),
            partial.quarantined_rows,
            sample,
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
        cap = self.policy.summaries.adwin_values_per_bucket
        change_points = detect(self.watches, closed.state.stream, cap)
        drifts = self.confirmer.confirm(
            counts.result(self.policy.drift, self.importance), closed.start
        )
        features = tuple(d for d in drifts if d.feature != PREDICTION)
        prediction = next((d for d in drifts if d.feature == PREDICTION), None)
        ranked = sorted((d for d in features if d.significant), key=lambda d: -d.impact)
        attribution_ndcg: float | None = None
        attribution_top: tuple[str, ...] = ()
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
            missing_values=counts.missing_by_feature(),
        )


class FairnessCalculator:
    """Per-group metrics of labelled rows, judged per window and over a rolling span."""

    name = "fairness"
    signal_topic = FAIRNESS_SIGNALS

    def __init__(self, policy: Policy, attributes: Sequence[str]):
        self.policy = policy
        self.attributes = tuple(attributes)
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
        return GroupWindow(self.attributes)

    def update(self, state: GroupWindow, rows: Sequence[ScoredRow]) -> None:
        for row in rows:
            state.update(row.features, row.label, row.prediction)  # read, not kept

    def encode(self, state: GroupWindow) -> FairnessPartial:
        cells = tuple(
            GroupCell(attribute=attribute, group=group, counts=(a, b, c, d))
            for (attribute, group), (a, b, c, d) in sorted(state.cells.items())
        )
        return FairnessPartial(rows=state.rows, cells=cells)

    def decode(
        self, partial: PartialState, span: tuple[datetime, datetime] | None = None
    ) -> GroupWindow:
        if not isinstance(partial, FairnessPartial):
            raise ValueError(f"a {partial.kind} partial, expected FairnessPartial")
        attributes = self.attributes
        cells: dict[tuple[str, str], list[int]] = {}
        for cell in partial.cells:
            if cell.attribute not in attributes or min(cell.counts) < 0:
                raise ValueError(f"a group cell of {cell.attribute!r} does not fit the policy")
            cells[(cell.attribute, cell.group)] = list(cell.counts)
        for attribute in attributes:
            labelled = sum(sum(c) for (a, _), c in cells.items() if a == attribute)
            if labelled > partial.rows:
                raise ValueError(f"groups of {attribute} hold more rows than the partial")
        return GroupWindow(attributes, cells, partial.rows)

    def merge(self, state: GroupWindow, other: GroupWindow) -> GroupWindow:
        return state.merge(other)

    def signal(self, closed: ClosedWindow[GroupWindow]) -> FairnessSignal:
        rules = self.policy.fairness
        limits = (rules.min_group_positives, rules.min_group_negatives, rules.gap_confidence,
                  rules.gap_interval)  # fmt: skip
        groups, gaps = closed.state.result(*limits)
        self._remember(closed.start, closed.state)
        span = [w for start, w in sorted(self.recent.items()) if start <= closed.start]
        pooled, strongest = recent_gaps(span[::-1], self.attributes, *limits)
        return FairnessSignal(
            **_window_fields(closed, closed.state.rows),
            groups=tuple(g.message() for g in groups),
            gaps=tuple(g.message() for g in gaps),
            pooled_gaps=tuple(g.message() for g in pooled),
            strongest_gaps=tuple(g.message() for g in strongest),
            span_windows=len(span),
        )
