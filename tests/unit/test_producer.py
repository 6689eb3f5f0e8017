import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError
from scipy import stats

from model.messages import RowMessages
from producer.scenario import (
    FaultKind,
    NumericShift,
    Scenario,
    ScenarioError,
    builtin_names,
    get_scenario,
    load_scenario,
)
from producer.stream import StreamPlan, generate
from scorer.validation import RowValidator
from shared.schemas import IssueCode, LabelEvent
from shared.topics import LABELS, RAW_ROWS
from shared.validation import issues_from_validation_error
from tests.conftest import TELCO_CONTRACT

ORIGIN = datetime(2026, 3, 1, tzinfo=UTC)


def emissions(pool, scenario="baseline", seed=7, days=None, rows=300, delay=0.0):
    chosen = get_scenario(scenario) if isinstance(scenario, str) else scenario
    plan = StreamPlan(chosen, days or chosen.days, rows, seed, ORIGIN, label_delay_days=delay)
    return list(generate(plan, pool, TELCO_CONTRACT))


def rows_of(out):
    return [RAW_ROWS.decode(e.payload) for e in out if e.topic == RAW_ROWS and e.fault is None]


def test_every_builtin_scenario_loads():
    assert set(builtin_names()) >= {"baseline", "covariate", "concept", "bias", "schema", "full"}
    kinds = {step.kind for step in get_scenario("full").steps}
    assert kinds == {"covariate", "schema", "concept", "group_bias", "prior"}
    # every step of the full story has its own days
    steps = sorted(get_scenario("full").steps, key=lambda s: s.start_day)
    for earlier, later in zip(steps, steps[1:], strict=False):
        assert earlier.end_day is not None and earlier.end_day <= later.start_day


def test_same_seed_same_bytes(data_split):
    first = [e.payload for e in emissions(data_split.production, "full", rows=50)]
    second = [e.payload for e in emissions(data_split.production, "full", rows=50)]
    assert first == second
    assert first != [e.payload for e in emissions(data_split.production, "full", rows=50, seed=8)]


def test_stream_samples_only_the_production_pool(data_split):
    ids = {r.customer_id for r in rows_of(emissions(data_split.production, days=3))}
    assert ids <= set(data_split.production["customerID"])
    assert not ids & set(data_split.reference["customerID"])


def _column(rows, name):
    return np.array([r.features[name] for r in rows])


def test_covariate_scale_changes_only_its_target_from_its_day(data_split):
    base = rows_of(emissions(data_split.production, "baseline", days=14, rows=100))
    drifted = rows_of(emissions(data_split.production, "covariate", days=14, rows=100))
    for before, after in zip(base, drifted, strict=True):
        factor = 1.2 if before.event_time >= ORIGIN + timedelta(days=7) else 1.0
        assert after.features["MonthlyCharges"] == pytest.approx(
            round(before.features["MonthlyCharges"] * factor, 2)
        )
        assert {**after.features, "MonthlyCharges": 0} == {**before.features, "MonthlyCharges": 0}
        assert after.label == before.label


def test_concept_changes_labels_in_the_segment_and_leaves_inputs_alone(data_split):
    base = rows_of(emissions(data_split.production, "baseline", days=14))
    concept = rows_of(emissions(data_split.production, "concept", days=14))
    onset = ORIGIN + timedelta(days=7)
    # inputs: identical row for row (labels are drawn after the inputs)
    assert [r.features for r in base] == [r.features for r in concept]
    in_segment = [
        (b.label, c.label)
        for b, c in zip(base, concept, strict=True)
        if c.event_time >= onset and c.features["Contract"] in ("One year", "Two year")
    ]
    before_rate = np.mean([b for b, _ in in_segment])
    after_rate = np.mean([c for _, c in in_segment])
    assert before_rate < 0.15 and after_rate == pytest.approx(0.5, abs=0.05)
    outside = [
        (b.label, c.label)
        for b, c in zip(base, concept, strict=True)
        if c.features["Contract"] == "Month-to-month" or c.event_time < onset
    ]
    assert all(b == c for b, c in outside)


def test_concept_inputs_within_sampling_noise_of_baseline(data_split):
    # a different seed gives an independent sample: the input distributions must still agree
    base = rows_of(emissions(data_split.production, "baseline", days=14, seed=1))
    concept = rows_of(emissions(data_split.production, "concept", days=14, seed=2))
    for name in ("tenure", "MonthlyCharges", "TotalCharges"):
        assert stats.ks_2samp(_column(base, name), _column(concept, name)).pvalue > 0.001
    for name in ("Contract", "InternetService", "gender"):
        a, b = Counter(_column(base, name)), Counter(_column(concept, name))
        table = [[a[k] for k in sorted(a)], [b[k] for k in sorted(a)]]
        assert stats.chi2_contingency(table).pvalue > 0.001


def test_group_bias_touches_one_group_only(data_split):
    base = rows_of(emissions(data_split.production, "baseline", days=14))
    bias = rows_of(emissions(data_split.production, "bias", days=14))
    changed = [(b, c) for b, c in zip(base, bias, strict=True) if b.label != c.label]
    assert changed
    assert all(c.features["gender"] == "Female" for _, c in changed)
    assert all(c.features["Contract"] in ("One year", "Two year") for _, c in changed)
    assert all(b.label == 0 and c.label == 1 for b, c in changed)
    assert all(c.event_time >= ORIGIN + timedelta(days=7) for _, c in changed)


def test_prior_shift_moves_the_churn_rate(data_split):
    scenario = Scenario.model_validate(
        {"name": "p", "description": "d", "days": 4,
         "steps": [{"kind": "prior", "intensity": 0.6, "start_day": 2}]}
    )  # fmt: skip
    rows = rows_of(emissions(data_split.production, scenario, rows=1000))
    early = np.mean([r.label for r in rows if r.event_time < ORIGIN + timedelta(days=2)])
    late = np.mean([r.label for r in rows if r.event_time >= ORIGIN + timedelta(days=2)])
    assert early == pytest.approx(0.265, abs=0.03)
    assert late == pytest.approx(0.6, abs=0.03)


def test_gradual_onset_ramps_up():
    step = NumericShift(
        feature="tenure", operation="shift", intensity=-12, start_day=5, end_day=12, onset_days=3
    )
    assert [step.strength(day) for day in range(4, 13)] == [0, 0.25, 0.5, 0.75, 1, 1, 1, 1, 0]


def test_schema_faults_each_get_their_reason(data_split, metadata):
    out = emissions(data_split.production, "schema", rows=400)
    faulty = [e for e in out if e.fault is not None]
    assert {e.fault for e in faulty} == set(FaultKind)
    share = len(faulty) / sum(1 for e in out if e.event_time >= ORIGIN + timedelta(days=7)
                              and e.event_time < ORIGIN + timedelta(days=11))  # fmt: skip
    assert share == pytest.approx(0.05, abs=0.015)
    assert all(ORIGIN + timedelta(days=7) <= e.event_time < ORIGIN + timedelta(days=11)
               for e in faulty)  # fmt: skip
    expected = {
        FaultKind.MISSING_FIELD: IssueCode.MISSING_FIELD,
        FaultKind.WRONG_TYPE: IssueCode.WRONG_TYPE,
        FaultKind.NULL: IssueCode.NULL,
        FaultKind.UNSEEN_CATEGORY: IssueCode.UNSEEN_CATEGORY,
        FaultKind.OUT_OF_RANGE: IssueCode.OUT_OF_RANGE,
        FaultKind.MALFORMED_JSON: IssueCode.MALFORMED_JSON,
    }
    validator = RowValidator(metadata.features)
    for emission in faulty:
        if emission.fault == FaultKind.OVERSIZED:
            assert len(emission.payload) > 16_384
            continue
        try:
            row = RowMessages.of(TELCO_CONTRACT).raw.decode(emission.payload)
        except ValidationError as exc:
            codes = {i.code for i in issues_from_validation_error(exc)}
        else:
            codes = {i.code for i in validator.issues_of_values(row.features)}
        assert expected[emission.fault] in codes, emission.fault
    assert all(dict(e.headers)["event_id"] == e.event_id.encode() for e in faulty)


def test_late_labels_are_published_when_due(data_split):
    out = emissions(data_split.production, "baseline", days=5, rows=100, delay=2)
    raw = [e for e in out if e.topic == RAW_ROWS]
    labels = [LABELS.decode(e.payload) for e in out if e.topic == LABELS]
    assert len(raw) == len(labels) == 500
    assert all(RAW_ROWS.decode(e.payload).label is None for e in raw)
    assert {label.event_id for label in labels} == {e.event_id for e in raw}
    assert all(label.event_time - label.row_event_time == timedelta(days=2) for label in labels)
    # each label comes after its row, and no earlier than the first row of its due time
    position = {(e.topic.name, e.event_id): i for i, e in enumerate(out)}
    for label in labels:
        assert position[(LABELS.name, label.event_id)] > position[(RAW_ROWS.name, label.event_id)]
    inline = rows_of(emissions(data_split.production, "baseline", days=5, rows=100))
    by_id = {label.event_id: label.label for label in labels}
    assert [r.label for r in inline] == [by_id[r.event_id] for r in inline]
    assert isinstance(labels[0], LabelEvent)


def test_scenario_files_are_validated_with_clear_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\ndescription: d\nsteps:\n"
        "  - {kind: covariate, feature: MonthlyCharges, operation: scale, intensity: -1,"
        " start_day: 3}\n"
    )
    with pytest.raises(ScenarioError, match="steps.0.*scale intensity"):
        load_scenario(bad)
    later = tmp_path / "later.yaml"
    later.write_text(
        "name: later\ndescription: d\ndays: 5\nsteps:\n"
        "  - {kind: prior, intensity: 0.5, start_day: 4, end_day: 3}\n"
    )
    with pytest.raises(ScenarioError, match="end_day 3 must be after start_day 4"):
        load_scenario(later)
    with pytest.raises(ScenarioError, match="built-in scenarios: .*baseline"):
        get_scenario("nope")
    good = tmp_path / "mine.yaml"
    good.write_text(json.dumps(get_scenario("bias").model_dump(mode="json")))
    assert get_scenario(str(good)) == get_scenario("bias")


def test_ground_truth_names_each_step():
    events = get_scenario("full").ground_truth("run", ORIGIN, timedelta(days=1), ORIGIN)
    assert [(e.kind.value, e.start.day) for e in events] == [
        ("covariate", 5), ("schema", 11), ("concept", 15), ("group_bias", 21), ("prior", 27),
    ]  # fmt: skip
    assert events[0].end == ORIGIN + timedelta(days=8)
    assert events[-1].end is None
