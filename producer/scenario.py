"""Scenarios: a timeline of injected problems, validated from YAML (pure).

A step has a kind, a target, a start day, an optional end day, an onset (sudden, or gradual over
``onset_days``) and an intensity whose meaning depends on the kind. During a gradual onset the
effect grows linearly from nothing to the full intensity.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    model_validator,
)

from model.contract import ContractError, ModelContract
from shared.documents import load_yaml_model
from shared.schemas import DriftKind, ScenarioEvent


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _Step(_Frozen):
    kind: str  # each kind of step fixes its own
    start_day: int = Field(ge=0)
    end_day: int | None = Field(default=None, ge=1)
    onset_days: int = Field(default=0, ge=0, description="0: sudden; k: linear ramp over k days")

    @model_validator(mode="after")
    def _days_ordered(self):
        if self.end_day is not None and self.end_day <= self.start_day:
            raise ValueError(f"end_day {self.end_day} must be after start_day {self.start_day}")
        return self

    def strength(self, day: int) -> float:
        """0 outside the step, 1 at full effect, in between during a gradual onset."""
        if day < self.start_day or (self.end_day is not None and day >= self.end_day):
            return 0.0
        if self.onset_days == 0:
            return 1.0
        return min(1.0, (day - self.start_day + 1) / (self.onset_days + 1))

    @property
    def target(self) -> str:
        raise NotImplementedError

    def columns(self) -> dict[str, str]:
        """The columns the step works on, each with the kind it needs."""
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    @property
    def step_id(self) -> str:
        return f"{self.kind}-{self.target}-day{self.start_day}"


class NumericOperation(StrEnum):
    SCALE = "scale"  # multiply by intensity
    SHIFT = "shift"  # add intensity
    NOISE = "noise"  # add gaussian noise, sd = intensity x the feature's sd in the pool


class NumericShift(_Step):
    """Covariate drift of a numeric feature."""

    kind: Literal["covariate"] = "covariate"
    feature: str
    operation: NumericOperation
    intensity: float
    keep_total_consistent: bool = Field(
        default=False, description="recompute TotalCharges as tenure x MonthlyCharges (Telco)"
    )

    @model_validator(mode="after")
    def _positive_scale(self):
        if self.operation == NumericOperation.SCALE and self.intensity <= 0:
            raise ValueError("a scale intensity is a factor and must be positive")
        return self

    @property
    def target(self) -> str:
        return self.feature

    def columns(self) -> dict[str, str]:
        extra = dict.fromkeys(TOTAL_CHARGES_PARTS, "numeric") if self.keep_total_consistent else {}
        return {self.feature: "numeric", **extra}

    def describe(self) -> str:
        verb = {"scale": "multiplied by", "shift": "shifted by", "noise": "noised with sd x"}
        return f"{self.feature} {verb[self.operation.value]} {self.intensity:g}"

    def apply(self, rows: pd.DataFrame, strength: float, rng: np.random.Generator,
              pool: pd.DataFrame) -> pd.DataFrame:  # fmt: skip
        values = rows[self.feature].astype(float)
        if self.operation == NumericOperation.SCALE:
            values = values * (1 + (self.intensity - 1) * strength)
        elif self.operation == NumericOperation.SHIFT:
            values = values + self.intensity * strength
        else:
            spread = float(pool[self.feature].std())
            values = values + rng.normal(0.0, self.intensity * strength * spread, len(values))
        if float(pool[self.feature].min()) >= 0:
            values = values.clip(lower=0.0)  # a quantity never negative (counts, charges) stays so
        changed = rows.copy()
        whole = pd.api.types.is_integer_dtype(pool[self.feature])
        changed[self.feature] = values.round().astype(int) if whole else values.round(2)
        if self.keep_total_consistent:
            tenure, monthly, total = TOTAL_CHARGES_PARTS
            changed[total] = (changed[tenure] * changed[monthly]).round(2)
        return changed


class CategoryMix(_Step):
    """Covariate drift of a categorical feature: a share of rows moved to one category."""

    kind: Literal["covariate"] = "covariate"
    feature: str
    category: str
    intensity: float = Field(gt=0, le=1, description="share of rows moved to the category")

    @property
    def target(self) -> str:
        return self.feature

    def columns(self) -> dict[str, str]:
        return {self.feature: "categorical"}

    def describe(self) -> str:
        return f"{self.intensity:.0%} of rows moved to {self.feature}={self.category}"

    def apply(self, rows: pd.DataFrame, strength: float, rng: np.random.Generator,
              pool: pd.DataFrame) -> pd.DataFrame:  # fmt: skip
        changed = rows.copy()
        moved = rng.random(len(rows)) < self.intensity * strength
        changed.loc[moved, self.feature] = self.category
        return changed


class PriorShift(_Step):
    """The positive rate of the label moves to ``intensity`` (by resampling positives and
    negatives). Its target is the label's column, as the contract names it."""

    kind: Literal["prior"] = "prior"
    intensity: float = Field(gt=0, lt=1, description="positive rate at full effect")
    label: str | None = Field(default=None, description="the label's column (the contract's)")

    @property
    def target(self) -> str:
        return self.label or "label"

    def columns(self) -> dict[str, str]:
        return {}

    def describe(self) -> str:
        return f"{self.target} rate moved to {self.intensity:.0%}"


class Segment(_Frozen):
    """Rows whose features take one of the listed values, for every listed feature."""

    where: dict[str, tuple[str, ...]] = Field(min_length=1)

    def mask(self, rows: pd.DataFrame) -> np.ndarray:
        inside = np.ones(len(rows), dtype=bool)
        for feature, values in self.where.items():
            inside &= rows[feature].astype(str).isin(values).to_numpy()
        return inside

    def describe(self) -> str:
        return " and ".join(f"{f} in {'/'.join(v)}" for f, v in self.where.items())


class ConceptShift(_Step):
    """Behaviour behind unchanged inputs changes: in a segment, the label is positive with
    probability ``intensity`` whatever it was before."""

    kind: Literal["concept"] = "concept"
    segment: Segment
    intensity: float = Field(ge=0, le=1, description="churn probability in the segment")

    @property
    def target(self) -> str:
        return ",".join(self.segment.where)

    def columns(self) -> dict[str, str]:
        return dict.fromkeys(self.segment.where, "categorical")

    def describe(self) -> str:
        return f"rows with {self.segment.describe()} positive with probability {self.intensity:g}"

    def relabel(self, rows: pd.DataFrame, label: str, strength: float,
                rng: np.random.Generator) -> np.ndarray:  # fmt: skip
        labels = rows[label].to_numpy().copy()
        chosen = self.segment.mask(rows) & (rng.random(len(rows)) < strength)
        labels[chosen] = (rng.random(int(chosen.sum())) < self.intensity).astype(labels.dtype)
        return labels


class GroupBias(_Step):
    """Outcomes change for one group only: in ``group`` of ``attribute``, rows of the segment
    (every row of the group without one; the Telco scenarios name those the model sees as safe,
    on long contracts) turn positive with probability ``intensity``, so the model's recall for
    that group falls."""

    kind: Literal["group_bias"] = "group_bias"
    attribute: str
    group: str
    intensity: float = Field(gt=0, le=1)
    segment: Segment | None = None

    @property
    def target(self) -> str:
        return self.attribute

    def columns(self) -> dict[str, str]:
        inside = dict.fromkeys(self.segment.where, "categorical") if self.segment else {}
        return {self.attribute: "categorical", **inside}

    def describe(self) -> str:
        where = f" with {self.segment.describe()}" if self.segment else ""
        return (
            f"{self.attribute}={self.group} rows{where} positive with probability "
            f"{self.intensity:g}"
        )

    def relabel(self, rows: pd.DataFrame, label: str, strength: float,
                rng: np.random.Generator) -> np.ndarray:  # fmt: skip
        labels = rows[label].to_numpy().copy()
        in_group = rows[self.attribute].astype(str).to_numpy() == self.group
        if self.segment is not None:
            in_group &= self.segment.mask(rows)
        chosen = in_group & (rng.random(len(rows)) < strength)
        labels[chosen] = np.maximum(
            labels[chosen], (rng.random(int(chosen.sum())) < self.intensity).astype(labels.dtype)
        )
        return labels


class FaultKind(StrEnum):
    MISSING_FIELD = "missing_field"
    WRONG_TYPE = "wrong_type"
    NULL = "null"
    UNSEEN_CATEGORY = "unseen_category"
    OUT_OF_RANGE = "out_of_range"
    MALFORMED_JSON = "malformed_json"
    OVERSIZED = "oversized"


class SchemaFaults(_Step):
    """Broken upstream data: a share ``intensity`` of rows carries one of ``faults``."""

    kind: Literal["schema"] = "schema"
    intensity: float = Field(gt=0, le=1, description="share of rows with a fault")
    faults: tuple[FaultKind, ...] = tuple(FaultKind)

    @property
    def target(self) -> str:
        return "payload"

    def columns(self) -> dict[str, str]:
        return {}

    def describe(self) -> str:
        return f"{self.intensity:.0%} of rows broken ({', '.join(f.value for f in self.faults)})"


def _step_tag(value: object) -> str | None:
    """Which step model a document is: the kind, with covariate split by the feature's type."""
    kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
    if kind != "covariate":
        return kind
    # a move to a category names it; a numeric shift names an operation
    moved = "category" in value if isinstance(value, dict) else isinstance(value, CategoryMix)
    return "covariate_categorical" if moved else "covariate_numeric"


Step = Annotated[
    Annotated[NumericShift, Tag("covariate_numeric")]
    | Annotated[CategoryMix, Tag("covariate_categorical")]
    | Annotated[PriorShift, Tag("prior")]
    | Annotated[ConceptShift, Tag("concept")]
    | Annotated[GroupBias, Tag("group_bias")]
    | Annotated[SchemaFaults, Tag("schema")],
    Discriminator(_step_tag),
]


class Scenario(_Frozen):
    """A named timeline of steps.

    Examples
    --------
    >>> s = get_scenario("covariate")
    >>> [step.step_id for step in s.steps][:1]
    ['covariate-MonthlyCharges-day7']
    """

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    description: str
    days: int = Field(default=14, ge=1, description="suggested length of a run")
    steps: tuple[Step, ...] = ()

    @model_validator(mode="after")
    def _fits(self):
        for step in self.steps:
            if step.start_day >= self.days:
                raise ValueError(
                    f"step {step.step_id} starts after the scenario's {self.days} days"
                )
        return self

    def bound_to(self, contract: ModelContract) -> Scenario:
        """The scenario on the contract's columns (a prior step names its label); one naming a
        column the contract lacks, or of the wrong kind (a shift of a categorical, a group bias on
        a numeric), is refused with that column's name."""
        steps = []
        for step in self.steps:
            wanted = step.columns()
            contract.require(list(wanted), f"scenario {self.name!r} (step {step.step_id})")
            for column, kind in wanted.items():
                if contract.feature(column).kind != kind:
                    raise ContractError(
                        f"scenario {self.name!r} (step {step.step_id}) needs {column!r} to be "
                        f"{kind}; the contract {contract.name!r} has it "
                        f"{contract.feature(column).kind}"
                    )
            if isinstance(step, PriorShift):
                if step.label not in (None, contract.label):
                    raise ContractError(
                        f"scenario {self.name!r} (step {step.step_id}) shifts the label "
                        f"{step.label!r}; the contract's label is {contract.label!r}"
                    )
                step = step.model_copy(update={"label": contract.label})
            steps.append(step)
        return self.model_copy(update={"steps": tuple(steps)})

    def ground_truth(
        self, run_id: str, origin: datetime, day_length: timedelta, published_at: datetime
    ) -> list[ScenarioEvent]:
        """One event per step: what was injected and from when to when."""
        return [
            ScenarioEvent(
                event_time=published_at,
                scenario=self.name,
                run_id=run_id,
                step_id=step.step_id,
                kind=DriftKind(step.kind),
                target=step.target,
                start=origin + step.start_day * day_length,
                end=None if step.end_day is None else origin + step.end_day * day_length,
                description=step.describe(),
            )
            for step in self.steps
        ]


class ScenarioError(ValueError):
    """A scenario file is unreadable or invalid; the message says where."""


def _scenario_dir() -> Path:
    return Path(str(resources.files("producer") / "scenarios"))


def builtin_names() -> list[str]:
    return sorted(p.stem for p in _scenario_dir().glob("*.yaml"))


def builtin_names_for(contract: ModelContract) -> list[str]:
    """The built-in scenarios that fit the contract's columns."""
    fitting = []
    for name in builtin_names():
        try:
            get_scenario(name).bound_to(contract)
        except ContractError:
            continue
        fitting.append(name)
    return fitting


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file (YAML)."""
    return load_yaml_model(path, Scenario, ScenarioError, "scenario")


def get_scenario(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a scenario file by path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        return load_scenario(candidate)
    builtin = _scenario_dir() / f"{name_or_path}.yaml"
    if not builtin.exists():
        raise ScenarioError(
            f"unknown scenario {name_or_path!r}; built-in scenarios: {', '.join(builtin_names())}"
        )
    return load_scenario(builtin)


DEFAULT_SCENARIO = "full"
# What keep_total_consistent recomputes: the Telco bill, tenure x monthly charge.
TOTAL_CHARGES_PARTS = ("tenure", "MonthlyCharges", "TotalCharges")
