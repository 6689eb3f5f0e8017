"""One frozen pydantic model per topic message.

Every message carries ``schema_version`` and ``event_time`` (the simulated business time the
message is about, not the wall clock). Services exchange these models only, never raw dicts.
"""

from __future__ import annotations

import base64
from enum import StrEnum
from typing import Annotated, Generic, Literal, TypeVar

import numpy as np
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
)

SCHEMA_VERSION = 1

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Label = Annotated[int, Field(ge=0, le=1)]


class _Frozen(BaseModel):
    # NaN and Infinity are not numbers a message can carry (JSON has neither)
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Message(_Frozen):
    """Fields every topic message has."""

    schema_version: int = SCHEMA_VERSION
    event_time: AwareDatetime


# --- rows -------------------------------------------------------------------------------------


# A feature's value on the wire: text for a categorical input, a JSON number for a numeric one.
FeatureValue = StrictStr | StrictInt | StrictFloat
# The features of a row. Each service parametrises the row messages with the model contract's
# own typed mapping (``model.messages``): the exact feature names, strict types (a number sent as
# a string is a wrong type, not something to coerce), a missing one refused; allowed categories
# and numeric ranges are the scorer's to check. Unparametrised (a tool that reads any stream), a
# row's features are a mapping of names to such values.
FeaturesT = TypeVar("FeaturesT", bound=dict[str, FeatureValue])


class RawRow(Message, Generic[FeaturesT]):
    """A record as the upstream system sends it (topic ``rows.raw``): the model's inputs by
    their column names, and the label when it is known at once."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    event_id: str = Field(min_length=1)
    customer_id: str = Field(min_length=1)
    features: FeaturesT
    label: Label | None = None


class LabelEvent(Message):
    """The true outcome of a row, known some time after it (topic ``labels``).

    ``event_time`` is when the outcome became known; ``row_event_time`` is the row's own time.
    """

    event_id: str = Field(min_length=1)
    customer_id: str
    label: Label
    row_event_time: AwareDatetime


class LabelState(StrEnum):
    """How a scored row relates to its label.

    INLINE: the label came with the row (counts for every monitor). PENDING: the prediction, its
    label not known yet (counts for input and prediction monitors). JOINED: the same row again,
    once its label arrived (counts for label-based monitors only, in the row's own window).
    """

    INLINE = "INLINE"
    PENDING = "PENDING"
    JOINED = "JOINED"


class ScoredRow(Message, Generic[FeaturesT]):
    """A valid row with the model's output and, where known, the true outcome.

    ``label_state`` is kept as its string value (it compares equal to the LabelState member):
    serializing the member goes through Python's enum ``value`` property, a cost on every row.
    """

    model_config = ConfigDict(use_enum_values=True)

    event_id: str
    customer_id: str
    features: FeaturesT
    label: Label | None
    prediction: Label
    probability: Probability
    model_version: str
    label_state: LabelState = LabelState.INLINE


class IssueCode(StrEnum):
    MISSING_FIELD = "MISSING_FIELD"
    WRONG_TYPE = "WRONG_TYPE"
    NULL = "NULL"
    UNSEEN_CATEGORY = "UNSEEN_CATEGORY"
    OUT_OF_RANGE = "OUT_OF_RANGE"
    MALFORMED_JSON = "MALFORMED_JSON"
    OVERSIZED = "OVERSIZED"
    INVALID = "INVALID"
    # an output the broker (or client) refused for good: too large, not authorised
    PUBLISH_REFUSED = "PUBLISH_REFUSED"
    # an event time the stream cannot plausibly carry (shared.eventtime)
    EVENT_TIME_OUT_OF_RANGE = "EVENT_TIME_OUT_OF_RANGE"
    # a key given twice in one JSON object (which of the two is meant?)
    DUPLICATE_KEY = "DUPLICATE_KEY"
    # handling the message raised an error: set aside so that it cannot stop the stage
    PROCESSING_FAILED = "PROCESSING_FAILED"


class FieldIssue(_Frozen):
    """Why one field (or the whole payload, field ``$``) was refused."""

    field: str
    code: IssueCode
    detail: str


class OriginalMessage(_Frozen):
    """A quarantined message as it was read, byte for byte (base64 in JSON), so that it can be
    sent back once its source is fixed (``trustwatch quarantine replay``).

    ``value`` keeps at most ``TRUSTWATCH_QUARANTINE_ORIGINAL_BYTES`` (with the key and headers):
    a longer message is cut there and says ``truncated``; ``size`` and ``sha256`` are always those
    of the whole value. ``value`` None is a tombstone.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )

    value: bytes | None
    key: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()
    size: int = Field(ge=0)
    sha256: str
    truncated: bool


class QuarantinedRow(Message):
    """A message that could not be processed, kept with its reason and where it came from.

    ``event_time`` is the row's own time when it could be read, else the time of quarantine.
    An output the broker refused (PUBLISH_REFUSED) names the topic it was refused on, with
    partition and offset -1. ``payload`` is a text excerpt for people; ``original`` the message
    itself, for a replay.
    """

    event_id: str | None
    source_topic: str
    source_partition: int
    source_offset: int
    issues: tuple[FieldIssue, ...] = Field(min_length=1)
    payload: str
    payload_bytes: int
    payload_truncated: bool
    original: OriginalMessage | None = None


class QuarantineReplay(Message):
    """One quarantined message sent back to the topic it was read from (``trustwatch quarantine
    replay``), at ``event_time``, the record's own. Keyed by that source position: a message is
    replayed once, however many records it has and however often the replay runs."""

    source_topic: str
    source_partition: int
    source_offset: int
    event_id: str | None
    quarantine_offset: int
    replayed_at: AwareDatetime


# --- scenario ground truth ----------------------------------------------------------------------


class DriftKind(StrEnum):
    COVARIATE = "covariate"
    PRIOR = "prior"
    CONCEPT = "concept"
    GROUP_BIAS = "group_bias"
    SCHEMA = "schema"


class ScenarioEvent(Message):
    """One injected step of a scenario: what was changed, on what, from when until when."""

    scenario: str
    run_id: str
    step_id: str
    kind: DriftKind
    target: str
    start: AwareDatetime
    end: AwareDatetime | None
    description: str


# --- signals ------------------------------------------------------------------------------------


class WindowSignal(Message):
    """A statistic of one closed tumbling window ``[window_start, window_end)``."""

    window_start: AwareDatetime
    window_end: AwareDatetime
    rows: int = Field(ge=0)
    late_rows: int = Field(default=0, ge=0)
    # wall clock: when the window's newest row was published, and when the monitor closed it
    last_row_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None


class ChangePoint(_Frozen):
    """A change detected by a sequential detector, at the row whose update raised it.

    ``estimated_start`` is the time of the first row ADWIN kept after dropping the old part of
    its window: its estimate of when the change began.
    """

    detector: str
    event_time: AwareDatetime
    mean_before: float
    mean_after: float
    estimated_start: AwareDatetime | None = None


class RollingPerformance(_Frozen):
    """Performance over the last ``windows`` windows merged (this one included)."""

    windows: int
    labelled: int
    precision: float | None
    recall: float | None
    recall_low: float | None
    recall_high: float | None
    roc_auc: float | None
    brier: float | None


class PerformanceSignal(WindowSignal):
    """Performance of a window. ``provisional``: labels have not arrived, and precision, recall,
    F1, accuracy and ROC-AUC are estimated from the calibrated probabilities (never evidence
    enough to retrain); the matured signal of the same window follows once its labels are in."""

    provisional: bool = False
    labelled: int = Field(ge=0)
    precision: float | None
    recall: float | None
    f1: float | None
    roc_auc: float | None
    accuracy: float | None
    positive_rate: float | None
    brier: float | None = None
    label_coverage: float | None = None
    recall_low: float | None = None
    recall_high: float | None = None
    roc_auc_low: float | None = None
    roc_auc_high: float | None = None
    # the most roc_auc may differ from the exact value on the window's rows (with probability
    # 0.99; 0 while the window's scores fit their sketches whole)
    roc_auc_error: float | None = None
    baseline_recall: float
    baseline_roc_auc: float
    # Label drift (churn rate of labelled rows) and prediction drift (share predicted to churn).
    label_rate: float | None = None
    label_rate_low: float | None = None
    label_rate_high: float | None = None
    baseline_label_rate: float | None = None
    positive_rate_low: float | None = None
    positive_rate_high: float | None = None
    baseline_positive_rate: float | None = None
    change_points: tuple[ChangePoint, ...] = ()
    rolling: RollingPerformance | None = None


class DriftSeverity(StrEnum):
    NONE = "NONE"
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class FeatureDrift(_Frozen):
    """Drift of one feature in one window.

    ``severity`` is this window's; ``confirmed`` is what the streaming monitor reports once
    MEDIUM or HIGH has held in k of the last n windows (it clears with the same memory).
    ``statistic`` and ``p_value`` are the chi-square test behind ``significant``.
    """

    feature: str
    psi: float
    statistic: float
    p_value: float
    significant: bool
    severity: DriftSeverity
    importance_share: float
    js_distance: float = 0.0
    ks_statistic: float | None = None
    wasserstein: float | None = None
    impact: float = 0.0
    confirmed: DriftSeverity | None = None


class DriftSignal(WindowSignal):
    """Drift of the scored inputs; data quality (quarantine, unseen categories, missing numbers)
    reported apart."""

    features: tuple[FeatureDrift, ...]
    prediction: FeatureDrift | None = None
    top_impact: tuple[str, ...] = ()
    # SHAP mean |value| ranking of a bounded sample of the window against the reference's
    attribution_ndcg: float | None = None
    attribution_top: tuple[str, ...] = ()
    change_points: tuple[ChangePoint, ...] = ()
    quarantined_rows: int = 0
    quarantined_by_reason: dict[str, int] = Field(default_factory=dict)
    unseen_categories: dict[str, int] = Field(default_factory=dict)
    missing_values: dict[str, int] = Field(default_factory=dict)


class GroupRecall(_Frozen):
    """Classification metrics of one group of one sensitive attribute."""

    attribute: str
    group: str
    positives: int
    negatives: int = 0
    true_positives: int = 0
    recall: float | None
    false_positive_rate: float | None = None
    precision: float | None = None
    selection_rate: float | None = None
    eligible: bool


class RecallGap(_Frozen):
    """Best minus worst recall among eligible groups (and worst / best), with intervals."""

    attribute: str
    gap: float | None
    gap_low: float | None = None
    gap_high: float | None = None
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None
    best_group: str | None
    worst_group: str | None
    best_recall: float | None = None
    worst_recall: float | None = None
    best_positives: int = 0
    worst_positives: int = 0
    windows: int = Field(default=1, ge=1)  # the latest windows its counts span


class FairnessSignal(WindowSignal):
    """Groups and gaps of the window; per attribute, the gaps over the fewest latest windows in
    which its groups are large enough to compare (``pooled_gaps``, each saying how many windows);
    and the gaps over the latest windows, up to ``span_windows`` of them, whose interval lies
    highest (``strongest_gaps``: a gap that began a few windows ago, or a small persistent
    one)."""

    groups: tuple[GroupRecall, ...]
    gaps: tuple[RecallGap, ...]
    pooled_gaps: tuple[RecallGap, ...] = ()
    strongest_gaps: tuple[RecallGap, ...] = ()
    span_windows: int = 1


# --- partial windows (a monitor instance's share of a window, merged by the monitor's combiner) ---


class PackedArray(_Frozen):
    """A numeric array as base64 of its little-endian bytes: a tenth of its size as JSON numbers.

    Examples
    --------
    >>> PackedArray.of([1.5, 2.0], "<f8").array().tolist()
    [1.5, 2.0]
    """

    dtype: Literal["<f8", "<i8", "<u8", "<u4"]
    data: str

    @classmethod
    def of(cls, values, dtype: Literal["<f8", "<i8", "<u8", "<u4"]) -> PackedArray:
        raw = np.ascontiguousarray(np.asarray(values, dtype=np.dtype(dtype))).tobytes()
        return cls(dtype=dtype, data=base64.b64encode(raw).decode("ascii"))

    def array(self) -> np.ndarray:
        """The values; ValueError when the data is not base64 of whole items of the dtype."""
        try:
            raw = base64.b64decode(self.data, validate=True)
        except ValueError as exc:
            raise ValueError(f"packed array is not base64: {exc}") from exc
        if len(raw) % np.dtype(self.dtype).itemsize:
            raise ValueError(f"packed array of {len(raw)} bytes is not whole {self.dtype} items")
        return np.frombuffer(raw, dtype=np.dtype(self.dtype)).copy()


class BucketStreamState(_Frozen):
    """Streams summarised in event-time buckets of ``width_us`` (index counted from the
    monitors' origin): per bucket its rows and, per stream, the sum and the sum of squares."""

    width_us: int = Field(gt=0)
    keys: PackedArray
    rows: PackedArray
    sums: dict[str, PackedArray]
    squares: dict[str, PackedArray]


class ScoreSketchState(_Frozen):
    """A KLL quantile sketch of scores (``monitors.sketch``): its items (integer multiples of
    1e-9) level after level, each level's length and compactions, and the rows it stands for."""

    k: int = Field(ge=2)
    rows: int = Field(ge=0)
    items: PackedArray
    lengths: PackedArray
    compactions: PackedArray


class RowSampleState(_Frozen):
    """A bottom-k sample of rows: the hash of each row's id, and its values column by column."""

    capacity: int
    keys: PackedArray
    columns: dict[str, list[float | int | str]]


class DriftPartial(_Frozen):
    kind: Literal["drift"] = "drift"
    scored_rows: int
    counts: PackedArray  # the reference's fine bins, flattened feature by feature
    unseen: PackedArray
    quarantined_rows: int = 0
    quarantined_by_reason: dict[str, int] = Field(default_factory=dict)
    stream: BucketStreamState
    sample: RowSampleState | None = None


class PerformancePartial(_Frozen):
    """Confusion counts, the squared-error sum behind the Brier score, the labelled scores per
    class as sketches (ROC-AUC), and the error per event-time bucket (ADWIN)."""

    kind: Literal["performance"] = "performance"
    rows: int = Field(ge=0)
    tp: int = Field(ge=0)
    fp: int = Field(ge=0)
    tn: int = Field(ge=0)
    fn: int = Field(ge=0)
    predicted_positive: int = Field(ge=0)
    squared_error: float = Field(ge=0)
    positives: ScoreSketchState
    negatives: ScoreSketchState
    stream: BucketStreamState


class EstimatePartial(_Frozen):
    """Predictions without labels: counts and calibrated-probability sums (the expected confusion
    matrix) and a sketch of the scores (the expected ROC-AUC)."""

    kind: Literal["estimate"] = "estimate"
    rows: int = Field(ge=0)
    predicted_positive: int = Field(ge=0)
    # sums of the calibrated churn probability over rows predicted positive and negative
    probability_predicted_positive: float = Field(ge=0)
    probability_predicted_negative: float = Field(ge=0)
    scores: ScoreSketchState


class GroupCell(_Frozen):
    """Confusion counts (tp, fn, fp, tn) of one group of one sensitive attribute."""

    attribute: str
    group: str
    counts: tuple[int, int, int, int]


class FairnessPartial(_Frozen):
    kind: Literal["fairness"] = "fairness"
    rows: int
    cells: tuple[GroupCell, ...]


PartialState = Annotated[
    DriftPartial | PerformancePartial | EstimatePartial | FairnessPartial,
    Field(discriminator="kind"),
]


class WindowPartial(Message):
    """One source partition's share of one window, published by the monitor instance reading that
    partition (topics ``windows.<monitor>``).

    ``closed_through``: this partition will add nothing to windows ending at or before it (its
    watermark); the combiner closes a window once every partition has passed its end. A partial
    with ``rows`` 0 only moves that mark.
    """

    monitor: str
    window_start: AwareDatetime
    window_end: AwareDatetime
    source: str
    partition: int = Field(ge=0)
    closed_through: AwareDatetime
    rows: int = Field(ge=0)
    late_rows: int = Field(default=0, ge=0)
    last_row_at: AwareDatetime | None = None
    state: PartialState | None = None


# --- alerts and decisions -----------------------------------------------------------------------


class AlertType(StrEnum):
    PERFORMANCE = "PERFORMANCE"
    DRIFT = "DRIFT"
    CHANGE_POINT = "CHANGE_POINT"
    BIAS = "BIAS"
    DATA_QUALITY = "DATA_QUALITY"


class AlertSeverity(StrEnum):
    INFO = "INFO"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"


class AlertStatus(StrEnum):
    FIRING = "FIRING"  # a new problem: published once
    UPDATED = "UPDATED"  # the same problem: worse, with more symptoms, or a better explanation
    RESOLVED = "RESOLVED"


Evidence = dict[str, float | int | str | None]


class AlertMember(_Frozen):
    """One condition an alert groups: the headline's own, or a symptom that began with it."""

    key: str  # type + subject, e.g. "BIAS:gender"
    type: AlertType
    subject: str
    severity: AlertSeverity
    source: str  # the monitor whose signal shows it
    since: AwareDatetime  # start of the first window it held in
    explanation: str
    evidence: Evidence = Field(default_factory=dict)


class Alert(Message):
    """One problem people should know about, from firing to resolution.

    Conditions that begin together (one problem shows on several monitors) are grouped into one
    alert: ``type``, ``subject`` and ``explanation`` are its headline, the condition that best
    explains the others; ``members`` lists every condition, the headline included. ``key`` names
    the problem (headline type + subject at opening) and stays the same through every update,
    even when the headline is revised as evidence accumulates.
    """

    key: str
    status: AlertStatus
    type: AlertType
    severity: AlertSeverity
    subject: str
    explanation: str
    window_start: AwareDatetime
    window_end: AwareDatetime
    opened: AwareDatetime | None = None  # start of the window the problem was first seen in
    # what it fired with, kept through its updates (Alertmanager's labels, which must not change
    # while ``severity`` does, and while ``opened`` moves earlier as late signals arrive): its
    # severity then, and the start of the window it fired in
    opening_severity: AlertSeverity | None = None
    fired_window: AwareDatetime | None = None
    members: tuple[AlertMember, ...] = ()
    evidence: Evidence = Field(default_factory=dict)


class Action(StrEnum):
    NO_ACTION = "NO_ACTION"
    RETRAIN = "RETRAIN"
    ESCALATE_FAIRNESS = "ESCALATE_FAIRNESS"


class Decision(Message):
    """What to do about one window, with the reason codes and a sentence for people."""

    window_start: AwareDatetime
    window_end: AwareDatetime
    action: Action
    also: tuple[Action, ...] = ()
    reasons: tuple[str, ...]
    explanation: str
    alert_keys: tuple[str, ...] = ()
