"""Fit the default model, or register one already fitted, and write a versioned artifact with its
contract and baselines."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from model.artifact import (
    LATEST_FILE,
    METADATA_FILE,
    MODEL_FILE,
    PROBABILITY_COLUMN,
    REFERENCE_FILE,
    HeldOutMetrics,
    ModelMetadata,
    sha256_of,
)
from model.contract import ContractError, Declaration, ModelContract
from model.datasets import DataSplit, builtin_dataset, prepared_split
from monitors.attribution import source_feature
from shared.policy import Policy

THRESHOLD = 0.5
# SHAP on a bounded sample keeps training fast; mean |value| settles well before this size.
SHAP_SAMPLE_ROWS = 1000

Progress = Callable[[str], None]


def build_pipeline(seed: int, contract: ModelContract) -> Pipeline:
    """One-hot categoricals, scaled numerics, class-balanced logistic regression.

    Balanced weights trade precision for recall: a missed churner costs more than a wasted offer.
    """
    preprocess = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), list(contract.categorical)),
            ("numeric", StandardScaler(), list(contract.numeric)),
        ]
    )
    classifier = LogisticRegression(max_iter=2000, class_weight="balanced", random_state=seed)
    return Pipeline([("preprocess", preprocess), ("classifier", classifier)])


def held_out_metrics(
    y_true: np.ndarray, probability: np.ndarray, threshold: float
) -> HeldOutMetrics:
    y_pred = (probability >= threshold).astype(int)
    return HeldOutMetrics(
        precision=float(precision_score(y_true, y_pred, zero_division=0)),
        recall=float(recall_score(y_true, y_pred, zero_division=0)),
        f1=float(f1_score(y_true, y_pred, zero_division=0)),
        roc_auc=float(roc_auc_score(y_true, probability)),
        accuracy=float(accuracy_score(y_true, y_pred)),
        positive_rate=float(y_pred.mean()),
        label_rate=float(np.mean(y_true)),
        support=len(y_true),
    )


def calibration_map(y_true: np.ndarray, score: np.ndarray, knots: int = 50) -> tuple[
    tuple[float, ...], tuple[float, ...]
]:  # fmt: skip
    """Isotonic regression of the label on the score, sampled at ``knots`` score quantiles.

    Class-balanced weights push the scores up; this maps a score back to a churn probability.
    """
    from sklearn.isotonic import IsotonicRegression

    isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(score, y_true)
    points = np.unique(np.quantile(score, np.linspace(0, 1, knots)))
    return tuple(float(x) for x in points), tuple(float(y) for y in isotonic.predict(points))


def group_recall(
    frame: pd.DataFrame, y_true: np.ndarray, y_pred: np.ndarray, attributes: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    result: dict[str, dict[str, float]] = {}
    for attribute in attributes:
        per_group = {}
        for group, index in frame.groupby(attribute).groups.items():
            positions = frame.index.get_indexer(index)
            y = y_true[positions]
            per_group[str(group)] = float(recall_score(y, y_pred[positions], zero_division=0))
        result[attribute] = per_group
    return result


def shap_importance(pipeline: Pipeline, background: pd.DataFrame, seed: int,
                    features: tuple[str, ...]) -> dict[str, float]:  # fmt: skip
    """Mean |SHAP value| per original feature (one-hot columns summed back), in log-odds."""
    import shap

    preprocess = pipeline.named_steps["preprocess"]
    classifier = pipeline.named_steps["classifier"]
    sample = background.sample(n=min(SHAP_SAMPLE_ROWS, len(background)), random_state=seed)
    transformed = preprocess.transform(sample[list(features)])
    dense = transformed.toarray() if hasattr(transformed, "toarray") else np.asarray(transformed)
    explainer = shap.LinearExplainer(classifier, shap.maskers.Independent(dense))
    values = np.asarray(explainer.shap_values(dense))
    names = preprocess.get_feature_names_out()
    importance = dict.fromkeys(features, 0.0)
    for column, name in enumerate(names):
        source = source_feature(str(name), features)
        importance[source] += float(np.abs(values[:, column]).mean())
    return importance


@dataclass(frozen=True)
class TrainingResult:
    version_dir: Path
    metadata: ModelMetadata


def train(
    artifacts_dir: Path,
    policy: Policy,
    seed: int = 42,
    progress: Progress | None = None,
    dataset: str = "telco-churn",
) -> TrainingResult:
    """The default model on a built-in dataset (the Telco demo's by default): fit, evaluate on
    the held-out set, explain, write an artifact."""
    say = progress or (lambda _step: None)
    source = builtin_dataset(dataset)
    say(f"loading {source.description}")
    return train_on(artifacts_dir, source.load(), source.declaration, policy, seed, say)


def train_on(artifacts_dir: Path, raw: pd.DataFrame, declaration: Declaration, policy: Policy,
             seed: int, say: Progress) -> TrainingResult:  # fmt: skip
    """The default model on any data as it comes, described by ``declaration``."""
    margin = policy.validation.range_margin_spans
    parts, contract = prepared_split(raw, declaration, seed, margin)
    return train_model(artifacts_dir, parts, contract, policy, seed, say)


def register_model(
    artifacts_dir: Path,
    model: Any,
    reference: pd.DataFrame,
    declaration: Declaration,
    policy: Policy,
    seed: int,
    say: Progress,
    test_share: float = 0.25,
) -> TrainingResult:
    """An already-fitted model (anything with ``predict_proba`` on a frame of the contract's
    columns) with its reference set: the contract is fitted on part of it, the held-out baselines
    measured on the rest (``test_share``), feature importance by permutation (model-agnostic).
    A model whose ``predict_proba`` fails or gives no probabilities is refused in one line."""
    margin = policy.validation.range_margin_spans
    # a bad declaration is named before anything else
    labels = declaration.fit(reference, margin).labels_of(reference)
    fit_part, test_part = train_test_split(
        reference, test_size=test_share, stratify=labels, random_state=seed
    )
    contract = declaration.fit(fit_part, margin)
    parts = DataSplit(contract.prepare(fit_part), contract.prepare(test_part), fit_part.iloc[:0])
    check_probabilities(model, parts.reference[list(contract.names)])
    say("measuring permutation importance")
    importance = permutation_importance_of(model, parts.test, contract, seed)
    return write_artifact(artifacts_dir, model, parts, contract, policy, seed, say, importance,
                          prefix="model")  # fmt: skip


def check_probabilities(model: Any, frame: pd.DataFrame) -> None:
    """Refuse a model whose ``predict_proba`` fails on ``frame`` or gives no probability of a
    positive label per row."""
    if not callable(getattr(model, "predict_proba", None)):
        raise ContractError(f"the model ({type(model).__name__}) has no predict_proba")
    try:
        probability = np.asarray(model.predict_proba(frame), dtype=float)
    except Exception as exc:  # any failure of the user's model is the one line to show
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ContractError(f"the model's predict_proba fails on the reference: {first}") from exc
    if probability.ndim != 2 or probability.shape != (len(frame), 2):
        raise ContractError(
            f"the model's predict_proba gives shape {probability.shape} for {len(frame)} rows; "
            "a binary classifier gives (rows, 2)"
        )
    if not np.all((probability >= 0) & (probability <= 1)):
        raise ContractError("the model's predict_proba gives values outside [0, 1]")


def permutation_importance_of(model: Any, held_out: pd.DataFrame, contract: ModelContract,
                              seed: int) -> dict[str, float]:  # fmt: skip
    """Mean drop of ROC-AUC when each feature is shuffled, per feature (never below zero)."""
    from sklearn.inspection import permutation_importance

    result = permutation_importance(
        model, held_out[list(contract.names)], held_out[contract.label], scoring="roc_auc",
        n_repeats=3, random_state=seed,
    )  # fmt: skip
    return {
        name: max(0.0, float(mean))
        for name, mean in zip(contract.names, result.importances_mean, strict=True)
    }


def train_model(artifacts_dir: Path, parts: DataSplit, contract: ModelContract, policy: Policy,
                seed: int, say: Progress) -> TrainingResult:  # fmt: skip
    """Fit the default model on ``parts.reference`` (label already 0/1) and write its artifact."""
    say(f"fitting on {len(parts.reference)} reference rows")
    pipeline = build_pipeline(seed, contract).fit(
        parts.reference[list(contract.names)], parts.reference[contract.label]
    )
    say("computing SHAP importance")
    importance = shap_importance(pipeline, parts.reference, seed, contract.names)
    return write_artifact(artifacts_dir, pipeline, parts, contract, policy, seed, say, importance,
                          prefix="lr")  # fmt: skip


def write_artifact(
    artifacts_dir: Path,
    model: Any,
    parts: DataSplit,
    contract: ModelContract,
    policy: Policy,
    seed: int,
    say: Progress,
    importance: dict[str, float],
    prefix: str,
) -> TrainingResult:
    """Evaluate a fitted model on the held-out set and write it as a new artifact version (named
    ``<prefix>-<first 12 hex of the model file's sha256>``)."""
    features = list(contract.names)
    say(f"evaluating on {len(parts.test)} held-out rows")
    y_test = parts.test[contract.label].to_numpy()
    test_probability = model.predict_proba(parts.test[features])[:, 1]
    baseline = held_out_metrics(y_test, test_probability, THRESHOLD)
    predicted = (test_probability >= THRESHOLD).astype(int)
    groups = group_recall(parts.test, y_test, predicted, contract.sensitive)
    calibration = calibration_map(y_test, test_probability)

    say("writing the artifact")
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    staging = artifacts_dir / f".staging-{datetime.now(tz=UTC):%Y%m%d%H%M%S%f}"
    staging.mkdir()
    joblib.dump(model, staging / MODEL_FILE)
    reference = parts.reference.copy()
    reference[PROBABILITY_COLUMN] = model.predict_proba(reference[features])[:, 1]
    reference.to_csv(staging / REFERENCE_FILE, index=False)
    model_sha = sha256_of(staging / MODEL_FILE)
    version = f"{prefix}-{model_sha[:12]}"
    metadata = ModelMetadata(
        model_version=version,
        created_at=datetime.now(tz=UTC),
        seed=seed,
        threshold=THRESHOLD,
        training_rows=len(parts.reference),
        contract=contract,
        baseline=baseline,
        calibration_scores=calibration[0],
        calibration_rates=calibration[1],
        group_baseline_recall=groups,
        shap_importance=importance,
        model_sha256=model_sha,
        reference_sha256=sha256_of(staging / REFERENCE_FILE),
    )
    (staging / METADATA_FILE).write_text(json.dumps(metadata.model_dump(mode="json"), indent=2))
    version_dir = artifacts_dir / version
    if version_dir.exists():
        # Same seed, same bytes: the version already exists and is identical in content.
        for item in staging.iterdir():
            item.replace(version_dir / item.name)
        staging.rmdir()
    else:
        staging.rename(version_dir)
    (artifacts_dir / LATEST_FILE).write_text(version + "\n")
    return TrainingResult(version_dir=version_dir, metadata=metadata)
