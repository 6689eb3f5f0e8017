"""Bring your own model and data, as a user runs the commands: `trustwatch train --data`,
`trustwatch register`, `trustwatch produce --from`; bad input is one line naming the problem."""

from __future__ import annotations

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from typer.testing import CliRunner

from model.artifact import load_metadata, load_model, resolve_version_dir
from model.contract import ContractError
from model.datasets import load_arrests, split
from producer.scenario import get_scenario
from trustwatch.cli import app

runner = CliRunner()
DECLARE = ["--target", "released", "--positive", "No", "--sensitive", "colour,sex"]


def one_line(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def arrests_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "arrests.parquet"
    load_arrests().to_parquet(path, engine="fastparquet")
    return path


def test_train_on_a_parquet_file_writes_an_artifact_with_its_contract(
    arrests_file, tmp_path, monkeypatch
):
    monkeypatch.setenv("TRUSTWATCH_ARTIFACTS_DIR", str(tmp_path))
    result = runner.invoke(app, ["train", "--data", str(arrests_file), *DECLARE,
                                 "--name", "arrests-file"])  # fmt: skip
    assert result.exit_code == 0, result.output
    metadata = load_metadata(resolve_version_dir(tmp_path))
    contract = metadata.contract
    assert contract.name == "arrests-file" and contract.positive == "No"
    assert contract.numeric == ("year", "age", "checks")
    assert contract.categorical == ("colour", "sex", "employed", "citizen")
    assert set(metadata.group_baseline_recall) == {"colour", "sex"}
    # the held-out baseline is the model's own, computed here again with scikit-learn
    from sklearn.metrics import roc_auc_score

    frame = load_arrests()
    parts = split(frame, 42, label="released", positive="No")
    test = contract.prepare(parts.test)
    probability = load_model(resolve_version_dir(tmp_path)).predict_proba(
        test[list(contract.names)]
    )[:, 1]
    assert metadata.baseline.roc_auc == pytest.approx(roc_auc_score(test["released"], probability))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--target", "nope", "--positive", "No"], "the data has no column 'nope'"),
        (["--target", "released", "--positive", "Maybe"], "never takes the positive value"),
        (["--target", "released", "--positive", "No", "--sensitive", "age"],
         "sensitive attribute 'age' is numeric with"),
        (["--target", "released"], "--target and --positive are needed"),
    ],
)  # fmt: skip
def test_bad_declarations_are_one_line(arguments, message, arrests_file, tmp_path, monkeypatch):
    monkeypatch.setenv("TRUSTWATCH_ARTIFACTS_DIR", str(tmp_path))
    result = runner.invoke(app, ["train", "--data", str(arrests_file), *arguments])
    assert message in one_line(result)


def test_a_label_with_three_values_is_refused(tmp_path, monkeypatch):
    frame = load_arrests().head(300).assign(released=lambda f: np.resize(["Yes", "No", "?"], 300))
    path = tmp_path / "three.csv"
    frame.to_csv(path, index=False)
    monkeypatch.setenv("TRUSTWATCH_ARTIFACTS_DIR", str(tmp_path / "artifacts"))
    result = runner.invoke(app, ["train", "--data", str(path), *DECLARE])
    assert "must take two values, found 3" in one_line(result)


class Broken:
    """A model whose predict_proba fails on the reference (it wants another schema)."""

    def predict_proba(self, frame):
        return frame["tenure"]


def _forest(seed: int = 0) -> Pipeline:
    categorical = ["colour", "sex", "employed", "citizen"]
    return Pipeline([
        ("encode", ColumnTransformer([("c", OneHotEncoder(handle_unknown="ignore"), categorical)],
                                     remainder="passthrough")),
        ("forest", RandomForestClassifier(n_estimators=30, random_state=seed, min_samples_leaf=20)),
    ])  # fmt: skip


def test_register_an_own_model_and_refuse_one_that_cannot_score(tmp_path, monkeypatch):
    frame = load_arrests()
    fit_rows, reference = frame.iloc[:2500], frame.iloc[2500:]
    features = [c for c in frame if c != "released"]
    forest = _forest().fit(fit_rows[features], fit_rows["released"] == "No")
    joblib.dump(forest, tmp_path / "forest.joblib")
    joblib.dump(Broken(), tmp_path / "broken.joblib")
    reference.to_csv(tmp_path / "reference.csv", index=False)
    monkeypatch.setenv("TRUSTWATCH_ARTIFACTS_DIR", str(tmp_path / "artifacts"))

    reference_file = ["--reference", str(tmp_path / "reference.csv"), *DECLARE]
    broken = runner.invoke(
        app, ["register", "--model", str(tmp_path / "broken.joblib"), *reference_file]
    )
    assert "the model's predict_proba fails on the reference: 'tenure'" in one_line(broken)

    result = runner.invoke(
        app, ["register", "--model", str(tmp_path / "forest.joblib"), *reference_file]
    )
    assert result.exit_code == 0, result.output
    version_dir = resolve_version_dir(tmp_path / "artifacts")
    metadata = load_metadata(version_dir)
    assert metadata.model_version.startswith("model-")
    # permutation importance: the inputs the forest leans on rank first
    ranked = sorted(metadata.shap_importance, key=lambda n: -metadata.shap_importance[n])
    assert set(ranked[:3]) & {"checks", "citizen", "employed"}
    # the registered file is checked like any artifact before it is unpickled again
    loaded = load_model(version_dir, metadata)
    sample = reference[features].head(20)
    assert np.allclose(loaded.predict_proba(sample), forest.predict_proba(sample))


def test_a_scenario_naming_a_column_the_contract_lacks_is_refused(tmp_path):
    from model.datasets import BUILTIN_DATASETS, prepared_split

    arrests = BUILTIN_DATASETS["arrests"]
    _, contract = prepared_split(arrests.load(), arrests.declaration, 42, 1.0)
    get_scenario("arrests-full").bound_to(contract)  # its own scenarios fit
    with pytest.raises(ContractError, match="scenario 'covariate' .* names 'MonthlyCharges'"):
        get_scenario("covariate").bound_to(contract)
    with pytest.raises(ContractError, match="needs 'age' to be categorical"):
        get_scenario("arrests-bias").model_copy(
            update={"steps": (get_scenario("arrests-bias").steps[0].model_copy(
                update={"attribute": "age"}),)}
        ).bound_to(contract)  # fmt: skip


def test_produce_from_a_file_replays_it_in_time_order(tmp_path):
    """`produce --from` streams a user's file in the order of its time column, each row once
    per pass, through the same generator the broker path uses."""
    from datetime import UTC, datetime

    from model.datasets import BUILTIN_DATASETS, prepared_split
    from producer.stream import StreamPlan, generate
    from shared.topics import RAW_ROWS

    arrests = BUILTIN_DATASETS["arrests"]
    _, contract = prepared_split(arrests.load(), arrests.declaration, 42, 1.0)
    frame = load_arrests().sample(50, random_state=1)
    frame["when"] = pd.date_range("2026-01-01", periods=50, freq="h")[::-1]
    pool = contract.prepare(frame.sort_values("when"))
    plan = StreamPlan(get_scenario("baseline"), 2, 25, 7, datetime(2026, 3, 1, tzinfo=UTC),
                      in_order=True)  # fmt: skip
    rows = [RAW_ROWS.decode(e.payload) for e in generate(plan, pool, contract)]
    expected = frame.sort_values("when")
    assert [r.features["age"] for r in rows] == expected["age"].tolist()
    assert [r.label for r in rows] == (expected["released"] == "No").astype(int).tolist()
