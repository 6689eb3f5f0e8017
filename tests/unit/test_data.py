import pandas as pd
import pytest

from model.datasets import clean, load_raw, split
from model.features import CATEGORICAL_FEATURES, FEATURES, ID_COLUMN, LABEL_COLUMN


def test_shipped_csv_is_the_full_telco_sample():
    raw = load_raw()
    assert raw.shape == (7043, 21)
    assert (raw["TotalCharges"].str.strip() == "").sum() == 11


def test_cleaning_types_and_blank_total_charges(clean_frame):
    assert len(clean_frame) == 7043
    assert clean_frame["TotalCharges"].isna().sum() == 0
    blanks = load_raw()["TotalCharges"].str.strip() == ""
    # the 11 blanks are exactly the customers with tenure 0, and become 0.0
    assert (clean_frame.loc[blanks, "tenure"] == 0).all()
    assert (clean_frame.loc[blanks, "TotalCharges"] == 0.0).all()
    assert set(clean_frame[LABEL_COLUMN].unique()) == {0, 1}
    assert int(clean_frame[LABEL_COLUMN].sum()) == 1869
    assert set(clean_frame["SeniorCitizen"].unique()) == {"0", "1"}
    for column in CATEGORICAL_FEATURES:
        assert clean_frame[column].map(type).eq(str).all(), column


def test_cleaning_refuses_unknown_labels():
    raw = load_raw().head(3).copy()
    raw.loc[0, "Churn"] = "Maybe"
    with pytest.raises(ValueError, match="Maybe"):
        clean(raw)


def test_split_is_disjoint_complete_stratified_and_seeded(clean_frame):
    parts = split(clean_frame, seed=42)
    ids = [set(p[ID_COLUMN]) for p in (parts.reference, parts.test, parts.production)]
    assert sum(len(i) for i in ids) == len(clean_frame)
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    overall = clean_frame[LABEL_COLUMN].mean()
    for part in (parts.reference, parts.test, parts.production):
        assert abs(part[LABEL_COLUMN].mean() - overall) < 0.005
        assert list(part.columns[1:-1]) == [
            *CATEGORICAL_FEATURES,
            "tenure",
            "MonthlyCharges",
            "TotalCharges",
        ]
    again = split(clean_frame, seed=42)
    pd.testing.assert_frame_equal(parts.production, again.production)
    other = split(clean_frame, seed=43)
    assert set(other.production[ID_COLUMN]) != ids[2]
    assert set(FEATURES) <= set(parts.reference.columns)


@pytest.mark.parametrize("test_share,production_share", [(0, 0.2), (0.5, 0.5), (0.2, 1.0)])
def test_split_refuses_impossible_shares(clean_frame, test_share, production_share):
    with pytest.raises(ValueError):
        split(clean_frame, test_share=test_share, production_share=production_share)


def test_feature_lists_match_the_csv_columns():
    columns = list(load_raw().columns)
    assert list(FEATURES) == [c for c in columns if c not in (ID_COLUMN, LABEL_COLUMN)]
    assert len(FEATURES) == 19
    assert set(CATEGORICAL_FEATURES) == set(FEATURES) - {"tenure", "MonthlyCharges", "TotalCharges"}
