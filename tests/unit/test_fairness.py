import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import recall_score

from monitors.fairness import GroupWindow, gap_margin
from shared.schemas import GroupRecall


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


def test_gap_interval_contains_the_gap_and_narrows_with_size():
    def recall(group, positives, value):
        return GroupRecall(
            attribute="a", group=group, positives=positives,
            true_positives=round(value * positives), recall=value, eligible=True,
        )  # fmt: skip

    small = gap_margin(recall("x", 40, 0.9), recall("y", 40, 0.6), 0.95)
    large = gap_margin(recall("x", 4000, 0.9), recall("y", 4000, 0.6), 0.95)
    assert 0 < large < small
    # by hand, Agresti-Caffo shrinkage: p = 37/42 and 25/42, var = p(1-p)/42 each
    p1, p2 = 37 / 42, 25 / 42
    assert small == pytest.approx(1.959964 * np.sqrt(p1 * (1 - p1) / 42 + p2 * (1 - p2) / 42))


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
