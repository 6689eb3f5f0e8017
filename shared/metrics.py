"""Operational metrics every service's loop exports (one object, registry injected)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector


class LoopMetrics:
    """Messages in and out, quarantines by reason, batch processing time.

    Labels are bounded: topic (base name), reason. The service is the scrape's ``job``: a label
    of its own would only repeat it.
    """

    def __init__(self, registry: CollectorRegistry):
        self.consumed = Counter(
            "trustwatch_messages_consumed", "Messages read.", ["topic"], registry=registry
        )
        self.published = Counter(
            "trustwatch_messages_published", "Messages acknowledged by the broker.", ["topic"],
            registry=registry,
        )  # fmt: skip
        self.quarantined = Counter(
            "trustwatch_quarantined_rows", "Rows sent to quarantine, by reason code.", ["reason"],
            registry=registry,
        )  # fmt: skip
        self.lag = Gauge(
            "trustwatch_consumer_lag_messages",
            "Messages on the assigned partitions not yet read, from the high watermarks of the "
            "consumer's own fetches (admin end-offset queries are wrong on the embedded broker).",
            ["topic"], registry=registry,
        )  # fmt: skip
        self.batch_seconds = Histogram(
            "trustwatch_batch_processing_seconds",
            "Time to handle a batch and deliver its outputs.",
            registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )  # fmt: skip


class _CountOf(Collector):
    def __init__(self, name: str, documentation: str, count: Callable[[], float]):
        self.name, self.documentation, self.count = name, documentation, count

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self.name, self.documentation, value=self.count())


def count_of(
    registry: CollectorRegistry, name: str, documentation: str, count: Callable[[], float]
) -> None:
    """Export a count that something keeps itself (and only ever grows) as a counter, read at
    each scrape: ``name`` gets its ``_total``."""
    registry.register(_CountOf(name, documentation, count))
