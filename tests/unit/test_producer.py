from datetime import UTC, datetime

import numpy as np
import pytest
from pydantic import ValidationError

from producer.scenario import CovariateScale, Scenario, get_scenario
from producer.stream import StreamPlan, generate

ORIGIN = datetime(2026, 3, 1, tzinfo=UTC)


def stream(pool, seed=7, scenario="covariate", days=10, rows=50):
    plan = StreamPlan(get_scenario(scenario), days, rows, seed, ORIGIN)
    return list(generate(plan, pool))


def test_same_seed_same_bytes(data_split):
    first = [r.model_dump_json() for r in stream(data_split.production)]
    second = [r.model_dump_json() for r in stream(data_split.production)]
    assert first == second
    other = [r.model_dump_json() for r in stream(data_split.production, seed=8)]
    assert first != other


def test_event_times_cover_each_day_in_order(data_split):
    rows = stream(data_split.production, days=3, rows=4)
    assert [r.event_time.day for r in rows] == [1] * 4 + [2] * 4 + [3] * 4
    assert len({r.event_id for r in rows}) == 12


def test_covariate_scale_changes_only_its_target_from_its_day(data_split):
    plain = Scenario(name="covariate", description="none")
    baseline = stream_with(plain, data_split.production)
    drifted = stream_with(get_scenario("covariate"), data_split.production)
    for before, after in zip(baseline, drifted, strict=True):
        day = (before.event_time - ORIGIN).days
        factor = 1.2 if day >= 7 else 1.0
        assert after.features.MonthlyCharges == pytest.approx(
            round(before.features.MonthlyCharges * factor, 2)
        )
        assert after.features.model_dump(exclude={"MonthlyCharges"}) == before.features.model_dump(
            exclude={"MonthlyCharges"}
        )
        assert after.label == before.label


def stream_with(scenario, pool):
    return list(generate(StreamPlan(scenario, 10, 50, 7, ORIGIN), pool))


def test_stream_samples_only_the_production_pool(data_split):
    ids = {r.customer_id for r in stream(data_split.production)}
    assert ids <= set(data_split.production["customerID"])
    assert not ids & set(data_split.reference["customerID"])


def test_ground_truth_names_each_step():
    events = get_scenario("covariate").ground_truth("run", ORIGIN, np.timedelta64(1, "D").item(),
                                                    ORIGIN)  # fmt: skip
    assert [(e.kind.value, e.target, e.start.day, e.end) for e in events] == [
        ("covariate", "MonthlyCharges", 8, None)
    ]


def test_scenario_steps_are_validated():
    with pytest.raises(ValidationError, match="numeric feature"):
        CovariateScale(target="gender", factor=1.2, start_day=1)
    with pytest.raises(ValidationError, match="end_day"):
        CovariateScale(target="tenure", factor=1.2, start_day=3, end_day=2)
    with pytest.raises(ValueError, match="built-in scenarios: covariate"):
        get_scenario("nope")
