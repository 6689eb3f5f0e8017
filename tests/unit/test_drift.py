import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from monitors.drift import DriftWindow, ReferenceProfile, chi_square, psi, severity_of
from shared.features import FEATURES
from shared.schemas import DriftSeverity


def test_psi_matches_a_hand_computed_case():
    expected = np.array([25, 25, 25, 25])
    actual = np.array([10, 20, 30, 40])
    by_hand = sum(
        (a - e) * math.log(a / e) for a, e in zip([0.1, 0.2, 0.3, 0.4], [0.25] * 4, strict=True)
    )
    assert psi(expected, actual) == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(0.2282, abs=1e-4)
    assert psi(expected, expected) == 0.0


def test_psi_floors_empty_bins_instead_of_going_infinite():
    assert math.isfinite(psi(np.array([50, 50, 0]), np.array([0, 50, 50])))


def test_chi_square_matches_hand_computation_and_scipy_distribution():
    reference = np.array([30.0, 50.0, 20.0])
    window = np.array([10.0, 10.0, 30.0])
    table = np.vstack([reference, window])
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    by_hand = float(((table - expected) ** 2 / expected).sum())
    statistic, p_value = chi_square(reference, window)
    assert statistic == pytest.approx(by_hand)
    assert p_value == pytest.approx(stats.chi2.sf(by_hand, df=2))


def test_chi_square_ignores_bins_empty_in_both():
    assert chi_square(np.array([5.0, 0.0, 5.0]), np.array([5.0, 0.0, 5.0]))[1] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "value,significant,expected",
    [(0.5, False, DriftSeverity.NONE), (0.05, True, DriftSeverity.LOW),
     (0.1, True, DriftSeverity.MEDIUM), (0.25, True, DriftSeverity.HIGH)],
)  # fmt: skip
def test_severity_bands(policy, value, significant, expected):
    assert severity_of(value, significant, policy.drift) == expected


@pytest.fixture(scope="module")
def profile(data_split, policy):
    return ReferenceProfile.fit(data_split.reference, policy.drift.bins)


def test_profile_bins_cover_the_reference(profile, data_split):
    for spec in profile.features:
        assert sum(spec.reference_counts) == len(data_split.reference), spec.name
    tenure = next(s for s in profile.features if s.name == "tenure")
    assert len(set(tenure.inner_edges)) == len(tenure.inner_edges)


def test_row_and_frame_updates_agree(profile, data_split):
    rows = data_split.production.head(300)
    by_row = DriftWindow(profile)
    for record in rows.to_dict(orient="records"):
        by_row.update(record)
    by_frame = DriftWindow(profile).update_frame(rows)
    for name in FEATURES:
        np.testing.assert_array_equal(by_row.counts[name], by_frame.counts[name])


@settings(max_examples=25, deadline=None)
@given(cut=st.integers(min_value=0, max_value=400), seed=st.integers(0, 2**16))
def test_merge_equals_the_union(profile, data_split, cut, seed):
    rows = data_split.production.sample(400, random_state=seed)
    merged = (
        DriftWindow(profile)
        .update_frame(rows.iloc[:cut])
        .merge(DriftWindow(profile).update_frame(rows.iloc[cut:]))
    )
    whole = DriftWindow(profile).update_frame(rows)
    assert merged.rows == whole.rows
    for name in FEATURES:
        np.testing.assert_array_equal(merged.counts[name], whole.counts[name])


def test_unseen_categories_are_data_quality_not_drift(profile, data_split):
    rows = data_split.production.head(200).copy()
    rows["Contract"] = "Lifetime"
    window = DriftWindow(profile).update_frame(rows)
    assert window.unseen["Contract"] == 200
    assert window.counts["Contract"].sum() == 0


def test_shifted_feature_is_high_and_others_quiet(profile, data_split, policy):
    rng = np.random.default_rng(3)
    sample = data_split.production.iloc[rng.integers(0, len(data_split.production), 500)]
    shifted = sample.copy()
    shifted["MonthlyCharges"] = shifted["MonthlyCharges"] * 1.2
    result = {f.feature: f for f in DriftWindow(profile).update_frame(shifted).result(policy.drift)}
    assert result["MonthlyCharges"].severity == DriftSeverity.HIGH
    assert result["MonthlyCharges"].significant
    quiet = [f for f in result.values() if f.feature not in ("MonthlyCharges", "TotalCharges")]
    assert not any(f.significant for f in quiet)


def test_small_windows_are_never_flagged(profile, data_split, policy):
    rows = data_split.production.head(policy.drift.min_window_rows - 1).copy()
    rows["MonthlyCharges"] = rows["MonthlyCharges"] * 3
    result = DriftWindow(profile).update_frame(rows).result(policy.drift)
    assert all(f.severity == DriftSeverity.NONE for f in result)
    assert max(f.psi for f in result) > 1.0  # the effect is still reported


def test_importance_is_carried_into_results(profile, data_split, policy):
    frame = pd.DataFrame(data_split.production.head(150))
    result = DriftWindow(profile).update_frame(frame).result(policy.drift, {"tenure": 0.3})
    assert next(f for f in result if f.feature == "tenure").importance_share == 0.3
