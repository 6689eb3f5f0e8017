"""Generating the production stream from the pool (pure and seeded: same seed, same bytes)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from producer.scenario import Scenario
from shared.features import FEATURES, ID_COLUMN, LABEL_COLUMN
from shared.schemas import RawRow, TelcoFeatures


@dataclass(frozen=True)
class StreamPlan:
    scenario: Scenario
    days: int
    rows_per_day: int
    seed: int
    origin: datetime
    day_length: timedelta = timedelta(days=1)

    @property
    def total_rows(self) -> int:
        return self.days * self.rows_per_day

    @property
    def run_id(self) -> str:
        return f"{self.scenario.name}-s{self.seed}"


def _features(record: dict) -> TelcoFeatures:
    values = {name: record[name] for name in FEATURES}
    values["tenure"] = int(values["tenure"])
    values["MonthlyCharges"] = float(values["MonthlyCharges"])
    values["TotalCharges"] = float(values["TotalCharges"])
    return TelcoFeatures(**values)


def generate(plan: StreamPlan, pool: pd.DataFrame) -> Iterator[RawRow]:
    """Rows day by day: sampled from the pool, transformed by the scenario, spread over the day.

    Examples
    --------
    >>> from datetime import UTC
    >>> from producer.scenario import get_scenario
    >>> from shared.data import load_clean, split
    >>> plan = StreamPlan(get_scenario("covariate"), 2, 3, 1, datetime(2026, 3, 1, tzinfo=UTC))
    >>> rows = list(generate(plan, split(load_clean()).production))
    >>> len(rows), rows[0].event_id, rows[3].event_time.day
    (6, 'covariate-s1-d000-r00000', 2)
    """
    rng = np.random.default_rng(plan.seed)
    spacing = plan.day_length / plan.rows_per_day
    for day in range(plan.days):
        picks = rng.integers(0, len(pool), size=plan.rows_per_day)
        rows = plan.scenario.apply(day, pool.iloc[picks].reset_index(drop=True))
        day_start = plan.origin + day * plan.day_length
        for index, record in enumerate(rows.to_dict(orient="records")):
            yield RawRow(
                event_time=day_start + index * spacing,
                event_id=f"{plan.run_id}-d{day:03d}-r{index:05d}",
                customer_id=str(record[ID_COLUMN]),
                features=_features(record),
                label=int(record[LABEL_COLUMN]),
            )
