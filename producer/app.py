"""Publishing the stream and its ground truth to Kafka (thin I/O around ``producer.stream``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from producer.stream import StreamPlan, generate
from shared.data import load_clean, split
from shared.kafka import ensure_topics, make_producer
from shared.settings import Settings
from shared.topics import RAW_ROWS, SCENARIO


@dataclass(frozen=True)
class ProduceResult:
    produced: int
    failed: int
    seconds: float


def produce(
    settings: Settings,
    plan: StreamPlan,
    rate: float | None = None,
    split_seed: int = 42,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> ProduceResult:
    """Publish the scenario's ground truth, then the rows at ``rate`` rows/s (None: flat out).

    The production pool is the split the model never saw, from the same seed the model was trained
    with, so no training row is streamed.
    """
    ensure_topics(settings)
    producer = make_producer(settings)
    failures: list[str] = []

    def on_delivery(error, _message) -> None:
        if error is not None:
            failures.append(str(error))

    for event in plan.scenario.ground_truth(
        plan.run_id, plan.origin, plan.day_length, published_at=datetime.now(tz=UTC)
    ):
        producer.produce(settings.topic_name(SCENARIO), SCENARIO.encode(event), key=event.step_id)
    producer.flush(30)

    pool = split(load_clean(), seed=split_seed).production
    raw_topic = settings.topic_name(RAW_ROWS)
    started = time.monotonic()
    produced = 0
    for produced, row in enumerate(generate(plan, pool), start=1):
        if should_stop():
            produced -= 1
            break
        while True:
            try:
                producer.produce(
                    raw_topic,
                    RAW_ROWS.encode(row),
                    key=row.customer_id,
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        if rate:
            ahead = started + produced / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        if progress is not None and (produced % 100 == 0 or produced == plan.total_rows):
            progress(produced)
    remaining = producer.flush(60)
    return ProduceResult(
        produced=produced - len(failures) - remaining,
        failed=len(failures) + remaining,
        seconds=time.monotonic() - started,
    )
