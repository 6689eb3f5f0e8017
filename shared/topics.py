"""The one place that names topics, their partition counts and the message each carries."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from shared import schemas
from shared.strictjson import check_keys

M = TypeVar("M", bound=schemas.Message)

# Headers the producer sets on every row, so that a payload too broken to read can still be
# accounted for by id and windowed by its simulated time.
EVENT_ID_HEADER = "event_id"
EVENT_TIME_HEADER = "event_time"
# Set by a service on every message it publishes after quarantine records: per quarantine
# partition, the offset after the last quarantine record it had delivered ("0:17"). A consumer
# of both topics knows from it which quarantine records precede the message (the consumer's own
# view of the quarantine topic's end can be older than the message it just read).
QUARANTINE_MARK_HEADER = "quarantine_through"
# Set on every quarantine record beside the original message's own headers: its issue codes
# ("OUT_OF_RANGE,NULL") and where the message was read ("<topic>:<partition>:<offset>"), for
# tools that read headers only.
QUARANTINE_REASONS_HEADER = "quarantine_reasons"
QUARANTINE_SOURCE_HEADER = "quarantine_source"
# Set on a message sent back by ``trustwatch quarantine replay``: the quarantine record it came
# from ("<partition>:<offset>").
REPLAY_OF_HEADER = "quarantine_replay_of"


@dataclass(frozen=True, eq=False)
class Topic(Generic[M]):
    """A topic and the pydantic model of its messages.

    ``name`` is the base name; on the broker it is prefixed with the namespace from the settings
    (``Settings.topic_name``), so several deployments or test runs can share one cluster. A topic
    is its name: the row topics carried with the model contract's own message (``carrying``) are
    the same topics.
    """

    name: str
    partitions: int
    message: type[M]
    # Written by the services for one another (partial windows), kept for a time only.
    internal: bool = False
    # Larger than any row (partial windows; quarantine records, which keep the original):
    # bounded by ``max_internal_payload_bytes`` instead of the input limit.
    large: bool = False
    # Kept by key, the last message of each (log compaction) instead of for a time: what a
    # service restores its state from must outlive any retention.
    compacted: bool = False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Topic) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def carrying(self, message: type[M]) -> Topic[M]:
        """This topic, its messages read as ``message`` (a parametrised row message)."""
        if not issubclass(message, self.message):
            raise TypeError(f"{self.name} carries {self.message.__name__}, not {message}")
        return replace(self, message=message)

    def encode(self, message: M) -> bytes:
        if not isinstance(message, self.message):
            raise TypeError(f"{self.name} carries {self.message.__name__}, not {type(message)}")
        # the compiled serializer itself (model_dump_json's Python wrapper costs as much again),
        # the message's own: a parametrised row serialises its features as their mapping
        return type(message).__pydantic_serializer__.to_json(message)

    def decode(self, payload: bytes | str) -> M:
        """The message, or pydantic's ValidationError (the compiled validator, called directly:
        once per message on every hop), also for a key given twice in one object."""
        message = self.message.__pydantic_validator__.validate_json(payload)
        check_keys(payload, message)
        return message


# Rows are keyed by customer id and spread over partitions so scorers can share the work.
RAW_ROWS = Topic("rows.raw", 3, schemas.RawRow)
# Outcomes arrive later than rows; keyed by customer id like the rows they belong to.
LABELS = Topic("labels", 3, schemas.LabelEvent)
SCORED_ROWS = Topic("rows.scored", 3, schemas.ScoredRow)
QUARANTINE = Topic("rows.quarantine", 1, schemas.QuarantinedRow, large=True)
# What ``trustwatch quarantine replay`` sent back, by source position: replaying again skips it.
QUARANTINE_REPLAYS = Topic("rows.quarantine.replayed", 1, schemas.QuarantineReplay, compacted=True)
SCENARIO = Topic("scenario", 1, schemas.ScenarioEvent)
# Signals and their consequences are low volume; one partition keeps them in window order.
PERFORMANCE_SIGNALS = Topic("signals.performance", 1, schemas.PerformanceSignal)
DRIFT_SIGNALS = Topic("signals.drift", 1, schemas.DriftSignal)
FAIRNESS_SIGNALS = Topic("signals.fairness", 1, schemas.FairnessSignal)
# A monitor instance's share of each window, merged into the window's signal by whichever instance
# holds the single partition (the monitor's combiner).
PERFORMANCE_WINDOWS = Topic(
    "windows.performance", 1, schemas.WindowPartial, internal=True, large=True
)
DRIFT_WINDOWS = Topic("windows.drift", 1, schemas.WindowPartial, internal=True, large=True)
FAIRNESS_WINDOWS = Topic("windows.fairness", 1, schemas.WindowPartial, internal=True, large=True)
# Keyed by alert: each alert message carries its problem's whole state, so the last one per key
# is all the alerter needs to restore its open alerts.
ALERTS = Topic("alerts", 1, schemas.Alert, compacted=True)
DECISIONS = Topic("decisions", 1, schemas.Decision)

ALL_TOPICS: tuple[Topic, ...] = (
    RAW_ROWS,
    LABELS,
    SCORED_ROWS,
    QUARANTINE,
    QUARANTINE_REPLAYS,
    SCENARIO,
    PERFORMANCE_SIGNALS,
    DRIFT_SIGNALS,
    FAIRNESS_SIGNALS,
    PERFORMANCE_WINDOWS,
    DRIFT_WINDOWS,
    FAIRNESS_WINDOWS,
    ALERTS,
    DECISIONS,
)
SIGNAL_TOPICS: tuple[Topic, ...] = (PERFORMANCE_SIGNALS, DRIFT_SIGNALS, FAIRNESS_SIGNALS)
