"""The score sketch behind ROC-AUC: exact when small, within its stated bound (and 0.001) at a
million rows on random and adversarial scores, checked against scikit-learn; bounded in size;
deterministic; merged from any split; refused when its message does not add up."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from monitors.performance import DEFAULT_SKETCH_K, EstimateWindow, expected_roc_auc
from monitors.sketch import ScoreSketch, roc_auc_error_bound, sketch_roc_auc
from shared.schemas import PackedArray


def sketches(labels, scores, parts=1, k=DEFAULT_SKETCH_K):
    """Per-class sketches of the rows, built over ``parts`` interleaved partitions and merged."""
    built = []
    for part in range(parts):
        chosen = np.arange(len(labels)) % parts == part
        built.append(
            (
                ScoreSketch(k).update_many(scores[chosen & (labels == 1)]),
                ScoreSketch(k).update_many(scores[chosen & (labels == 0)]),
            )
        )
    positives, negatives = built[0]
    for more_positives, more_negatives in built[1:]:
        positives, negatives = positives.merge(more_positives), negatives.merge(more_negatives)
    return positives, negatives


def adversarial(kind: str, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.integers(0, 2, n)
    if kind == "crowded":  # every score within 1e-5 of 0.5: one bin of any fixed histogram
        scores = 0.5 + rng.integers(0, 10_000, n) * 1e-9 + labels * rng.integers(0, 3_000, n) * 1e-9
    elif kind == "sorted":  # arrival in score order, the worst case for naive compaction
        scores = np.sort(rng.uniform(0, 1, n))
        labels = (rng.uniform(0, 1, n) < scores).astype(int)
    elif kind == "ties":  # three distinct scores only
        scores = rng.choice([0.1, 0.5, 0.9], n)
    elif kind == "interleaved":  # classes alternate along the score axis
        scores = np.sort(rng.uniform(0, 1, n))
        labels = np.arange(n) % 2
    else:  # separable but overlapping normals
        scores = np.clip(rng.normal(0.4 + 0.2 * labels, 0.2), 0, 1)
    return labels, np.round(scores, 9)


KINDS = ["normal", "crowded", "sorted", "ties", "interleaved"]


@pytest.mark.parametrize("kind", KINDS)
def test_million_row_auc_is_within_its_bound_and_a_thousandth(kind):
    rng = np.random.default_rng(KINDS.index(kind))
    labels, scores = adversarial(kind, 1_000_000, rng)
    positives, negatives = sketches(labels, scores, parts=3)
    exact = roc_auc_score(labels, scores)
    bound = roc_auc_error_bound(positives, negatives)
    assert bound <= 0.001
    assert abs(sketch_roc_auc(positives, negatives) - exact) <= bound
    # bounded: about 3k items a class, four bytes each
    assert positives.size() + negatives.size() <= 2 * 3 * DEFAULT_SKETCH_K


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 1), st.floats(0, 1).map(lambda s: round(s, 9))),
        min_size=2,
        max_size=300,
    ),
    parts=st.integers(1, 4),
)
def test_exact_below_capacity_whatever_the_split(rows, parts):
    labels = np.array([y for y, _ in rows])
    scores = np.array([s for _, s in rows])
    if labels.min() == labels.max():
        return
    positives, negatives = sketches(labels, scores, parts=parts)
    assert positives.exact and negatives.exact
    assert roc_auc_error_bound(positives, negatives) == 0.0
    assert sketch_roc_auc(positives, negatives) == pytest.approx(roc_auc_score(labels, scores))


@pytest.mark.parametrize("one_at_a_time", [False, True])
def test_the_stated_bound_stays_under_a_thousandth_at_any_row_count(one_at_a_time):
    """The bound depends on the compaction history, not on the values: sweep the row counts
    where compactions start and pile up, to two million a class."""
    rng = np.random.default_rng(8)
    counts = np.unique(np.geomspace(DEFAULT_SKETCH_K, 2_000_000, 25).astype(int))
    counts = counts[::4] if one_at_a_time else counts
    for count in counts:
        values = np.round(rng.uniform(0, 1, int(count)), 9)
        sketch = ScoreSketch(DEFAULT_SKETCH_K)
        if one_at_a_time:
            for value in values.tolist():
                sketch.update(value)
        else:
            sketch.update_many(values)
        assert roc_auc_error_bound(sketch, sketch) <= 0.001, count


def test_small_k_stays_within_its_stated_bound():
    """With a k far too small for 0.001 the bound is wide, and still holds."""
    for seed in range(20):
        labels, scores = adversarial("normal", 50_000, np.random.default_rng(seed))
        positives, negatives = sketches(labels, scores, parts=2, k=64)
        bound = roc_auc_error_bound(positives, negatives)
        assert 0.001 < bound < 0.5
        assert abs(sketch_roc_auc(positives, negatives) - roc_auc_score(labels, scores)) <= bound


def test_cdf_rank_error_is_within_the_bound_at_every_item():
    rng = np.random.default_rng(11)
    values = np.round(rng.beta(2, 5, 400_000), 9)
    sketch = ScoreSketch(256).update_many(values)
    grid = np.round(np.linspace(0, 1, 2001), 9)
    exact = np.searchsorted(np.sort(values), grid, side="right") / len(values)
    assert np.abs(sketch.cdf(grid) - exact).max() <= sketch.rank_error(len(grid))


def test_one_at_a_time_equals_all_at_once_and_is_deterministic():
    rng = np.random.default_rng(5)
    values = np.round(rng.uniform(0, 1, 30_000), 9)
    one = ScoreSketch(500)
    for value in values.tolist():
        one.update(value)
    again = ScoreSketch(500)
    for value in values.tolist():
        again.update(value)
    batch = ScoreSketch(500).update_many(values)
    uneven = ScoreSketch(500)  # batches as a consumer delivers them: none, one, a few hundred
    for begin, end in zip([0, 0, 1, 333, 9_000], [0, 1, 333, 9_000, len(values)], strict=True):
        uneven.extend(values[begin:end])
    for other in (again, batch, uneven):
        assert [a.tolist() for a in one.to_arrays()] == [b.tolist() for b in other.to_arrays()]


def test_encode_decode_gives_the_sketch_back():
    values = np.round(np.random.default_rng(2).uniform(0, 1, 9_000), 9)
    sketch = ScoreSketch(300).update_many(values)
    back = ScoreSketch.from_message(sketch.message(), 300)
    assert [a.tolist() for a in back.to_arrays()] == [b.tolist() for b in sketch.to_arrays()]
    assert back.rows == sketch.rows and back.compactions == sketch.compactions


def test_a_message_that_does_not_add_up_is_refused():
    state = ScoreSketch(300).update_many(np.linspace(0, 1, 1000)).message()
    with pytest.raises(ValueError, match="k"):
        ScoreSketch.from_message(state, 400)
    with pytest.raises(ValueError, match="rows"):
        ScoreSketch.from_message(state.model_copy(update={"rows": state.rows + 1}), 300)
    items = PackedArray.of(np.array([2_000_000_000], dtype=np.uint32), "<u4")
    with pytest.raises(ValueError):
        ScoreSketch.from_message(state.model_copy(update={"items": items}), 300)
    with pytest.raises(ValueError):
        ScoreSketch(300).update(float("nan"))


def test_estimate_window_matches_the_row_by_row_estimate():
    """Bounded estimate (sums plus a score sketch) against the expected confusion matrix and
    expected ROC-AUC computed on every row."""
    from monitors.performance import estimate_performance

    rng = np.random.default_rng(4)
    scores = np.round(rng.uniform(0, 1, 20_000), 9)
    probability = scores**2  # a monotone calibration map
    predicted = (scores >= 0.5).astype(int)
    knots, rates = tuple(np.linspace(0, 1, 1001)), tuple(np.linspace(0, 1, 1001) ** 2)
    halves = [EstimateWindow(k=50_000), EstimateWindow(k=50_000)]
    for index, (p, y, s) in enumerate(zip(probability, predicted, scores, strict=True)):
        halves[index % 2].update(float(p), int(y), float(s))
    bounded = halves[0].merge(halves[1]).result(knots, rates)
    exact = estimate_performance(probability, predicted, scores)
    assert bounded.precision == pytest.approx(exact.precision)
    assert bounded.recall == pytest.approx(exact.recall)
    assert bounded.label_rate == pytest.approx(exact.label_rate)
    # the calibration map is piecewise linear between 1001 knots: within its interpolation error
    assert bounded.roc_auc == pytest.approx(exact.roc_auc, abs=1e-4)


def test_weighted_expected_auc_equals_repeating_each_row():
    rng = np.random.default_rng(6)
    p, score = rng.uniform(0, 1, 50), np.round(rng.uniform(0, 1, 50), 2)
    weights = rng.integers(1, 5, 50)
    assert expected_roc_auc(p, score, weights) == pytest.approx(
        expected_roc_auc(np.repeat(p, weights), np.repeat(score, weights))
    )
