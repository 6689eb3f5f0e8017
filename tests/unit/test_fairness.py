import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import recall_score

from monitors.fairness import GroupWindow, gap_interval
from shared.schemas import GroupRecall
from shared.stats import difference_interval


def random_frame(seed, n=600):
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "gender": rng.choice(["Female", "Male"], n),
            "SeniorCitizen": rng.choice(["0", "1"], n, p=[0.8, 0.2]),
            "y": rng.integers(0, 2, n),
            "p": rng.integers(0, 2, n),
        }
    )


def fill(frame, attributes=("gender", "SeniorCitizen")):
    window = GroupWindow(attributes)
    for record in frame.to_dict(orient="records"):
        window.update(record, record["y"], record["p"])
    return window


@pytest.mark.parametrize("seed", range(3))
def test_group_recall_matches_fairlearn_metricframe(seed):
    frame = random_frame(seed)
    groups, gaps = fill(frame).result(min_positives=1, min_negatives=1, confidence=0.95)
    for attribute in ("gender", "SeniorCitizen"):
        reference = MetricFrame(
            metrics=recall_score,
            y_true=frame["y"],
            y_pred=frame["p"],
            sensitive_features=frame[attribute],
        )
        ours = {g.group: g.recall for g in groups if g.attribute == attribute}
        for group, value in reference.by_group.items():
            assert ours[str(group)] == pytest.approx(value)
        gap = next(g for g in gaps if g.attribute == attribute)
        assert gap.gap == pytest.approx(reference.difference())
        assert gap.ratio == pytest.approx(reference.ratio())
        for name, metric in (("false_positive_rate", false_positive_rate),
                             ("selection_rate", selection_rate)):  # fmt: skip
            other = MetricFrame(metrics=metric, y_true=frame["y"], y_pred=frame["p"],
                                sensitive_features=frame[attribute])  # fmt: skip
            ours = {g.group: getattr(g, name) for g in groups if g.attribute == attribute}
            for group, value in other.by_group.items():
                assert ours[str(group)] == pytest.approx(value)


def test_small_groups_are_left_out_of_the_comparison():
    frame = pd.DataFrame(
        {"gender": ["F"] * 40 + ["M"] * 3, "y": [1] * 43, "p": [1] * 20 + [0] * 20 + [0] * 3}
    )
    groups, gaps = fill(frame, ("gender",)).result(30, 0, confidence=0.95)
    assert {g.group: g.eligible for g in groups} == {"F": True, "M": False}
    assert gaps[0].gap is None  # one eligible group: nothing to compare


@pytest.mark.parametrize("method,theirs", [("newcombe", "newcomb"),
                                           ("agresti-caffo", "agresti-caffo")])  # fmt: skip
def test_gap_interval_is_statsmodels_over_a_grid_of_counts(method, theirs):
    from statsmodels.stats.proportion import confint_proportions_2indep

    def recall(group, positives, true_positives):
        return GroupRecall(
            attribute="a", group=group, positives=positives, true_positives=true_positives,
            recall=true_positives / positives, eligible=True,
        )  # fmt: skip

    checked = 0
    for n1, n2 in [(30, 30), (30, 60), (45, 31), (60, 60), (400, 35)]:
        for k1 in range(0, n1 + 1, max(1, n1 // 15)):
            for k2 in range(0, n2 + 1, max(1, n2 // 15)):
                for confidence in (0.9, 0.95):
                    ours = gap_interval(recall("x", n1, k1), recall("y", n2, k2), confidence,
                                        method)  # fmt: skip
                    reference = confint_proportions_2indep(
                        k1, n1, k2, n2, method=theirs, compare="diff", alpha=1 - confidence
                    )
                    assert ours == pytest.approx(reference, abs=1e-12), (k1, n1, k2, n2)
                    checked += 1
    assert checked > 2000


def test_the_windows_gap_interval_is_the_policys_and_contains_the_gap():
    frame = pd.DataFrame({"gender": ["F"] * 40 + ["M"] * 40, "y": [1] * 80,
                          "p": [1] * 36 + [0] * 4 + [1] * 24 + [0] * 16})  # fmt: skip
    window = fill(frame, ("gender",))
    for method in ("newcombe", "agresti-caffo"):
        [gap] = window.result(30, 0, 0.95, method)[1]
        assert gap.gap_low < gap.gap < gap.gap_high
        assert (gap.gap_low, gap.gap_high) == pytest.approx(
            difference_interval(36, 40, 24, 40, 0.95, method)
        )
    # the example: 28/30 against 15/30, no longer 0.233 from below
    low, _ = difference_interval(28, 30, 15, 30, 0.95)
    assert low == pytest.approx(0.2100, abs=1e-4)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), cut=st.integers(0, 200))
def test_merge_equals_the_union(seed, cut):
    frame = random_frame(seed, n=200)
    merged = fill(frame.iloc[:cut]).merge(fill(frame.iloc[cut:]))
    whole = fill(frame)
    assert merged.result(5, 5, 0.95) == whole.result(5, 5, 0.95)
    assert merged.rows == whole.rows == 200


def test_groups_need_enough_stayers_too():
    frame = pd.DataFrame({"gender": ["F"] * 40 + ["M"] * 40, "y": [1] * 40 + [1] * 35 + [0] * 5,
                          "p": [1] * 80})  # fmt: skip
    groups, gaps = fill(frame, ("gender",)).result(30, 10, confidence=0.95)
    assert {g.group: g.eligible for g in groups} == {"F": False, "M": False}


@pytest.mark.parametrize("seed", range(5))
def test_pooled_gaps_take_the_fewest_latest_windows_with_groups_large_enough(seed):
    """Per attribute: the fewest latest windows in which each of its groups has 30 churners and
    30 stayers, found here by counting with pandas; the gap over them is sklearn's recall of the
    best group minus the worst's on those windows' rows."""
    from monitors.fairness import pooled_gaps

    frames = [random_frame(seed * 10 + k, n=90) for k in range(6)]  # oldest first
    latest_first = [fill(frame) for frame in reversed(frames)]
    gaps = {g.attribute: g for g in pooled_gaps(latest_first, ("gender", "SeniorCitizen"),
                                                30, 30, 0.95)}  # fmt: skip
    for attribute, gap in gaps.items():
        for count in range(1, len(frames) + 1):
            rows = pd.concat(frames[-count:])
            sizes = rows.groupby(attribute)["y"].agg(["sum", "count"])
            if (
                len(sizes) >= 2
                and ((sizes["sum"] >= 30) & (sizes["count"] - sizes["sum"] >= 30)).all()
            ):
                break
        assert gap.windows == count
        recalls = {
            group: recall_score(part["y"], part["p"], zero_division=0)
            for group, part in rows.groupby(attribute)
        }
        if gap.gap is not None:
            assert gap.gap == pytest.approx(max(recalls.values()) - min(recalls.values()))
    assert gaps["SeniorCitizen"].windows > gaps["gender"].windows  # a fifth of the rows


@pytest.mark.parametrize("seed", range(4))
def test_strongest_gaps_take_the_latest_windows_whose_interval_lies_highest(seed):
    """Over 7 windows, the last 3 of which miss most female churners: per attribute, the gap
    over the latest k windows whose lower bound is highest among the k with groups large enough
    (30 churners and 30 stayers each), found here with pandas counts and statsmodels' Newcombe
    interval for every k."""
    from statsmodels.stats.proportion import confint_proportions_2indep

    from monitors.fairness import strongest_gaps

    rng = np.random.default_rng(seed)
    frames = [random_frame(seed * 10 + k, n=160) for k in range(7)]  # oldest first
    for frame in frames[-3:]:
        missed = (frame["gender"] == "Female") & (frame["y"] == 1) & (rng.random(len(frame)) < 0.7)
        frame.loc[missed, "p"] = 0
    latest_first = [fill(frame) for frame in reversed(frames)]
    gaps = {g.attribute: g for g in strongest_gaps(latest_first, ("gender", "SeniorCitizen"),
                                                   30, 30, 0.95)}  # fmt: skip
    for attribute, gap in gaps.items():
        best: tuple[float, int] | None = None
        for count in range(1, len(frames) + 1):
            rows = pd.concat(frames[-count:])
            positives = rows[rows["y"] == 1].groupby(attribute)["p"].agg(["sum", "count"])
            sizes = rows.groupby(attribute)["y"].agg(["sum", "count"])
            if (
                len(sizes) < 2
                or not ((sizes["sum"] >= 30) & (sizes["count"] - sizes["sum"] >= 30)).all()
            ):
                continue
            recall = positives["sum"] / positives["count"]
            top, bottom = recall.idxmax(), recall.idxmin()
            low, _ = confint_proportions_2indep(
                positives.loc[top, "sum"], positives.loc[top, "count"],
                positives.loc[bottom, "sum"], positives.loc[bottom, "count"],
                method="newcomb", compare="diff", alpha=0.05,
            )  # fmt: skip
            if best is None or low > best[0]:
                best = (low, count)
        assert best is not None
        assert gap.windows == best[1]
        assert gap.gap_low == pytest.approx(best[0])
    # the injured windows alone, not the whole span that dilutes them
    assert gaps["gender"].windows < len(frames)
    assert gaps["gender"].worst_group == "Female"
