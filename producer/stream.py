"""Generating the production stream from the pool (pure and seeded: same seed, same bytes)."""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from model.contract import ModelContract
from model.messages import row_values
from producer.faults import corrupt
from producer.scenario import (
    CategoryMix,
    ConceptShift,
    FaultKind,
    GroupBias,
    NumericShift,
    PriorShift,
    Scenario,
    SchemaFaults,
)
from shared.schemas import LabelEvent, RawRow
from shared.topics import EVENT_ID_HEADER, EVENT_TIME_HEADER, LABELS, RAW_ROWS, Topic


@dataclass(frozen=True)
class StreamPlan:
    """What to stream: ``scenario`` is bound to the model contract by ``generate``."""

    scenario: Scenario
    days: int
    rows_per_day: int
    seed: int
    origin: datetime
    day_length: timedelta = timedelta(days=1)
    label_delay_days: float = 0.0
    # a replay: the pool's rows one after another, in its order (a file in time order), instead
    # of drawn at random; a prior step still resamples
    in_order: bool = False

    @property
    def total_rows(self) -> int:
        return self.days * self.rows_per_day

    @property
    def run_id(self) -> str:
        return f"{self.scenario.name}-s{self.seed}"


@dataclass(frozen=True)
class Emission:
    """One message to publish: a raw row (maybe broken on purpose) or a late label."""

    topic: Topic
    key: str
    payload: bytes
    event_id: str
    event_time: datetime
    fault: FaultKind | None = None

    @property
    def headers(self) -> list[tuple[str, bytes]]:
        return [
            (EVENT_ID_HEADER, self.event_id.encode()),
            (EVENT_TIME_HEADER, self.event_time.isoformat().encode()),
        ]


def sample_day(
    plan: StreamPlan, day: int, pool: pd.DataFrame, rng: np.random.Generator, label: str
) -> pd.DataFrame:
    """The day's rows: drawn from the pool, at the positive rate a prior step asks for."""
    prior = [s for s in plan.scenario.steps if isinstance(s, PriorShift) and s.strength(day) > 0]
    if not prior:
        if plan.in_order:
            picks = (day * plan.rows_per_day + np.arange(plan.rows_per_day)) % len(pool)
        else:
            picks = rng.integers(0, len(pool), size=plan.rows_per_day)
        return pool.iloc[picks].reset_index(drop=True)
    step = prior[-1]
    base = float(pool[label].mean())
    rate = base + (step.intensity - base) * step.strength(day)
    churners = pool[pool[label] == 1]
    stayers = pool[pool[label] == 0]
    n_churners = int(rng.binomial(plan.rows_per_day, rate))
    rows = pd.concat(
        [
            churners.iloc[rng.integers(0, len(churners), size=n_churners)],
            stayers.iloc[rng.integers(0, len(stayers), size=plan.rows_per_day - n_churners)],
        ]
    )
    return rows.iloc[rng.permutation(len(rows))].reset_index(drop=True)


def transform_day(
    plan: StreamPlan,
    day: int,
    rows: pd.DataFrame,
    pool: pd.DataFrame,
    rng: np.random.Generator,
    label: str,
) -> pd.DataFrame:
    """Apply the covariate steps to the inputs, then the concept and bias steps to the labels."""
    for step in plan.scenario.steps:
        strength = step.strength(day)
        if strength == 0:
            continue
        if isinstance(step, NumericShift | CategoryMix):
            rows = step.apply(rows, strength, rng, pool)
        elif isinstance(step, ConceptShift | GroupBias):
            rows = rows.copy()
            rows[label] = step.relabel(rows, label, strength, rng)
    return rows


def _fault_for(
    plan: StreamPlan, day: int, rng: np.random.Generator, count: int
) -> list[FaultKind | None]:
    faults: list[FaultKind | None] = [None] * count
    for step in plan.scenario.steps:
        if not isinstance(step, SchemaFaults) or step.strength(day) == 0:
            continue
        hit = rng.random(count) < step.intensity * step.strength(day)
        kinds = rng.integers(0, len(step.faults), size=count)
        for index in np.flatnonzero(hit):
            faults[index] = faults[index] or step.faults[int(kinds[index])]
    return faults


def generate(plan: StreamPlan, pool: pd.DataFrame, contract: ModelContract) -> Iterator[Emission]:
    """Every message of the run in publication order: rows day by day, each label when it is due.

    ``pool`` holds the contract's features and its label as 0/1; a row's id is the contract's id
    column, or the event id where it has none. The scenario is refused here if it names a column
    the contract lacks.

    Examples
    --------
    >>> from datetime import UTC
    >>> from producer.scenario import get_scenario
    >>> from model.datasets import load_clean, split
    >>> from model.features import telco_contract
    >>> plan = StreamPlan(get_scenario("covariate"), 2, 3, 1, datetime(2026, 3, 1, tzinfo=UTC))
    >>> parts = split(load_clean())
    >>> contract = telco_contract(parts.reference, 1.0)
    >>> out = list(generate(plan, parts.production, contract))
    >>> len(out), out[0].event_id, out[3].event_time.day
    (6, 'covariate-s1-d000-r00000', 2)
    """
    plan = replace(plan, scenario=plan.scenario.bound_to(contract))
    label_column, id_column = contract.label, contract.id_column
    spacing = plan.day_length / plan.rows_per_day
    delay = plan.label_delay_days * plan.day_length
    due: list[tuple[datetime, str, LabelEvent]] = []
    for day in range(plan.days):
        rng = np.random.default_rng([plan.seed, day])
        rows = sample_day(plan, day, pool, rng, label_column)
        rows = transform_day(plan, day, rows, pool, rng, label_column)
        faults = _fault_for(plan, day, rng, len(rows))
        day_start = plan.origin + day * plan.day_length
        for index, record in enumerate(rows.to_dict(orient="records")):
            when = day_start + index * spacing
            while due and due[0][0] <= when:
                yield _label_emission(heapq.heappop(due)[2])
            event_id = f"{plan.run_id}-d{day:03d}-r{index:05d}"
            label = int(record[label_column])
            row = RawRow(
                event_time=when,
                event_id=event_id,
                customer_id=str(record[id_column]) if id_column else event_id,
                features=row_values(contract, record),
                label=label if delay == timedelta(0) else None,
            )
            fault = faults[index]
            payload = (
                RAW_ROWS.encode(row)
                if fault is None
                else corrupt(json.loads(row.model_dump_json()), fault, rng, contract)
            )
            yield Emission(RAW_ROWS, row.customer_id, payload, event_id, when, fault)
            if delay > timedelta(0):
                known = LabelEvent(
                    event_time=when + delay,
                    event_id=event_id,
                    customer_id=row.customer_id,
                    label=label,
                    row_event_time=when,
                )
                heapq.heappush(due, (known.event_time, event_id, known))
    while due:
        yield _label_emission(heapq.heappop(due)[2])


def _label_emission(event: LabelEvent) -> Emission:
    return Emission(
        LABELS, event.customer_id, LABELS.encode(event), event.event_id, event.event_time
    )
