import json
import shutil

import pytest

from model.artifact import (
    MODEL_FILE,
    REFERENCE_FILE,
    ArtifactError,
    ArtifactIntegrityError,
    load_metadata,
    load_model,
    load_reference,
    resolve_version_dir,
)
from model.features import FEATURES
from scorer.training import shap_importance


def test_training_meets_the_baseline_and_records_metadata(metadata):
    assert metadata.baseline.roc_auc >= 0.80
    assert 0 < metadata.baseline.precision < 1 and 0 < metadata.baseline.recall < 1
    assert [f.name for f in metadata.features] == list(FEATURES)
    assert metadata.feature("Contract").categories == (
        "Month-to-month", "One year", "Two year",
    )  # fmt: skip
    tenure = metadata.feature("tenure")
    assert tenure.valid_min == 0 and tenure.valid_max > tenure.observed_max
    assert set(metadata.group_baseline_recall) == {
        "gender", "SeniorCitizen", "Partner", "Dependents",
    }  # fmt: skip
    assert set(metadata.shap_importance) == set(FEATURES)
    assert sum(metadata.importance_share().values()) == pytest.approx(1.0)
    assert metadata.model_version.startswith("lr-")


def test_model_loads_and_scores(version_dir, data_split, metadata):
    model = load_model(version_dir)
    probabilities = model.predict_proba(data_split.test[list(FEATURES)].head(10))[:, 1]
    assert ((probabilities >= 0) & (probabilities <= 1)).all()
    reference = load_reference(version_dir)
    assert len(reference) == metadata.training_rows
    assert reference["SeniorCitizen"].map(type).eq(str).all()


def test_tampered_model_is_refused_before_unpickling(version_dir, tmp_path):
    copy = tmp_path / version_dir.name
    shutil.copytree(version_dir, copy)
    with open(copy / MODEL_FILE, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ArtifactIntegrityError, match="refusing to load"):
        load_model(copy)
    (copy / REFERENCE_FILE).write_text("customerID\n")
    with pytest.raises(ArtifactIntegrityError):
        load_reference(copy)


def test_missing_artifact_says_how_to_make_one(tmp_path):
    with pytest.raises(ArtifactError, match="trustwatch train"):
        resolve_version_dir(tmp_path)
    with pytest.raises(ArtifactError, match="not found"):
        resolve_version_dir(tmp_path, "lr-nope")


def test_same_seed_gives_the_same_model_version(artifacts_dir, policy, tmp_path, metadata):
    from scorer.training import train

    again = train(tmp_path, policy, seed=42)
    assert again.metadata.model_version == metadata.model_version
    assert json.loads((again.version_dir / "metadata.json").read_text())["model_sha256"] == (
        metadata.model_sha256
    )
    assert load_metadata(again.version_dir).baseline == metadata.baseline


def test_shap_importance_ranks_tenure_above_gender(version_dir, data_split):
    importance = shap_importance(
        load_model(version_dir), data_split.reference, seed=1, features=FEATURES
    )
    assert importance["tenure"] > importance["gender"] > 0


def test_the_gaps_known_at_deployment_are_fairlearns_on_the_held_out_set(version_dir, data_split,
                                                                         metadata):  # fmt: skip
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import recall_score

    from model.features import LABEL_COLUMN

    model = load_model(version_dir)
    test = data_split.test
    predicted = (model.predict_proba(test[list(FEATURES)])[:, 1] >= metadata.threshold).astype(int)
    for attribute, gap in metadata.deployment_gaps().items():
        frame = MetricFrame(metrics=recall_score, y_true=test[LABEL_COLUMN].to_numpy(),
                            y_pred=predicted, sensitive_features=test[attribute])  # fmt: skip
        assert gap == pytest.approx(frame.difference(method="between_groups")), attribute
