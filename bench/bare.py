"""The baselines trustwatch's hops are measured against: plain confluent-kafka relays with no
trustwatch code in them (a consumer, ``json``, a producer, and for the scoring relay pandas and the
model's ``predict_proba``), on the same broker and the same rows.

Each reads ``rows`` messages from ``source`` and writes one message per row to ``sink``; the rate
is taken from its first batch to the moment its last output is acknowledged.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pandas as pd
from confluent_kafka import Consumer, Producer

BATCH = 500


def _clients(bootstrap: str) -> tuple[Consumer, Producer]:
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"bare-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest",
    })  # fmt: skip
    return consumer, Producer({"bootstrap.servers": bootstrap})


def _relay(bootstrap: str, source: str, sink: str, rows: int, transform) -> float:
    consumer, producer = _clients(bootstrap)
    consumer.subscribe([source])
    done, first = 0, None
    try:
        while done < rows:
            batch = [m for m in consumer.consume(BATCH, timeout=1.0) if m.error() is None]
            if not batch:
                continue
            if first is None:
                first = time.monotonic()
            for key, value in transform(batch):
                producer.produce(sink, value, key=key)
            producer.poll(0)
            done += len(batch)
        producer.flush(60)
    finally:
        consumer.close()
    assert first is not None  # noqa: S101 - at least one batch was read
    return rows / (time.monotonic() - first)


def json_relay(bootstrap: str, source: str, sink: str, rows: int) -> float:
    """Consume, ``json.loads``, ``json.dumps``, produce: rows per second."""

    def transform(batch):
        return [(m.key(), json.dumps(json.loads(m.value())).encode()) for m in batch]

    return _relay(bootstrap, source, sink, rows, transform)


def scoring_relay(bootstrap: str, source: str, sink: str, rows: int, model: Any,
                  columns: list[str], threshold: float) -> float:  # fmt: skip
    """The JSON relay plus each batch's features through ``predict_proba``: rows per second."""

    def transform(batch):
        documents = [json.loads(m.value()) for m in batch]
        frame = pd.DataFrame([d["features"] for d in documents], columns=columns)
        for document, probability in zip(documents, model.predict_proba(frame)[:, 1],
                                          strict=True):  # fmt: skip
            document["probability"] = float(probability)
            document["prediction"] = int(probability >= threshold)
        return [(m.key(), json.dumps(d).encode()) for m, d in zip(batch, documents, strict=True)]

    return _relay(bootstrap, source, sink, rows, transform)
