"""The scorer's handler: validate, quarantine with reasons, score valid rows in micro-batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

from scorer.validation import RowValidator
from shared.artifact import ModelMetadata
from shared.features import FEATURES
from shared.loop import Handler, Inbound, Outbound
from shared.schemas import FieldIssue, QuarantinedRow, RawRow, ScoredRow
from shared.topics import QUARANTINE, SCORED_ROWS


def score_probabilities(model: Any, rows: Sequence[RawRow]) -> np.ndarray:
    """Churn probability per row, one ``predict_proba`` call for the whole batch."""
    frame = pd.DataFrame([row.features.model_dump() for row in rows], columns=list(FEATURES))
    return model.predict_proba(frame)[:, 1]


class ScorerHandler(Handler):
    def __init__(self, model: Any, metadata: ModelMetadata, payload_chars: int):
        self.model = model
        self.metadata = metadata
        self.validator = RowValidator(metadata.features)
        self.payload_chars = payload_chars

    def handle(self, batch: Sequence[Inbound]) -> list[Outbound]:
        outputs: list[Outbound] = []
        valid: list[RawRow] = []
        for item in batch:
            row = cast(RawRow, item.value)
            issues = self.validator.issues(row.features)
            if issues:
                outputs.append(Outbound(QUARANTINE, self._quarantine(item, row, issues)))
            else:
                valid.append(row)
        if valid:
            probabilities = score_probabilities(self.model, valid)
            for row, probability in zip(valid, probabilities, strict=True):
                p = float(probability)
                scored = ScoredRow(
                    event_time=row.event_time,
                    event_id=row.event_id,
                    customer_id=row.customer_id,
                    features=row.features,
                    label=row.label,
                    prediction=int(p >= self.metadata.threshold),
                    probability=p,
                    model_version=self.metadata.model_version,
                )
                outputs.append(Outbound(SCORED_ROWS, scored, key=row.customer_id))
        return outputs

    def _quarantine(
        self, item: Inbound, row: RawRow, issues: tuple[FieldIssue, ...]
    ) -> QuarantinedRow:
        payload = row.model_dump_json()
        return QuarantinedRow(
            event_time=row.event_time,
            event_id=row.event_id,
            source_topic=item.source,
            source_partition=item.partition,
            source_offset=item.offset,
            issues=issues,
            payload=payload[: self.payload_chars],
            payload_bytes=len(payload.encode()),
            payload_truncated=len(payload) > self.payload_chars,
        )
