"""The monitor handlers without a broker: windows, label states, rolling views, confirmation."""

from datetime import UTC, datetime, timedelta

import pytest

from monitors.service import (
    DriftCalculator,
    FairnessCalculator,
    MonitorHandler,
    PerformanceCalculator,
)
from shared.artifact import load_reference
from shared.loop import Inbound
from shared.schemas import DriftSeverity, LabelState, ScoredRow, TelcoFeatures
from shared.settings import Settings
from shared.topics import SCORED_ROWS

ORIGIN = datetime(2026, 3, 1, tzinfo=UTC)
SETTINGS = Settings(namespace="t", simulation_start=ORIGIN)


def scored_rows(frame, day, state=LabelState.INLINE, scale=1.0, flip=False):
    rows = []
    for index, record in enumerate(frame.to_dict(orient="records")):
        features = {k: record[k] for k in TelcoFeatures.model_fields}
        features["MonthlyCharges"] = round(float(features["MonthlyCharges"]) * scale, 2)
        features["tenure"] = int(features["tenure"])
        features["TotalCharges"] = float(features["TotalCharges"])
        label = int(record["Churn"])
        prediction = 1 - label if flip else label
        rows.append(ScoredRow(
            event_time=ORIGIN + timedelta(days=day, seconds=index), event_id=f"{day}-{index}",
            customer_id="c", features=TelcoFeatures(**features),
            label=None if state == LabelState.PENDING else label, prediction=prediction,
            probability=0.9 if prediction else 0.1, model_version="v", label_state=state,
        ))  # fmt: skip
    return rows


def feed(handler, rows, offset=0):
    batch = [Inbound(SCORED_ROWS, row, None, 0, offset + i, "t.rows.scored")
             for i, row in enumerate(rows)]  # fmt: skip
    return [o.value for o in handler.handle(batch)]


@pytest.fixture(scope="module")
def reference(version_dir):
    return load_reference(version_dir)


def test_drift_monitor_reads_predictions_not_joined_labels(reference, metadata, policy,
                                                            data_split):  # fmt: skip
    handler = MonitorHandler(DriftCalculator(reference, metadata, policy), SETTINGS, SCORED_ROWS)
    handler.on_assign([("t.rows.scored", 0)])
    window = data_split.test.head(300)
    feed(handler, scored_rows(window, 0, LabelState.PENDING))
    feed(handler, scored_rows(window, 0, LabelState.JOINED), offset=300)  # ignored
    signals = feed(handler, scored_rows(window.head(5), 1, LabelState.PENDING), offset=600)
    assert [s.rows for s in signals] == [300]
    assert signals[0].prediction is not None


def test_drift_severity_is_confirmed_over_windows(reference, metadata, policy, data_split):
    handler = MonitorHandler(DriftCalculator(reference, metadata, policy), SETTINGS, SCORED_ROWS)
    handler.on_assign([("t.rows.scored", 0)])
    levels = []
    for day in range(4):
        sample = data_split.test.sample(400, random_state=day)
        signals = feed(handler, scored_rows(sample, day, scale=1.2), offset=day * 1000)
        levels += [next(f for f in s.features if f.feature == "MonthlyCharges") for s in signals]
    # day 0 raw HIGH is shown as LOW until a second window confirms it
    assert [(f.severity, f.confirmed) for f in levels] == [
        (DriftSeverity.HIGH, DriftSeverity.LOW),
        (DriftSeverity.HIGH, DriftSeverity.HIGH),
        (DriftSeverity.HIGH, DriftSeverity.HIGH),
    ]


def test_performance_rolls_over_the_last_windows(metadata, policy, data_split):
    handler = MonitorHandler(PerformanceCalculator(metadata, policy), SETTINGS, SCORED_ROWS)
    handler.on_assign([("t.rows.scored", 0)])
    signals = []
    for day in range(3):
        rows = scored_rows(data_split.test.sample(200, random_state=day), day, flip=day == 2)
        signals += feed(handler, rows, offset=day * 1000)
    signals += [o.value for o in handler.on_idle()]
    assert [s.recall for s in signals] == [1.0, 1.0, 0.0]
    assert signals[-1].rolling.windows == 3 and signals[-1].rolling.labelled == 600
    assert 0.6 < signals[-1].rolling.recall < 0.7  # two perfect windows and one all wrong


def test_fairness_reads_only_labelled_rows(policy, data_split):
    handler = MonitorHandler(FairnessCalculator(policy), SETTINGS, SCORED_ROWS)
    handler.on_assign([("t.rows.scored", 0)])
    feed(handler, scored_rows(data_split.test.head(300), 0, LabelState.PENDING))
    assert handler.on_idle() == []
    feed(handler, scored_rows(data_split.test.head(300), 0, LabelState.JOINED), offset=300)
    (signal,) = [o.value for o in handler.on_idle()]
    assert signal.rows == 300 and {g.attribute for g in signal.groups} == set(
        policy.fairness.attributes
    )


def test_pending_rows_give_a_provisional_estimate_first(metadata, policy, data_split):
    from monitors.service import EstimatedPerformanceCalculator
    from shared.loop import FanOutHandler

    handler = FanOutHandler(
        MonitorHandler(PerformanceCalculator(metadata, policy), SETTINGS, SCORED_ROWS),
        MonitorHandler(EstimatedPerformanceCalculator(metadata), SETTINGS, SCORED_ROWS),
    )
    handler.on_assign([("t.rows.scored", 0)])
    sample = data_split.test.head(300)
    feed(handler, scored_rows(sample, 0, LabelState.PENDING))
    (estimate,) = [o.value for o in handler.on_idle()]
    assert estimate.provisional and estimate.labelled == 0 and estimate.rows == 300
    assert 0 <= estimate.recall <= 1 and estimate.roc_auc is not None
    feed(handler, scored_rows(sample, 0, LabelState.JOINED), offset=300)
    (matured,) = [o.value for o in handler.on_idle()]
    assert not matured.provisional and matured.labelled == 300
