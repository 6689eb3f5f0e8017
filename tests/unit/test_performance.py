import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics

from monitors.performance import PerformanceWindow, auc_interval, roc_auc, wilson_interval


def fill(labels, predictions, scores):
    window = PerformanceWindow()
    for y, p, s in zip(labels, predictions, scores, strict=True):
        window.update(int(y), int(p), float(s))
    return window


@pytest.mark.parametrize("seed", range(5))
def test_window_metrics_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 400)
    scores = np.clip(0.3 * y + rng.normal(0.35, 0.2, 400), 0, 1).round(2)  # ties on purpose
    predictions = (scores >= 0.5).astype(int)
    result = fill(y, predictions, scores).result()
    assert result.precision == pytest.approx(metrics.precision_score(y, predictions))
    assert result.recall == pytest.approx(metrics.recall_score(y, predictions))
    assert result.f1 == pytest.approx(metrics.f1_score(y, predictions))
    assert result.accuracy == pytest.approx(metrics.accuracy_score(y, predictions))
    assert result.roc_auc == pytest.approx(metrics.roc_auc_score(y, scores))
    assert result.positive_rate == pytest.approx(predictions.mean())
    assert result.brier == pytest.approx(metrics.brier_score_loss(y, scores))
    assert result.label_coverage == 1.0


def test_roc_auc_undefined_with_one_class():
    assert roc_auc(np.array([1, 1]), np.array([0.2, 0.9])) is None
    assert fill([0, 0], [0, 1], [0.1, 0.7]).result().recall is None


def test_unlabelled_rows_count_only_toward_the_positive_rate():
    window = PerformanceWindow().update(None, 1, 0.9).update(1, 1, 0.8)
    result = window.result()
    assert (result.rows, result.labelled, result.positive_rate) == (2, 1, 1.0)


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 1), st.floats(0, 1)), min_size=2, max_size=60
    ),
    cut=st.integers(0, 60),
)
def test_merge_equals_the_union(rows, cut):
    y, p, s = zip(*rows, strict=True)
    cut = min(cut, len(rows))
    merged = fill(y[:cut], p[:cut], s[:cut]).merge(fill(y[cut:], p[cut:], s[cut:])).result()
    whole = fill(y, p, s).result()
    # counts and the sketched ROC-AUC (exact below k) are equal; the squared-error sum behind the
    # Brier score is added in another order
    assert dataclasses.replace(merged, brier=None) == dataclasses.replace(whole, brier=None)
    assert merged.brier == pytest.approx(whole.brier, rel=1e-12, abs=1e-15)


def test_wilson_interval_known_values():
    # Wilson (1927) score interval, 95 %: 8 of 10 -> 0.490 .. 0.943; 0 of 10 -> 0 .. 0.278
    low, high = wilson_interval(8, 10, 0.95)
    assert (low, high) == (pytest.approx(0.4902, abs=1e-4), pytest.approx(0.9433, abs=1e-4))
    assert wilson_interval(0, 10, 0.95)[1] == pytest.approx(0.2775, abs=1e-4)


def test_auc_interval_hanley_mcneil_hand_case():
    # Hanley & McNeil (1982), AUC 0.8 with 50 positives and 50 negatives, by hand:
    # Q1 = 0.8 / 1.2 = 0.66667, Q2 = 2 * 0.64 / 1.8 = 0.71111
    # var = (0.16 + 49 * 0.02667 + 49 * 0.07111) / 2500 = 0.0019804, SE = 0.044502
    low, high = auc_interval(0.8, 50, 50, 0.95)
    assert (high - low) / 2 == pytest.approx(1.959964 * 0.044502, abs=1e-5)
    assert (low + high) / 2 == pytest.approx(0.8)


def test_expected_roc_auc_with_certain_labels_is_scikit_learns():
    from monitors.performance import expected_roc_auc

    rng = np.random.default_rng(8)
    labels = rng.integers(0, 2, 300)
    scores = np.round(rng.uniform(0, 1, 300), 1)  # many ties
    assert expected_roc_auc(labels.astype(float), scores) == pytest.approx(
        metrics.roc_auc_score(labels, scores)
    )


def test_estimated_performance_matches_the_average_over_label_draws():
    from monitors.performance import estimate_performance

    rng = np.random.default_rng(9)
    probability = rng.uniform(0, 1, 400)
    predicted = (probability >= 0.5).astype(int)
    estimate = estimate_performance(probability, predicted)
    recalls, aucs = [], []
    for _ in range(2000):
        labels = (rng.uniform(0, 1, 400) < probability).astype(int)
        recalls.append(metrics.recall_score(labels, predicted))
        aucs.append(metrics.roc_auc_score(labels, probability))
    # ratio of expectations against expectation of the ratio: equal to within a percent
    assert estimate.recall == pytest.approx(np.mean(recalls), abs=0.01)
    assert estimate.roc_auc == pytest.approx(np.mean(aucs), abs=0.01)


def test_calibration_map_is_monotone_and_matches_held_out_rates(metadata, version_dir,
                                                                 data_split):  # fmt: skip
    from model.artifact import load_model
    from model.features import FEATURES
    from monitors.performance import calibrate

    knots, rates = metadata.calibration_scores, metadata.calibration_rates
    assert len(knots) > 10 and all(a <= b for a, b in zip(rates, rates[1:], strict=False))
    score = load_model(version_dir).predict_proba(data_split.test[list(FEATURES)])[:, 1]
    churn_rate = data_split.test["Churn"].mean()
    # the class-balanced model overstates churn; calibrated, the mean matches the churn rate
    assert score.mean() > churn_rate + 0.1
    assert calibrate(score, knots, rates).mean() == pytest.approx(churn_rate, abs=0.01)
