"""The policy file: every threshold, validated at start with errors that name the bad key."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.documents import load_yaml_model


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ValidationPolicy(_Section):
    range_margin_spans: float = Field(ge=0)


class DriftPolicy(_Section):
    bins: int = Field(ge=2, le=100)
    test_bins: int = Field(ge=2, le=1000)
    min_expected: float = Field(gt=0)
    psi_medium: float = Field(gt=0)
    psi_high: float = Field(gt=0)
    family_alpha: float = Field(gt=0, lt=1)
    min_window_rows: int = Field(ge=1)
    confirm_windows: int = Field(ge=1)
    confirm_min: int = Field(ge=1)
    adwin_delta: float = Field(gt=0, lt=1)
    rate_tolerance: float = Field(gt=0, lt=1)
    attribution_sample_rows: int = Field(ge=10)
    attribution_ndcg_min: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _bands_ordered(self) -> DriftPolicy:
        if self.psi_high <= self.psi_medium:
            raise ValueError("drift.psi_high must be above drift.psi_medium")
        if self.confirm_min > self.confirm_windows:
            raise ValueError("drift.confirm_min cannot exceed drift.confirm_windows")
        return self


def _ordered(name: str, warning: float, critical: float) -> None:
    if warning > critical:
        raise ValueError(f"{name}_warning ({warning}) is above {name}_critical ({critical})")


class PerformancePolicy(_Section):
    min_support: int = Field(ge=1)
    confidence: float = Field(gt=0, lt=1)
    rolling_windows: int = Field(ge=1)
    recall_drop_warning: float = Field(gt=0, lt=1)
    recall_drop_critical: float = Field(gt=0, lt=1)
    roc_auc_drop_warning: float = Field(gt=0, lt=1)
    roc_auc_drop_critical: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _warnings_below_criticals(self) -> PerformancePolicy:
        _ordered("performance.recall_drop", self.recall_drop_warning, self.recall_drop_critical)
        _ordered("performance.roc_auc_drop", self.roc_auc_drop_warning,
                 self.roc_auc_drop_critical)  # fmt: skip
        return self


class DataQualityPolicy(_Section):
    quarantine_share_warning: float = Field(gt=0, lt=1)
    quarantine_share_critical: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _warning_below_critical(self) -> DataQualityPolicy:
        _ordered("data_quality.quarantine_share", self.quarantine_share_warning,
                 self.quarantine_share_critical)  # fmt: skip
        return self


class FairnessPolicy(_Section):
    min_group_positives: int = Field(ge=1)
    min_group_negatives: int = Field(ge=0)
    span_windows: int = Field(ge=1)
    gap_confidence: float = Field(gt=0, lt=1)
    gap_interval: Literal["newcombe", "agresti-caffo"] = "newcombe"
    gaps_relative_to_deployment: bool = True
    recall_gap_warning: float = Field(gt=0, lt=1)
    recall_gap_critical: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _warning_below_critical(self) -> FairnessPolicy:
        _ordered("fairness.recall_gap", self.recall_gap_warning, self.recall_gap_critical)
        return self


class SummaryPolicy(_Section):
    """How large a window's state may grow, whatever its row count."""

    # items per level of a class's score sketch: ROC-AUC exact up to this many scores a class,
    # within roc_auc_error (at most 0.001 at 6000) beyond
    sketch_k: int = Field(default=6000, ge=100, le=20_000)
    # event-time buckets a window is summarised in for the sequential detectors (ADWIN)
    stream_buckets: int = Field(default=512, ge=1, le=4096)
    # values one bucket feeds a detector at most (with the bucket's mean and variance)
    adwin_values_per_bucket: int = Field(default=64, ge=1, le=10_000)


class DecisionPolicy(_Section):
    drift_persistence_windows: int = Field(ge=1)
    drift_min_importance_share: float = Field(ge=0, le=1)
    resolve_after_clear_windows: int = Field(ge=1)
    group_within_windows: int = Field(ge=0)


class Policy(_Section):
    """All thresholds. Build it with :func:`load_policy`.

    Examples
    --------
    >>> load_policy().drift.psi_high
    0.25
    """

    validation: ValidationPolicy
    drift: DriftPolicy
    performance: PerformancePolicy
    data_quality: DataQualityPolicy
    fairness: FairnessPolicy
    decision: DecisionPolicy
    # optional in a policy file: policies written before it keep loading
    summaries: SummaryPolicy = SummaryPolicy()


class PolicyError(ValueError):
    """The policy file is unreadable or invalid; the message names each bad key."""


def default_policy_path() -> Path:
    return Path(str(resources.files("shared") / "policy.yaml"))


def load_policy(path: Path | None = None) -> Policy:
    """Read and validate a policy file (the packaged default when ``path`` is None)."""
    return load_yaml_model(path or default_policy_path(), Policy, PolicyError, "policy file")
