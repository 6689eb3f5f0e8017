"""The versioned model artifact: model file, metadata and the reference the monitors fit on.

Layout of ``<artifacts_dir>/<model_version>/``::

    model.joblib      the fitted scikit-learn pipeline
    metadata.json     ModelMetadata below (the model contract, baselines, SHAP importance,
                      checksums)
    reference.csv     the reference rows with the model's scores: what monitors compare against

``<artifacts_dir>/LATEST`` names the newest version. Loading checks the sha256 of the model file
before unpickling it: a pickle runs code, so a file that is not the one written is refused.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict

from model.contract import FeatureSpec, ModelContract

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
REFERENCE_FILE = "reference.csv"
LATEST_FILE = "LATEST"
# The model's churn probability for each reference row, a column of REFERENCE_FILE.
PROBABILITY_COLUMN = "probability"


class ArtifactError(RuntimeError):
    """The artifact is missing or unreadable."""


class ArtifactIntegrityError(ArtifactError):
    """A file's checksum differs from the one recorded at training: refused before unpickling."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())


class HeldOutMetrics(_Frozen):
    precision: float
    recall: float
    f1: float
    roc_auc: float
    accuracy: float
    positive_rate: float
    label_rate: float
    support: int


class ModelMetadata(_Frozen):
    model_version: str
    created_at: datetime
    seed: int
    threshold: float
    training_rows: int
    contract: ModelContract
    baseline: HeldOutMetrics
    group_baseline_recall: dict[str, dict[str, float]]
    shap_importance: dict[str, float]
    # Isotonic map from the model's score to the observed churn rate on held-out data: what a
    # score means as a probability, for estimating performance before labels arrive.
    calibration_scores: tuple[float, ...] = ()
    calibration_rates: tuple[float, ...] = ()
    model_sha256: str
    reference_sha256: str

    @property
    def features(self) -> tuple[FeatureSpec, ...]:
        return self.contract.features

    def feature(self, name: str) -> FeatureSpec:
        return self.contract.feature(name)

    def deployment_gaps(self) -> dict[str, float]:
        """The model's own recall gap per sensitive attribute on its held-out set: best minus
        worst group recall, the gap it had at deployment."""
        return {
            attribute: max(recalls.values()) - min(recalls.values())
            for attribute, recalls in self.group_baseline_recall.items()
            if recalls
        }

    def importance_share(self) -> dict[str, float]:
        """SHAP mean |value| per feature as a share of the total."""
        total = sum(self.shap_importance.values()) or 1.0
        return {name: value / total for name, value in self.shap_importance.items()}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def resolve_version_dir(artifacts_dir: Path, version: str | None = None) -> Path:
    """Directory of ``version``, or of the newest version named in LATEST."""
    if version is None:
        latest = artifacts_dir / LATEST_FILE
        if not latest.exists():
            raise ArtifactError(f"no model artifact in {artifacts_dir}: run `trustwatch train`")
        version = latest.read_text().strip()
    directory = artifacts_dir / version
    if not (directory / METADATA_FILE).exists():
        raise ArtifactError(f"model version {version!r} not found in {artifacts_dir}")
    return directory


def has_artifact(artifacts_dir: Path) -> bool:
    """A readable artifact is there (one written before model contracts is not)."""
    try:
        load_metadata(resolve_version_dir(artifacts_dir))
    except ArtifactError:
        return False
    return True


def load_metadata(version_dir: Path) -> ModelMetadata:
    try:
        text = (version_dir / METADATA_FILE).read_text()
    except OSError as exc:
        raise ArtifactError(f"unreadable metadata in {version_dir}: {exc}") from exc
    try:
        return ModelMetadata.model_validate_json(text)
    except ValueError as exc:
        if '"contract"' not in text:
            raise ArtifactError(
                f"{version_dir} was written before artifacts carried a model contract: "
                "train again (`trustwatch train`)"
            ) from exc
        raise ArtifactError(f"unreadable metadata in {version_dir}: {exc}") from exc


def _verified(path: Path, expected: str) -> Path:
    actual = sha256_of(path)
    if actual != expected:
        raise ArtifactIntegrityError(
            f"{path} has sha256 {actual}, metadata records {expected}: refusing to load it"
        )
    return path


def load_model(version_dir: Path, metadata: ModelMetadata | None = None) -> Any:
    """Unpickle the model only after its checksum matched the metadata."""
    import joblib

    metadata = metadata or load_metadata(version_dir)
    return joblib.load(_verified(version_dir / MODEL_FILE, metadata.model_sha256))


def load_reference(version_dir: Path, metadata: ModelMetadata | None = None) -> pd.DataFrame:
    """The reference rows (features, label, model probability), checksum verified."""
    metadata = metadata or load_metadata(version_dir)
    path = _verified(version_dir / REFERENCE_FILE, metadata.reference_sha256)
    categorical = {name: str for name in metadata.contract.categorical}
    return pd.read_csv(path, dtype=categorical, keep_default_na=False)
