"""Scenarios: what to inject, on which feature, from which simulated day (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.features import NUMERIC_FEATURES
from shared.schemas import DriftKind, ScenarioEvent


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CovariateScale(_Frozen):
    """Multiply a numeric feature by ``factor`` on the days ``[start_day, end_day)``."""

    kind: Literal["covariate"] = "covariate"
    target: str
    factor: float = Field(gt=0)
    start_day: int = Field(ge=0)
    end_day: int | None = None

    @model_validator(mode="after")
    def _check(self) -> CovariateScale:
        if self.target not in NUMERIC_FEATURES:
            raise ValueError(f"covariate scale needs a numeric feature, not {self.target!r}")
        if self.end_day is not None and self.end_day <= self.start_day:
            raise ValueError("end_day must be after start_day")
        return self

    @property
    def step_id(self) -> str:
        return f"{self.kind}-{self.target}-day{self.start_day}"

    def active_on(self, day: int) -> bool:
        return day >= self.start_day and (self.end_day is None or day < self.end_day)

    def apply(self, rows: pd.DataFrame) -> pd.DataFrame:
        changed = rows.copy()
        changed[self.target] = (changed[self.target] * self.factor).round(2)
        return changed

    def describe(self) -> str:
        return f"{self.target} multiplied by {self.factor:g} from day {self.start_day}"


Step = CovariateScale


class Scenario(_Frozen):
    name: str
    description: str
    steps: tuple[Step, ...] = ()

    def apply(self, day: int, rows: pd.DataFrame) -> pd.DataFrame:
        for step in self.steps:
            if step.active_on(day):
                rows = step.apply(rows)
        return rows

    def ground_truth(
        self, run_id: str, origin: datetime, day_length: timedelta, published_at: datetime
    ) -> list[ScenarioEvent]:
        """One event per step: what was injected and from when (the demo and tests score on it)."""
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


BUILTIN_SCENARIOS: dict[str, Scenario] = {
    "covariate": Scenario(
        name="covariate",
        description="Sudden covariate drift: MonthlyCharges x1.2 from day 7 (a price rise).",
        steps=(CovariateScale(target="MonthlyCharges", factor=1.2, start_day=7),),
    ),
}
DEFAULT_SCENARIO = "covariate"


def get_scenario(name: str) -> Scenario:
    try:
        return BUILTIN_SCENARIOS[name]
    except KeyError:
        known = ", ".join(sorted(BUILTIN_SCENARIOS))
        raise ValueError(f"unknown scenario {name!r}; built-in scenarios: {known}") from None
