"""The scorer's handler: validate, quarantine with reasons, score in micro-batches, join labels."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from model.artifact import ModelMetadata
from scorer.validation import RowValidator
from shared.eventtime import PartitionClock
from shared.handler import Handler, Inbound, Outbound, PartitionKey
from shared.records import Keep, quarantine_outbound, refused_message_record
from shared.schemas import (
    FieldIssue,
    IssueCode,
    LabelEvent,
    LabelState,
    QuarantinedRow,
    RawRow,
    ScoredRow,
)
from shared.topics import SCORED_ROWS

# A row's probability must not depend on the batch it was scored in: BLAS gives the same row a
# result one ulp apart in batches of different sizes (a restarted scorer batches differently),
# which would change tied ranks in ROC-AUC. Nine decimals are far finer than any monitor needs and
# far coarser than that noise.
PROBABILITY_DECIMALS = 9
SCORED_ROW = ScoredRow.__pydantic_validator__
NO_PROBABILITY = FieldIssue(
    field="$", code=IssueCode.INVALID, detail="the model gave no probability in [0, 1] for it"
)


def feature_frame(rows: Sequence[RawRow], names: Sequence[str]) -> pd.DataFrame:
    """The batch's features as one frame, columns in the contract's order (built from the
    validated rows' own feature mappings: no per-row copy)."""
    return pd.DataFrame([row.features for row in rows], columns=list(names))


def score_probabilities(model: Any, rows: Sequence[RawRow], names: Sequence[str]) -> np.ndarray:
    """Probability of the positive label per row, one ``predict_proba`` call for the batch."""
    return score_frame(model, feature_frame(rows, names))


def score_frame(model: Any, frame: pd.DataFrame) -> np.ndarray:
    return np.round(model.predict_proba(frame)[:, 1], PROBABILITY_DECIMALS)


@dataclass(frozen=True)
class _Held:
    """Something kept in memory until its partner arrives, with where it was read from."""

    value: Any
    source: PartitionKey
    offset: int


class LabelJoin:
    """Predictions waiting for their label and labels that came before their row (pure).

    Both sides are bounded; the oldest entry is dropped (and counted) when a side is full. Entries
    keep their source offsets so the loop does not commit past them: after a restart they are
    re-read from the topics, not lost.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.predictions: OrderedDict[str, _Held] = OrderedDict()
        self.early_labels: OrderedDict[str, _Held] = OrderedDict()
        self.quarantined_ids: OrderedDict[str, None] = OrderedDict()
        self.evicted = 0
        self.orphaned = 0

    def add_prediction(
        self, row: ScoredRow, source: PartitionKey, offset: int
    ) -> LabelEvent | None:
        """Keep the prediction; return its label when that was already here."""
        early = self.early_labels.pop(row.event_id, None)
        if early is not None:
            return early.value
        self.predictions[row.event_id] = _Held(row, source, offset)
        self._bound(self.predictions)
        return None

    def add_label(self, label: LabelEvent, source: PartitionKey, offset: int) -> ScoredRow | None:
        """The waiting prediction of this label, or None (the label is kept, or dropped)."""
        held = self.predictions.pop(label.event_id, None)
        if held is not None:
            return held.value
        if label.event_id in self.quarantined_ids:
            self.orphaned += 1  # its row was refused: there is nothing to join
            return None
        self.early_labels[label.event_id] = _Held(label, source, offset)
        self._bound(self.early_labels)
        return None

    def note_quarantined(self, event_id: str | None) -> None:
        if event_id is None:
            return
        self.quarantined_ids[event_id] = None
        while len(self.quarantined_ids) > self.capacity:
            self.quarantined_ids.popitem(last=False)
        early = self.early_labels.pop(event_id, None)
        if early is not None:
            self.orphaned += 1

    def held_offsets(self) -> dict[PartitionKey, int]:
        held: dict[PartitionKey, int] = {}
        for side in (self.predictions, self.early_labels):
            for entry in side.values():
                held[entry.source] = min(entry.offset, held.get(entry.source, entry.offset))
        return held

    @property
    def pending(self) -> int:
        return len(self.predictions)

    def _bound(self, side: OrderedDict[str, _Held]) -> None:
        while len(side) > self.capacity:
            side.popitem(last=False)
            self.evicted += 1


class ScorerHandler(Handler):
    def __init__(
        self,
        model: Any,
        metadata: ModelMetadata,
        keep: Keep,
        label_buffer_rows: int = 200_000,
        max_skew: timedelta = timedelta(days=7),
        jump_rows: int = 20,
    ):
        self.model = model
        self.metadata = metadata
        self.validator = RowValidator(metadata.features)
        self.names = metadata.contract.names
        self.keep = keep
        self.join = LabelJoin(label_buffer_rows)
        # per partition read: the newest event time accepted, and rows too far ahead of it
        self.max_skew = max_skew
        self.jump_rows = jump_rows
        self.clocks: dict[PartitionKey, PartitionClock] = {}

    def on_assign(self, partitions: Mapping[PartitionKey, int]) -> None:
        self.clocks = {}

    def _too_far_ahead(self, newest: datetime | None) -> FieldIssue:
        return FieldIssue(
            field="event_time",
            code=IssueCode.EVENT_TIME_OUT_OF_RANGE,
            detail=f"more than {self.max_skew} ahead of the newest row of its partition "
            f"({newest.isoformat() if newest else 'none'})",
        )

    def handle(self, batch: Sequence[Inbound]) -> list[Outbound]:
        """Validate and score the batch's rows column by column; join its labels."""
        outputs: list[Outbound] = []
        read = []
        for item in batch:
            if not isinstance(item.value, RawRow):
                continue
            clock = self.clocks.get(item.partition_key)
            if clock is None:
                # a partition's first row is judged against the newest of the others read here
                others = [c.newest for c in self.clocks.values() if c.newest is not None]
                clock = PartitionClock(self.max_skew, self.jump_rows, max(others, default=None))
                self.clocks[item.partition_key] = clock
            newest = clock.newest
            if clock.accept(item.value.event_time):
                read.append((item, item.value))
            else:
                # filed at the partition's own time: its stamp must not open a window either
                issue = self._too_far_ahead(newest)
                outputs.append(self._refuse(item, item.value, (issue,), at=newest))
        items = [item for item, _ in read]
        rows = [row for _, row in read]
        if rows:
            frame = feature_frame(rows, self.names)
            keep = np.ones(len(rows), dtype=bool)
            for index in np.flatnonzero(self.validator.suspects(frame)):
                row = rows[index]
                issues = self.validator.issues_of_values(row.features)
                if issues:
                    keep[index] = False
                    outputs.append(self._refuse(items[index], row, issues))
            if not keep.all():
                frame = frame[keep]
            kept = np.flatnonzero(keep)
            if len(kept):
                probabilities = score_frame(self.model, frame)
                for index, probability in zip(kept, probabilities.tolist(), strict=True):
                    if not 0.0 <= probability <= 1.0:  # NaN included: the model's own fault
                        outputs.append(self._refuse(items[index], rows[index], (NO_PROBABILITY,)))
                        continue
                    outputs += self._scored(items[index], rows[index], probability)
        for item in batch:
            if isinstance(item.value, LabelEvent):
                waiting = self.join.add_label(item.value, item.partition_key, item.offset)
                if waiting is not None:
                    outputs.append(self._joined(waiting, item.value.label))
        return outputs

    def held_offsets(self) -> dict[PartitionKey, int]:
        return self.join.held_offsets()

    def _refuse(self, item: Inbound, row: RawRow, issues: tuple[FieldIssue, ...],
                at: datetime | None = None) -> Outbound:  # fmt: skip
        self.join.note_quarantined(row.event_id)
        return quarantine_outbound(
            refused_message_record(item, issues, self.keep, at or row.event_time)
        )

    def on_rejected(self, row: QuarantinedRow) -> None:
        self.join.note_quarantined(row.event_id)

    def _scored(self, item: Inbound, row: RawRow, probability: float) -> list[Outbound]:
        # validated by the compiled validator itself: pydantic-core checks a row of validated
        # parts faster than model_construct skips the checks in Python
        scored: ScoredRow = SCORED_ROW.validate_python(dict(
            event_time=row.event_time,
            event_id=row.event_id,
            customer_id=row.customer_id,
            features=row.features,
            label=row.label,
            prediction=int(probability >= self.metadata.threshold),
            probability=probability,
            model_version=self.metadata.model_version,
            label_state=LabelState.INLINE if row.label is not None else LabelState.PENDING,
        ))  # fmt: skip
        outputs = [Outbound(SCORED_ROWS, scored, key=row.customer_id)]
        if row.label is None:
            early = self.join.add_prediction(scored, item.partition_key, item.offset)
            if early is not None:
                outputs.append(self._joined(scored, early.label))
        return outputs

    def _joined(self, prediction: ScoredRow, label: int) -> Outbound:
        joined = prediction.model_copy(update={"label": label, "label_state": LabelState.JOINED})
        return Outbound(SCORED_ROWS, joined, key=prediction.customer_id)
