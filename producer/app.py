"""Publishing the stream and its ground truth to Kafka (thin I/O around ``producer.stream``)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pandas as pd

from model.artifact import load_metadata, resolve_version_dir
from model.contract import ModelContract
from model.datasets import production_pool
from producer.stream import StreamPlan, generate
from shared.kafka import ensure_topics
from shared.publisher import Publisher
from shared.settings import Settings
from shared.topics import RAW_ROWS, SCENARIO


@dataclass(frozen=True)
class ProduceResult:
    produced: int  # rows acknowledged by the broker
    labels: int
    failed: int
    seconds: float
    faults: dict[str, int] = field(default_factory=dict)


def produce(
    settings: Settings,
    plan: StreamPlan,
    rate: float | None = None,
    split_seed: int = 42,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    pool: pd.DataFrame | None = None,
    contract: ModelContract | None = None,
) -> ProduceResult:
    """Publish the scenario's ground truth, then the rows at ``rate`` rows/s (None: flat out).

    ``contract`` defaults to the current model artifact's. The default ``pool`` is the split of
    its built-in dataset the model never saw, from the same seed the model was trained with, so
    no training row is streamed; a user's own data is passed prepared by the contract
    (``ModelContract.prepare``). The scenario is checked against the contract before anything is
    published.
    """
    if contract is None:
        contract = load_metadata(resolve_version_dir(settings.artifacts_dir)).contract
    plan = replace(plan, scenario=plan.scenario.bound_to(contract))
    if pool is None:
        pool = production_pool(contract, split_seed)
    ensure_topics(settings)
    publisher = Publisher(settings)
    for event in plan.scenario.ground_truth(
        plan.run_id, plan.origin, plan.day_length, published_at=datetime.now(tz=UTC)
    ):
        publisher.send(settings.topic_name(SCENARIO), SCENARIO.encode(event), event.step_id)
    if publisher.flush(30) or publisher.failed:
        raise RuntimeError("the scenario's ground truth could not be published")

    started = time.monotonic()
    sent: Counter[str] = Counter()
    faults: Counter[str] = Counter()
    for emission in generate(plan, pool, contract):
        if should_stop():
            break
        publisher.send(
            settings.topic_name(emission.topic), emission.payload, emission.key, emission.headers
        )
        sent[emission.topic.name] += 1
        if emission.fault is not None:
            faults[emission.fault.value] += 1
        if emission.topic != RAW_ROWS:
            continue
        rows = sent[RAW_ROWS.name]
        if rate:
            ahead = started + rows / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        if progress is not None and (rows % 100 == 0 or rows == plan.total_rows):
            progress(rows)
    unsent = publisher.flush(60)
    raw_failed = publisher.failed[settings.topic_name(RAW_ROWS)]
    total_failed = sum(publisher.failed.values()) + unsent
    return ProduceResult(
        produced=sent[RAW_ROWS.name] - raw_failed - (unsent if total_failed else 0),
        labels=sum(sent.values()) - sent[RAW_ROWS.name],
        failed=total_failed,
        seconds=time.monotonic() - started,
        faults=dict(faults),
    )
