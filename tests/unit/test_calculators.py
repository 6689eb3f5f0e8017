"""One contract for every calculator, without a broker (in the manner of river's estimator
checks): the merge of the partials of any split of the rows gives the signal of all the rows;
encode then decode gives the state back; a partial or signal stays under 256 KiB at a million rows;
a partial that does not fit the calculator is refused."""

from __future__ import annotations

import itertools
import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from model.artifact import load_reference
from model.features import SENSITIVE_ATTRIBUTES
from monitors.calculators import (
    DriftCalculator,
    EstimatedPerformanceCalculator,
    FairnessCalculator,
    PerformanceCalculator,
    StreamClock,
    WindowCalculator,
)
from monitors.windowing import ClosedWindow
from shared.schemas import (
    FieldIssue,
    IssueCode,
    LabelState,
    PackedArray,
    QuarantinedRow,
    ScoredRow,
    WindowPartial,
)
from tests.conftest import telco_features

ORIGIN = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)
CLOCK = StreamClock(ORIGIN, DAY, 512)
MESSAGE_LIMIT = 256 * 1024
NAMES = ("performance", "performance-estimate", "drift", "fairness")


@pytest.fixture(scope="module")
def calculators(version_dir, metadata, policy):
    reference = load_reference(version_dir, metadata)

    def make(name: str) -> WindowCalculator:
        return {
            "performance": lambda: PerformanceCalculator(metadata, policy, CLOCK),
            "performance-estimate": lambda: EstimatedPerformanceCalculator(metadata, policy),
            "drift": lambda: DriftCalculator(reference, metadata, policy, CLOCK),
            "fairness": lambda: FairnessCalculator(policy, SENSITIVE_ATTRIBUTES),
        }[name]()

    return make


@pytest.fixture(scope="module")
def features(data_split):
    records = data_split.test.to_dict(orient="records")
    return [telco_features(r) for r in records]


def rows_of(features, count: int, seed: int, state=LabelState.INLINE, day: int = 0):
    """Scored rows spread over one day, scores and labels drawn so that the classes overlap."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, count)
    scores = np.round(np.clip(rng.normal(0.35 + 0.3 * labels, 0.2), 0, 1), 9)
    start = ORIGIN + day * DAY
    rows: list = []
    for i in range(count):
        rows.append(
            ScoredRow.model_construct(
                schema_version=1,
                event_time=start + timedelta(seconds=float(i) * 86_400 / count),
                event_id=f"{seed}-{day}-{i}",
                customer_id="c",
                features=features[i % len(features)],
                label=None if state == LabelState.PENDING else int(labels[i]),
                prediction=int(scores[i] >= 0.5),
                probability=float(scores[i]),
                model_version="v",
                label_state=state,
            )
        )
    return rows


def broken(count: int, day: int = 0):
    issue = FieldIssue(field="tenure", code=IssueCode.WRONG_TYPE, detail="a string")
    return [
        QuarantinedRow(
            event_time=ORIGIN + day * DAY + timedelta(hours=i % 24),
            event_id=f"q{i}",
            source_topic="t.rows.raw",
            source_partition=0,
            source_offset=i,
            issues=(issue,),
            payload="{}",
            payload_bytes=2,
            payload_truncated=False,
        )
        for i in range(count)
    ]


def stream_for(name: str, features, count: int, seed: int, day: int = 0):
    state = LabelState.PENDING if name == "performance-estimate" else LabelState.INLINE
    rows = rows_of(features, count, seed, state, day)
    if name == "drift":
        rows += broken(count // 50, day)
    return rows


def state_of(calculator: WindowCalculator, rows):
    state = calculator.new_window()
    accepted = [row for row in rows if calculator.accepts(row)]
    # in uneven batches, as a consumer delivers them (one row, none, a few hundred)
    cuts = [min(cut, len(accepted)) for cut in (0, 1, 1, 7, 300, 800, len(accepted))]
    for begin, end in itertools.pairwise(cuts):
        calculator.update(state, accepted[begin:end])
    return state


def signal_of(calculator: WindowCalculator, state, rows: int, day: int = 0):
    start = ORIGIN + day * DAY
    return calculator.signal(ClosedWindow(start, start + DAY, state, 0, rows))


def wire(calculator: WindowCalculator, state):
    """A state through its message as the combiner gets it: JSON, parsed, decoded."""
    partial = WindowPartial(
        event_time=ORIGIN + DAY,
        monitor=calculator.name,
        window_start=ORIGIN,
        window_end=ORIGIN + DAY,
        source="rows.scored",
        partition=0,
        closed_through=ORIGIN + DAY,
        rows=1,
        state=calculator.encode(state),
    )
    parsed = WindowPartial.model_validate_json(partial.model_dump_json())
    assert parsed.state is not None
    return calculator.decode(parsed.state)


def close(a, b, path="signal"):
    """Equal, floats to within rounding (sums added in another order)."""
    if isinstance(a, float) and isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12), f"{path}: {a} != {b}"
    elif isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            close(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), f"{path}: {len(a)} != {len(b)} items"
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            close(x, y, f"{path}[{index}]")
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_merged_partials_of_any_split_give_the_signal_of_all_rows(name, parts, calculators,
                                                                  features):  # fmt: skip
    rows = stream_for(name, features, 3_000, seed=parts)
    whole = calculators(name)
    expected = signal_of(whole, state_of(whole, rows), len(rows))
    split = calculators(name)
    rng = np.random.default_rng(parts)
    cuts = sorted(rng.choice(np.arange(1, len(rows)), parts - 1, replace=False).tolist())
    states = [wire(split, state_of(split, chunk))
              for chunk in np.split(np.array(rows, dtype=object), cuts)]  # fmt: skip
    merged = states[0]
    for state in states[1:]:
        merged = split.merge(merged, state)
    got = signal_of(split, merged, len(rows))
    close(got.model_dump(mode="json"), expected.model_dump(mode="json"))


@pytest.mark.parametrize("name", NAMES)
def test_encode_then_decode_gives_the_state_back(name, calculators, features):
    calculator = calculators(name)
    state = state_of(calculator, stream_for(name, features, 2_000, seed=1))
    once = calculator.encode(state)
    again = calculator.encode(wire(calculator, state))
    assert again == once


@pytest.mark.parametrize("name", NAMES)
def test_a_million_rows_keep_every_message_under_256_kib(name, calculators, features):
    """The same 20,000 rows fifty times over (ids repeat: the attribution sample keeps them once,
    which changes nothing of its size)."""
    calculator = calculators(name)
    block = stream_for(name, features, 20_000, seed=3)
    state = calculator.new_window()
    accepted = [row for row in block if calculator.accepts(row)]
    for _ in range(50):
        calculator.update(state, accepted)
    partial = calculator.encode(state)
    size = len(partial.model_dump_json())
    assert size <= MESSAGE_LIMIT, f"{name} partial of {size} bytes"
    # merged with itself, as a combiner merges partitions, and turned into a signal
    merged = calculator.merge(wire(calculator, state), wire(calculator, state))
    signal = signal_of(calculator, merged, 2 * 50 * len(block))
    assert len(signal.model_dump_json()) <= MESSAGE_LIMIT
    assert len(calculator.encode(merged).model_dump_json()) <= MESSAGE_LIMIT
    if name == "performance":
        assert signal.labelled == 2_000_000
        assert signal.roc_auc_error is not None and 0 < signal.roc_auc_error <= 0.001


def test_rows_and_counts_stay_exact_at_a_million(calculators, features):
    """Counts are exact at any size; the sketched ROC-AUC is within its stated error of the
    exact one (scikit-learn on the same rows)."""
    from sklearn.metrics import roc_auc_score

    calculator = calculators("performance")
    block = rows_of(features, 20_000, seed=4)
    state = calculator.new_window()
    for _ in range(50):
        calculator.update(state, block)
    signal = signal_of(calculator, wire(calculator, state), 1_000_000)
    labels = np.array([r.label for r in block] * 50)
    scores = np.array([r.probability for r in block] * 50)
    predictions = np.array([r.prediction for r in block] * 50)
    tp = int(((labels == 1) & (predictions == 1)).sum())
    assert signal.labelled == 1_000_000
    assert signal.recall == tp / int(labels.sum())
    assert signal.precision == tp / int(predictions.sum())
    assert abs(signal.roc_auc - roc_auc_score(labels, scores)) <= signal.roc_auc_error <= 0.001


BAD_PARTIALS = {
    "performance": [
        ("tp", 10**6),  # counts the sketches do not hold
        ("stream", None),
    ],
    "performance-estimate": [("rows", 10**6)],
    "drift": [("counts", PackedArray.of([1, 2, 3], "<i8")), ("scored_rows", 10**6)],
    "fairness": [("rows", 0)],
}


@pytest.mark.parametrize("name", NAMES)
def test_a_partial_that_does_not_fit_is_refused(name, calculators, features):
    calculator = calculators(name)
    state = state_of(calculator, stream_for(name, features, 500, seed=2))
    good = calculator.encode(state)
    for field, value in BAD_PARTIALS[name]:
        if value is None:  # the stream of another monitor
            other = calculators("drift")
            value = other.encode(state_of(other, stream_for("drift", features, 50, 2))).stream
        bad = good.model_copy(update={field: value})
        with pytest.raises(ValueError):
            calculator.decode(bad)
    other_kind = calculators("fairness" if name != "fairness" else "drift")
    foreign = other_kind.encode(state_of(other_kind, stream_for(other_kind.name, features, 50, 2)))
    with pytest.raises(ValueError, match="partial"):
        calculator.decode(foreign)
    json.dumps(good.model_dump(mode="json"))  # the good one is plain JSON
