"""The model contract: declared and fitted on any frame, refused with one line naming the
problem, and the Telco demo's contract as one instance of it."""

import json

import numpy as np
import pandas as pd
import pytest

from model.artifact import METADATA_FILE, ArtifactError, load_metadata
from model.contract import MAX_GROUP_VALUES, ContractError, ModelContract, fit_contract
from model.datasets import load_clean
from model.features import CATEGORICAL_FEATURES, FEATURES, NUMERIC_FEATURES, telco_contract


def frame(rows: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "id": [f"r{i}" for i in range(rows)],
        "age": rng.integers(18, 70, rows),
        "income": rng.normal(-5.0, 2.0, rows),
        "colour": rng.choice(["Black", "White"], rows),
        "flag": rng.integers(0, 2, rows),
        "released": rng.choice(["Yes", "No"], rows),
    })  # fmt: skip


def test_kinds_follow_dtypes_and_sensitive_attributes_are_groups():
    data = frame()
    contract = fit_contract(data, label="released", positive="Yes", sensitive=["colour", "flag"],
                            id_column="id", range_margin_spans=0.5)  # fmt: skip
    assert contract.names == ("age", "income", "colour", "flag")
    assert contract.numeric == ("age", "income")
    assert contract.categorical == ("colour", "flag")
    assert contract.feature("flag").categories == ("0", "1")
    age, income = contract.feature("age"), contract.feature("income")
    assert age.integer and not income.integer
    low, high = data["income"].min(), data["income"].max()
    # a quantity that can be negative keeps its margin below the observed minimum
    assert income.valid_min == pytest.approx(low - 0.5 * (high - low))
    assert age.valid_min == max(0.0, data["age"].min() - 0.5 * (data["age"].max() - 18))
    assert contract.labels_of(data).tolist() == (data["released"] == "Yes").astype(int).tolist()


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (lambda f: f.drop(columns="colour"), {}, "the data has no column 'colour'"),
        (lambda f: f.assign(released=["Yes", "No", "Maybe", "No"] * 10), {}, "two values"),
        (lambda f: f.assign(released="No"), {}, "never takes the positive value 'Yes'"),
        (lambda f: f.assign(colour=np.arange(40)), {}, f"at most {MAX_GROUP_VALUES}"),
        (lambda f: f.assign(age=f["age"].where(f.index > 0)), {}, "'age' has missing values"),
        (lambda f: f, {"sensitive": ["nope"]}, "the data has no column 'nope'"),
        (lambda f: f, {"features": ["age"], "sensitive": ["colour"]}, "not among the features"),
    ],
)
def test_bad_declarations_get_one_line_naming_the_problem(change, kwargs, message):
    arguments = {"label": "released", "positive": "Yes", "sensitive": ["colour"], "id_column": "id"}
    with pytest.raises(ContractError, match=message) as caught:
        fit_contract(change(frame()), **{**arguments, **kwargs})
    assert "\n" not in str(caught.value)


def test_scenario_columns_the_contract_lacks_are_named():
    contract = fit_contract(frame(), label="released", positive="Yes", id_column="id")
    contract.require(["age", "released"], "scenario 'x'")
    with pytest.raises(ContractError, match="scenario 'x' names 'tenure'"):
        contract.require(["age", "tenure"], "scenario 'x'")


def test_the_contract_round_trips_and_its_task_is_named():
    contract = fit_contract(frame(), label="released", positive="Yes", sensitive=["colour"])
    again = ModelContract.model_validate_json(contract.model_dump_json())
    assert again == contract and again.task == "binary_classification"


def test_the_telco_contract_is_the_demo_schema():
    clean = load_clean()
    contract = telco_contract(clean, range_margin_spans=1.0)
    assert contract.names == FEATURES
    assert contract.numeric == NUMERIC_FEATURES and contract.categorical == CATEGORICAL_FEATURES
    assert contract.labels_of(clean).sum() == 1869  # the Yes of the shipped CSV
    tenure = contract.feature("tenure")
    assert (tenure.valid_min, tenure.valid_max) == (0.0, 144.0)
    assert contract.feature("SeniorCitizen").categories == ("0", "1")


def test_an_artifact_written_before_contracts_asks_to_train_again(version_dir, tmp_path):
    old = json.loads((version_dir / METADATA_FILE).read_text())
    old["features"] = old.pop("contract")["features"]
    (tmp_path / METADATA_FILE).write_text(json.dumps(old))
    with pytest.raises(ArtifactError, match="before artifacts carried a model contract"):
        load_metadata(tmp_path)
