import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import jensenshannon

from model.features import FEATURES
from monitors.divergence import chi_square, js_distance, psi
from monitors.drift import (
    PREDICTION,
    DriftWindow,
    ReferenceProfile,
    severity_of,
)
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


def test_js_distance_matches_scipy():
    p, q = np.array([10.0, 20.0, 30.0, 0.0]), np.array([5.0, 5.0, 30.0, 10.0])
    assert js_distance(p, q) == pytest.approx(jensenshannon(p / p.sum(), q / q.sum(), base=2))


def test_chi_square_matches_scipy_contingency():
    reference = np.array([30.0, 50.0, 20.0, 0.0])
    window = np.array([10.0, 10.0, 30.0, 0.0])
    expected = stats.chi2_contingency(np.vstack([reference[:3], window[:3]]), correction=False)
    statistic, p_value = chi_square(reference, window)
    assert statistic == pytest.approx(expected.statistic)
    assert p_value == pytest.approx(expected.pvalue)


@pytest.mark.parametrize(
    "value,significant,expected",
    [(0.5, False, DriftSeverity.NONE), (0.05, True, DriftSeverity.LOW),
     (0.1, True, DriftSeverity.MEDIUM), (0.25, True, DriftSeverity.HIGH)],
)  # fmt: skip
def test_severity_bands(policy, value, significant, expected):
    assert severity_of(value, significant, policy.drift) == expected


@pytest.fixture(scope="module")
def profile(version_dir, policy):
    from model.artifact import load_reference

    reference = load_reference(version_dir)
    return ReferenceProfile.fit(
        reference, policy.drift.bins, FEATURES, test_bins=policy.drift.test_bins,
        prediction_column="probability",
    )  # fmt: skip


def test_profile_bins_cover_the_reference(profile, data_split):
    for spec in profile.features:
        assert spec.reference_counts.sum() == len(data_split.reference), spec.name
    tenure = profile.feature("tenure")
    assert len(set(tenure.inner_edges)) == len(tenure.inner_edges)
    assert profile.names[-1] == PREDICTION


def test_row_and_frame_updates_agree(profile, data_split):
    """Counted row by row or all features in one tally, with unseen categories and a column the
    frame lacks; a column shorter than the rows is refused with its name."""
    rows = data_split.production.head(300).drop(columns=["tenure"])
    rows.loc[rows.index[:7], "Contract"] = "Three year"
    rows.loc[rows.index[5:9], "PaymentMethod"] = "Cheque"
    by_row = DriftWindow(profile)
    for record in rows.to_dict(orient="records"):
        by_row.update(record)
    by_frame = DriftWindow(profile).update_frame(rows)
    np.testing.assert_array_equal(by_row.counts, by_frame.counts)
    assert by_row.unseen_by_feature() == by_frame.unseen_by_feature()
    assert by_frame.unseen_by_feature() == {"Contract": 7, "PaymentMethod": 4}
    assert by_frame.count_of("tenure").sum() == 0 and by_frame.count_of("gender").sum() == 300
    assert by_row.rows == by_frame.rows == 300
    with pytest.raises(ValueError, match="column gender has 299 values for 300 rows"):
        DriftWindow(profile).update_columns({"gender": rows["gender"].iloc[1:]}, 300)


def test_a_text_column_is_binned_as_its_values_one_by_one(profile, data_split):
    """The frame's fast lookup of a text column, against the value-by-value bins, with an unseen
    category, a missing value and a column of numbers stored as objects."""
    import pandas as pd

    contract = profile.feature("Contract")
    column = data_split.production["Contract"].head(200).tolist() + ["Three year", None]
    for values in (pd.Series(column), pd.Series(column, dtype="string"), pd.Series([0, 1, "0"]),
                   pd.Series(column, dtype="category"), pd.Series(column).array,
                   pd.Series(column, dtype="string").array):  # fmt: skip
        assert contract.bins_of(values).tolist() == [contract.bin_of(v) for v in values]
    senior = profile.feature("SeniorCitizen")
    as_numbers = pd.Series([0, 1, 1], dtype=object)
    assert senior.bins_of(as_numbers).tolist() == [senior.bin_of(v) for v in as_numbers]


def test_a_frame_is_binned_from_its_column_arrays_as_from_its_series(profile, data_split):
    """The frame's columns taken as arrays bin as the same columns taken as Series do; a frame
    with a repeated column name takes the others as Series, and refuses a monitored one."""
    import pandas as pd

    from monitors.drift import frame_columns

    rows = data_split.production.head(300).drop(columns=["tenure"])
    columns = frame_columns(rows, profile.names)
    assert "tenure" not in columns and set(columns) == set(profile.names) & set(rows.columns)
    by_series = np.full((len(rows), len(profile.names)), -2)
    for i, spec in enumerate(profile.features):
        if spec.name in rows:
            by_series[:, i] = [spec.bin_of(v) for v in rows[spec.name]]
    np.testing.assert_array_equal(profile.encode(rows), by_series)
    other = pd.concat([rows, rows[["customerID"]]], axis=1)
    np.testing.assert_array_equal(profile.encode(other), by_series)
    with pytest.raises(ValueError, match="more than one column named gender"):
        profile.encode(pd.concat([rows, rows[["gender"]]], axis=1))


def test_every_statistic_against_scipy_on_the_same_bins(profile, data_split, policy):
    rows = data_split.production.sample(600, random_state=4).copy()
    rows["MonthlyCharges"] *= 1.1
    window = DriftWindow(profile).update_frame(rows)
    check = window.check(policy.drift)
    for name in ("MonthlyCharges", "tenure", "Contract"):
        i = profile.index[name]
        spec = profile.feature(name)
        ref_bins = spec.bins_of(data_split.reference[name])
        win_bins = spec.bins_of(rows[name])
        if spec.numeric:
            # KS on the binned distribution = KS of the bin indices
            expected_ks = stats.ks_2samp(ref_bins, win_bins).statistic
            assert check.ks[i] == pytest.approx(expected_ks)
            expected_w = (
                stats.wasserstein_distance(spec.midpoints[ref_bins], spec.midpoints[win_bins])
                / spec.spread
            )
            assert check.wasserstein[i] == pytest.approx(expected_w)
        coarse = spec.coarse_of_fine
        ref_coarse = np.bincount(coarse[ref_bins], minlength=coarse.max() + 1)
        win_coarse = np.bincount(coarse[win_bins], minlength=coarse.max() + 1)
        assert check.psi[i] == pytest.approx(psi(ref_coarse, win_coarse))
        assert check.js[i] == pytest.approx(
            jensenshannon(ref_coarse / ref_coarse.sum(), win_coarse / win_coarse.sum(), base=2)
        )
        test_group, _, most = profile.test_groups(600, policy.drift.min_expected)
        groups = test_group[i][: spec.size]
        table = np.vstack([np.bincount(groups[ref_bins], minlength=most),
                           np.bincount(groups[win_bins], minlength=most)])  # fmt: skip
        table = table[:, table.sum(axis=0) > 0]
        expected = stats.chi2_contingency(table, correction=False)
        assert check.statistic[i] == pytest.approx(expected.statistic)
        assert check.p_value[i] == pytest.approx(expected.pvalue, rel=1e-6, abs=1e-300)


def test_test_groups_expect_enough_rows(profile, policy):
    for rows in (200, 500, 1000):
        _, reference, _ = profile.test_groups(rows, policy.drift.min_expected)
        share = reference / reference.sum(axis=1, keepdims=True)
        used = reference > 0
        assert (share[used] * rows >= policy.drift.min_expected - 1e-9).all()


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
    np.testing.assert_array_equal(merged.counts, whole.counts)


def test_unseen_categories_are_data_quality_not_drift(profile, data_split):
    rows = data_split.production.head(200).copy()
    rows["Contract"] = "Lifetime"
    window = DriftWindow(profile).update_frame(rows)
    assert window.unseen_by_feature() == {"Contract": 200}
    assert window.count_of("Contract").sum() == 0


def test_a_references_missing_numbers_are_in_no_bin():
    """NaN and infinities in a numeric reference column are left out of its bins: the profile
    is the one of its finite numbers alone. A column with none is refused, by name."""
    rng = np.random.default_rng(5)
    finite = rng.lognormal(0, 1, 3000)
    gappy = np.concatenate([finite, [np.nan] * 40, [np.inf, -np.inf]])
    with_gaps = ReferenceProfile.fit(pd.DataFrame({"x": rng.permutation(gappy)}), numeric=["x"])
    alone = ReferenceProfile.fit(pd.DataFrame({"x": finite}), numeric=["x"])
    got, want = with_gaps.feature("x"), alone.feature("x")
    np.testing.assert_array_equal(got.inner_edges, want.inner_edges)
    np.testing.assert_array_equal(got.reference_counts, want.reference_counts)
    assert got.reference_counts.sum() == len(finite)
    np.testing.assert_allclose(got.midpoints, want.midpoints)
    assert got.spread == pytest.approx(finite.std())
    with pytest.raises(ValueError, match="'y' has no finite number"):
        ReferenceProfile.fit(pd.DataFrame({"x": finite[:3], "y": [np.nan, np.inf, np.nan]}),
                             numeric=["x", "y"])  # fmt: skip


def test_a_references_missing_categories_are_in_no_bin():
    """None and NaN in a categorical reference column are no category of it: the profile is the
    one of its other values. A column with no value is refused, by name."""
    rng = np.random.default_rng(6)
    texts = pd.Series(rng.choice(["No", "Yes", "Maybe"], 2000, p=[0.5, 0.3, 0.2]), dtype=object)
    gappy = texts.copy()
    gappy[rng.random(2000) < 0.1] = None
    gappy[rng.random(2000) < 0.05] = np.nan
    spec = ReferenceProfile.fit(pd.DataFrame({"c": gappy})).feature("c")
    kept = gappy.dropna()
    assert spec.categories == ("Maybe", "No", "Yes")
    expected = kept.value_counts().reindex(list(spec.categories)).to_numpy()
    np.testing.assert_array_equal(spec.reference_counts, expected)
    with pytest.raises(ValueError, match="'d' has no category"):
        ReferenceProfile.fit(
            pd.DataFrame({"c": texts[:2], "d": pd.Series([None, np.nan], dtype=object)})
        )


def test_missing_numbers_are_data_quality_on_every_path(profile, data_split, policy):
    """NaN in a numeric feature is in no bin and counted missing, the same whether a window is
    counted from its columns, from its rows' codes or row by row; the statistics are those of
    the window without those values. A category the reference never had, or a missing one, is
    counted apart as unseen."""
    rows = data_split.production.sample(600, random_state=8).reset_index(drop=True)
    gappy = rows.copy()
    gappy.loc[::3, "MonthlyCharges"] = np.nan
    gappy.loc[:9, "tenure"] = np.nan
    gappy.loc[:4, "Contract"] = "Lifetime"
    gappy.loc[5:7, "Contract"] = None
    by_columns = DriftWindow(profile).update_frame(gappy)
    by_codes = DriftWindow(profile).update_codes(profile.encode(gappy))
    by_rows = DriftWindow(profile)
    for row in gappy[[name for name in profile.names if name in gappy]].to_dict("records"):
        by_rows.update(row)
    for window in (by_columns, by_codes, by_rows):
        np.testing.assert_array_equal(window.counts, by_columns.counts)
        assert window.missing_by_feature() == {"MonthlyCharges": 200, "tenure": 10}
        assert window.unseen_by_feature() == {"Contract": 8}
    monthly = profile.feature("MonthlyCharges")
    present = gappy["MonthlyCharges"].dropna().to_numpy()
    expected = np.bincount(np.searchsorted(monthly.inner_edges, present, side="right"),
                           minlength=monthly.size)  # fmt: skip
    np.testing.assert_array_equal(by_columns.count_of("MonthlyCharges"), expected)
    # the statistics of the numbers present, by scipy, on the groups of a 600-row window
    check = by_columns.check(policy.drift)
    i = profile.index["MonthlyCharges"]
    assert check.rows[i] == 400
    ref_bins = monthly.bins_of(data_split.reference["MonthlyCharges"])
    win_bins = monthly.bins_of(present)
    test_group, _, most = profile.test_groups(600, policy.drift.min_expected)
    groups = test_group[i][: monthly.size]
    table = np.vstack([np.bincount(groups[ref_bins], minlength=most),
                       np.bincount(groups[win_bins], minlength=most)])  # fmt: skip
    table = table[:, table.sum(axis=0) > 0]
    assert check.statistic[i] == pytest.approx(stats.chi2_contingency(table, correction=False)[0])
    expected_w = (
        stats.wasserstein_distance(monthly.midpoints[ref_bins], monthly.midpoints[win_bins])
        / monthly.spread
    )
    assert check.wasserstein[i] == pytest.approx(expected_w)


def test_shifted_feature_is_high_and_others_quiet(profile, data_split, policy):
    rng = np.random.default_rng(3)
    sample = data_split.test.iloc[rng.choice(len(data_split.test), 500, replace=False)]
    shifted = sample.copy()
    shifted["MonthlyCharges"] = shifted["MonthlyCharges"] * 1.2
    result = {f.feature: f for f in DriftWindow(profile).update_frame(shifted).result(policy.drift)}
    assert result["MonthlyCharges"].severity == DriftSeverity.HIGH
    quiet = [f for f in result.values() if f.feature not in ("MonthlyCharges", "TotalCharges")]
    assert not any(f.significant for f in quiet)
    assert PREDICTION not in result  # no probability column in this frame: not checked


def test_small_windows_are_never_flagged(profile, data_split, policy):
    rows = data_split.production.head(policy.drift.min_window_rows - 1).copy()
    rows["MonthlyCharges"] = rows["MonthlyCharges"] * 3
    result = DriftWindow(profile).update_frame(rows).result(policy.drift)
    assert all(f.severity == DriftSeverity.NONE for f in result)
    assert max(f.psi for f in result) > 1.0  # the effect is still reported


def test_impact_is_drift_times_importance(profile, data_split, policy):
    result = (
        DriftWindow(profile)
        .update_frame(data_split.production.head(150))
        .result(policy.drift, {"tenure": 0.3})
    )
    tenure = next(f for f in result if f.feature == "tenure")
    assert tenure.importance_share == 0.3
    assert tenure.impact == pytest.approx(0.3 * tenure.psi)
    assert {f.feature for f in result} == set(FEATURES)


def test_encoded_rows_count_like_a_frame(profile, data_split):
    rows = data_split.production.head(400)
    by_frame = DriftWindow(profile).update_frame(rows)
    by_codes = DriftWindow(profile).update_codes(profile.encode(rows))
    np.testing.assert_array_equal(by_frame.counts, by_codes.counts)
    np.testing.assert_array_equal(by_frame.unseen, by_codes.unseen)
    assert by_codes.count_of(PREDICTION).sum() == 0  # no probability column: not counted


def test_the_test_grouping_is_bounded_by_the_bins_not_the_window(profile, data_split, policy):
    """A million-row window groups no more than the fine bins (the grouping was sized by the row
    count: 200,000 groups a feature, cached per window size); its test is the chi-square of the
    fine bins themselves, as scipy computes it."""
    _, grouped, most = profile.test_groups(1_000_000, policy.drift.min_expected)
    assert most <= profile.width and grouped.shape == (len(profile.features), most)
    sample = data_split.test.sample(5000, replace=True, random_state=1)
    small = DriftWindow(profile).update_frame(sample)
    window = DriftWindow(profile, small.rows * 200, small.counts * 200, small.unseen * 200)
    check = window.check(policy.drift)
    test_group, _, most = profile.test_groups(window.rows, policy.drift.min_expected)
    for row, spec in enumerate(profile.features):
        if window.counts[row].sum() == 0:
            continue  # a column the sample lacks (the prediction)
        groups = test_group[row][: spec.size]
        table = np.vstack([np.bincount(groups, weights=spec.reference_counts, minlength=most),
                           np.bincount(groups, weights=window.counts[row, : spec.size],
                                       minlength=most)])  # fmt: skip
        table = table[:, table.sum(axis=0) > 0]
        expected = stats.chi2_contingency(table, correction=False)
        assert check.statistic[row] == pytest.approx(expected.statistic, rel=1e-9), spec.name


def _drawn(rng: np.random.Generator, kind: str) -> np.ndarray:
    return {
        "uniform": rng.uniform(-5, 5, 4000),
        "whole counts": rng.integers(0, 73, 4000).astype(float),
        "heavy tail": rng.lognormal(0, 3, 4000),
        "clustered": np.concatenate([rng.normal(0, 1e-3, 3000), rng.uniform(0, 1000, 1000)]),
    }[kind]


def _around(edges: np.ndarray, data: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Values outside the edges' range, infinite and NaN, at and just beside every edge, then a
    sample of the data."""
    near = np.concatenate([edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf)])
    outside = [-np.inf, np.inf, np.nan, edges[0] - 1e9, edges[-1] + 1e9, 0.0, -0.0]
    return np.concatenate([outside, near, rng.choice(data, 2000)])


def _edges_and_values(draw_seed: int, kind: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(draw_seed)
    data = _drawn(rng, kind)
    edges = np.unique(np.quantile(data, np.linspace(0, 1, 101)[1:-1]))
    return edges, _around(edges, data, rng)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["uniform", "whole counts", "heavy tail",
                                                    "clustered"]))  # fmt: skip
def test_the_edge_grid_bins_as_numpy_searches(seed, kind):
    """The grid's bins equal ``np.searchsorted(side="right")`` on values at, just below and just
    above every edge, outside the range, infinite and NaN; edges crowded into a small part of a
    wide range fall back to the search."""
    from monitors.edges import EdgeGrid

    edges, values = _edges_and_values(seed, kind)
    grid = EdgeGrid(edges)
    np.testing.assert_array_equal(grid.bins(values), np.searchsorted(edges, values, side="right"))
    if kind in ("uniform", "whole counts"):
        assert len(grid.below), "evenly spread edges are binned on the grid"


def test_the_telco_numbers_are_binned_on_the_grid(profile):
    for spec in profile.features:
        if spec.numeric:
            assert len(spec.grid.below) and len(spec.grid.candidates) <= 3, spec.name


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_grids_binned_together_bin_each_row_on_its_own_edges(seed):
    """Several features' grids binned in one pass, one of them crowded (it falls back to the
    search): each row equals ``np.searchsorted`` on its own edges, NaN and infinities included."""
    from monitors.edges import EdgeGrid, EdgeGrids

    kinds = ["uniform", "clustered", "whole counts", "heavy tail"]
    drawn = [_edges_and_values(seed + k, kind) for k, kind in enumerate(kinds)]
    size = min(len(values) for _, values in drawn)
    values = np.stack([values[:size] for _, values in drawn])
    grids = EdgeGrids([EdgeGrid(edges) for edges, _ in drawn])
    assert 0 in grids.gridded and 2 in grids.gridded and 1 in grids.searched
    expected = np.stack([np.searchsorted(edges, row, side="right")
                         for (edges, _), row in zip(drawn, values, strict=True)])  # fmt: skip
    np.testing.assert_array_equal(grids.bins(values), expected)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["uniform", "whole counts", "heavy tail",
                                                    "clustered"]))  # fmt: skip
def test_numbers_counted_by_sorting_count_as_each_value_binned(seed, absent):
    """A window's numbers are counted by sorting them and looking the edges up among them: the
    counts equal a bincount of each value's own bin (``np.searchsorted``), at and beside every
    edge and infinite; a NaN is in no bin but counted missing, and a feature the window lacks
    counts nothing."""
    rng = np.random.default_rng(seed)
    kinds = ["uniform", "whole counts", "heavy tail", "clustered"]
    reference = pd.DataFrame({kind: _drawn(rng, kind) for kind in kinds})
    profile = ReferenceProfile.fit(reference, numeric=kinds)
    around = [_around(profile.feature(kind).inner_edges, reference[kind].to_numpy(), rng)
              for kind in kinds]  # fmt: skip
    size = min(len(values) for values in around)
    window = pd.DataFrame({kind: values[:size] for kind, values in zip(kinds, around, strict=True)
                           if kind != absent})  # fmt: skip
    counted = DriftWindow(profile).update_frame(window)
    for kind in kinds:
        spec = profile.feature(kind)
        expected = np.zeros(profile.width)
        if kind != absent:
            values = window[kind].to_numpy()
            bins = np.searchsorted(spec.inner_edges, values[~np.isnan(values)], side="right")
            expected[: spec.size] = np.bincount(bins, minlength=spec.size)
        np.testing.assert_array_equal(counted.counts[profile.index[kind]], expected, err_msg=kind)
    assert counted.missing_by_feature() == {kind: 1 for kind in kinds if kind != absent}
