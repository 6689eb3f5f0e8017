"""ADWIN fed from event-time buckets: what river's ADWIN finds row by row, and the delays the
demo's concept step needs, through the performance calculator as the monitor runs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from river.drift import ADWIN

from model.artifact import load_model
from model.features import FEATURES
from monitors.calculators import PerformanceCalculator, StreamClock
from monitors.changepoint import AdwinDetector, BucketStream, ChangeWatch, detect
from monitors.windowing import ClosedWindow
from producer.scenario import get_scenario
from producer.stream import StreamPlan, generate
from shared.schemas import LabelState, ScoredRow
from shared.topics import RAW_ROWS

ORIGIN = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def test_one_row_per_bucket_finds_what_river_finds_row_by_row():
    rng = np.random.default_rng(1)
    values = np.concatenate([rng.random(3000) < 0.2, rng.random(3000) < 0.45]).astype(float)
    river = ADWIN(delta=0.002)
    expected, before = [], []
    for i, value in enumerate(values):
        estimate = river.estimation
        if river.update(value) or river.drift_detected:
            expected.append(i)
            before.append(estimate)
    width = timedelta(seconds=1)
    stream = BucketStream(("x",), ORIGIN, width)
    for i, value in enumerate(values):
        stream.update(ORIGIN + i * width, {"x": value})
    times = [ORIGIN + i * width for i in range(len(values))]
    at_once = BucketStream(("x",), ORIGIN, width).update_many(times, {"x": values})
    assert at_once.buckets == stream.buckets
    found = detect([ChangeWatch("x", AdwinDetector(0.002))], stream, cap=64)
    assert expected, "the step must be detectable"
    assert [int((c.event_time - ORIGIN) / width) for c in found] == expected
    assert [c.mean_before for c in found] == pytest.approx(before)


def test_rows_at_once_fill_the_buckets_row_by_row_does():
    rng = np.random.default_rng(2)
    times = sorted(ORIGIN + timedelta(seconds=float(s)) for s in rng.uniform(0, 600, 2_000))
    values = {"x": rng.normal(size=2_000), "y": rng.random(2_000)}
    one = BucketStream(("x", "y"), ORIGIN, timedelta(seconds=7))
    for i, at in enumerate(times):
        one.update(at, {"x": values["x"][i], "y": values["y"][i]})
    batched = BucketStream(("x", "y"), ORIGIN, timedelta(seconds=7))
    for begin in range(0, 2_000, 333):
        batched.update_many(times[begin : begin + 333],
                            {n: v[begin : begin + 333] for n, v in values.items()})  # fmt: skip
    assert one.buckets.keys() == batched.buckets.keys()
    for key, bucket in one.buckets.items():
        assert batched.buckets[key] == pytest.approx(bucket, rel=1e-12)


def test_a_bucket_feeds_its_mean_and_variance_within_the_cap():
    stream = BucketStream(("x",), ORIGIN, DAY)
    values = [0.0, 1.0, 1.0, 0.0, 1.0]
    for value in values:
        stream.update(ORIGIN, {"x": value})
    ((_, fed),) = list(stream.fed("x", cap=64))
    assert len(fed) == 5
    assert np.mean(fed) == pytest.approx(np.mean(values))
    assert np.var(fed) == pytest.approx(np.var(values))
    ((_, capped),) = list(stream.fed("x", cap=2))
    assert len(capped) == 2 and np.mean(capped) == pytest.approx(0.6)


def scored_stream(name: str, seed: int, model, metadata, pool: pd.DataFrame) -> list[ScoredRow]:
    plan = StreamPlan(get_scenario(name), 14, 500, seed, ORIGIN)
    emitted = generate(plan, pool, metadata.contract)
    rows = [RAW_ROWS.decode(e.payload) for e in emitted if e.topic == RAW_ROWS]
    frame = pd.DataFrame([r.features for r in rows], columns=list(FEATURES))
    probability = model.predict_proba(frame)[:, 1]
    return [
        ScoredRow.model_construct(
            schema_version=1, event_time=r.event_time, event_id=r.event_id,
            customer_id=r.customer_id, features=r.features, label=r.label,
            prediction=int(p >= metadata.threshold), probability=float(p), model_version="v",
            label_state=LabelState.INLINE,
        )
        for r, p in zip(rows, probability, strict=True)
    ]  # fmt: skip


def change_rows(rows: list[ScoredRow], calculator: PerformanceCalculator) -> list[int]:
    """Row positions at which the monitor's windows report a change (the end of the bucket
    whose rows raised it), window by window as the combiner closes them."""
    found = []
    times = np.array([r.event_time.timestamp() for r in rows])
    for day in range(14):
        start = ORIGIN + day * DAY
        state = calculator.new_window()
        calculator.update(state, [row for row in rows if start <= row.event_time < start + DAY])
        signal = calculator.signal(ClosedWindow(start, start + DAY, state, 0, 500))
        for change in signal.change_points:
            bucket_end = (change.event_time + calculator.clock.width).timestamp()
            found.append(int(np.searchsorted(times, bucket_end, side="left")))
    return found


def test_concept_step_found_within_300_rows_median_and_nothing_on_baseline(
    version_dir, metadata, policy, data_split
):
    model = load_model(version_dir, metadata)
    clock = StreamClock(ORIGIN, DAY, policy.summaries.stream_buckets)
    onset = 7 * 500
    delays, false_alarms = [], 0
    for seed in range(5):
        concept = change_rows(
            scored_stream("concept", seed, model, metadata, data_split.production),
            PerformanceCalculator(metadata, policy, clock),
        )
        after = [position - onset for position in concept if position >= onset]
        assert after, f"seed {seed}: concept step missed"
        delays.append(after[0])
        false_alarms += sum(position < onset for position in concept)
        baseline = change_rows(
            scored_stream("baseline", seed, model, metadata, data_split.production),
            PerformanceCalculator(metadata, policy, clock),
        )
        false_alarms += len(baseline)
    assert np.median(delays) <= 300, delays
    assert false_alarms == 0
