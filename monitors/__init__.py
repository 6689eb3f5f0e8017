"""Windowed monitors on scored rows: performance, drift and fairness.

Window statistics are pure objects (``update``, ``merge``, ``result``) tested without a broker;
``monitors.app`` feeds them from Kafka through the shared consumer loop. For notebooks, the same
code is available on DataFrames: ``from monitors import DriftMonitor, PerformanceMonitor,
FairnessMonitor``.
"""

from monitors.offline import (
    DriftMonitor,
    DriftResult,
    FairnessMonitor,
    FairnessResult,
    FeatureResult,
    PerformanceMonitor,
)

__all__ = [
    "DriftMonitor",
    "DriftResult",
    "FairnessMonitor",
    "FairnessResult",
    "FeatureResult",
    "PerformanceMonitor",
]
