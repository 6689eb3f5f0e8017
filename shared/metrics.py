"""Operational metrics every service's loop exports (one object, registry injected)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class LoopMetrics:
    """Messages in and out, quarantines by reason, batch processing time.

    Labels are bounded: service, topic (base name), reason.
    """

    def __init__(self, registry: CollectorRegistry, service: str):
        self.service = service
        self.consumed = Counter(
            "trustwatch_messages_consumed", "Messages read.", ["service", "topic"],
            registry=registry,
        )  # fmt: skip
        self.published = Counter(
            "trustwatch_messages_published", "Messages acknowledged by the broker.",
            ["service", "topic"], registry=registry,
        )  # fmt: skip
        self.quarantined = Counter(
            "trustwatch_quarantined_rows", "Rows sent to quarantine, by reason code.",
            ["service", "reason"], registry=registry,
        )  # fmt: skip
        self.lag = Gauge(
            "trustwatch_consumer_lag_messages",
            "Messages on the assigned partitions not yet read, from the high watermarks of the "
            "consumer's own fetches (admin end-offset queries are wrong on the embedded broker).",
            ["service", "topic"], registry=registry,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            "trustwatch_batch_processing_seconds",
            "Time to handle a batch and deliver its outputs.",
            ["service"], registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )  # fmt: skip
