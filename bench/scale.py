"""Scale benchmark: the same pipeline at 10,000 and at 1,000,000 rows a window.

    python -m bench.scale [--small 10000] [--large 1000000] [--windows 2]

Each size runs every service as its own process on a fresh embedded broker, on a stream with a
few schema faults (so quarantine counts are not all zero), and samples each service's RSS every
second. Memory is flat when each monitor's peak at the large size is within 10 % of its peak at
the small one. Every window's signals are then checked against an offline computation on the
rows read back from the broker: row, quarantine, confusion and group counts exactly, ROC-AUC
within the ``roc_auc_error`` the signal states (scikit-learn on the same rows).
Results: bench/results/scale.json and scale.png.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.metrics import roc_auc_score

from bench.pipeline import RssSampler, _service_env, _wait_for_decisions
from model.features import SENSITIVE_ATTRIBUTES
from producer.app import produce
from producer.scenario import SchemaFaults, get_scenario
from producer.stream import StreamPlan
from shared.broker import EmbeddedBroker
from shared.kafka import ensure_topics
from shared.schemas import (
    DriftSignal,
    FairnessSignal,
    LabelState,
    PerformanceSignal,
    QuarantinedRow,
    ScoredRow,
)
from shared.settings import Settings
from shared.tail import tail
from shared.topics import (
    DRIFT_SIGNALS,
    FAIRNESS_SIGNALS,
    PERFORMANCE_SIGNALS,
    QUARANTINE,
    SCORED_ROWS,
)
from trustwatch.demo import SERVICES, ServiceGroup

console = Console()
MONITORS = ("monitor-performance", "monitor-drift", "monitor-fairness")
# a broken row in every thousand, from the first day
FAULT_SHARE = 0.001


def _plan(rows_per_day: int, windows: int, origin: datetime) -> StreamPlan:
    faults = SchemaFaults(start_day=0, intensity=FAULT_SHARE)
    scenario = get_scenario("baseline").model_copy(update={"name": "scale", "steps": (faults,)})
    return StreamPlan(scenario, windows, rows_per_day, 11, origin)


def run_size(artifacts: Path, rows_per_day: int, windows: int) -> dict:
    """One size: the services over the stream, their memory, and every window checked."""
    with EmbeddedBroker() as broker:
        settings = Settings(bootstrap_servers=broker.bootstrap_servers, artifacts_dir=artifacts,
                            namespace=f"scale-{rows_per_day}", session_timeout_ms=2000,
                            heartbeat_interval_ms=500)  # fmt: skip
        ensure_topics(settings)
        plan = _plan(rows_per_day, windows, settings.simulation_start)
        logs = Path(tempfile.mkdtemp(prefix=f"trustwatch-bench-scale-{rows_per_day}-"))
        services = ServiceGroup(_service_env(settings, plan, logs), logs, {})
        services.start()
        started = time.monotonic()
        try:
            with (
                RssSampler(services) as sampler,
                console.status(f"{plan.total_rows:,} rows, {rows_per_day:,} a window"),
            ):
                produced = produce(settings, plan, None)
                _wait_for_decisions(settings, windows, timeout=7200, services=services)
        finally:
            services.stop()
        samples = sampler.samples
        seconds = time.monotonic() - started
        with console.status("checking every window against the rows on the broker"):
            checks = check_windows(settings, plan, produced.produced)
    return {
        "rows_per_window": rows_per_day,
        "windows": windows,
        "rows": produced.produced,
        "seconds": seconds,
        "rows_per_s": produced.produced / seconds,
        "peak_rss_mib": {name: max(r for _, r in series) for name, series in samples.items()},
        "series": {name: series[:: max(1, len(series) // 300)] for name, series in samples.items()},
        "checks": checks,
        "logs": str(logs),
    }


def check_windows(settings: Settings, plan: StreamPlan, produced: int) -> dict:
    """Every window's signals against the same rows read back from the broker."""
    attributes = SENSITIVE_ATTRIBUTES
    window = plan.day_length
    by_window: dict[int, dict] = defaultdict(
        lambda: {"labels": [], "predictions": [], "scores": [], "groups": [], "quarantined": 0}
    )
    signals: dict[tuple[str, int], Any] = {}  # (signal type, window): its signal
    rows_seen = 0
    stop = threading.Event()
    expected_signals = 3 * plan.days  # drift, fairness and matured performance per window
    for message in tail(settings, [SCORED_ROWS, QUARANTINE, PERFORMANCE_SIGNALS, DRIFT_SIGNALS,
                                   FAIRNESS_SIGNALS], stop):  # fmt: skip
        value = message.value
        if isinstance(value, ScoredRow) and value.label_state == LabelState.INLINE:
            index = (value.event_time - plan.origin) // window
            cell = by_window[index]
            cell["labels"].append(value.label)
            cell["predictions"].append(value.prediction)
            cell["scores"].append(value.probability)
            cell["groups"].append(tuple(str(getattr(value.features, a)) for a in attributes))
            rows_seen += 1
        elif isinstance(value, QuarantinedRow):
            by_window[(value.event_time - plan.origin) // window]["quarantined"] += 1
            rows_seen += 1
        elif isinstance(value, DriftSignal | FairnessSignal | PerformanceSignal):
            index = (value.window_start - plan.origin) // window
            kind = type(value).__name__
            if not getattr(value, "provisional", False):
                signals[(kind, index)] = value
        if rows_seen >= produced and len(signals) >= expected_signals:
            stop.set()
    failures: list[str] = []
    auc_errors: list[float] = []
    for index in range(plan.days):
        cell = by_window[index]
        labels = np.array(cell["labels"])
        predictions = np.array(cell["predictions"])
        drift = signals.get(("DriftSignal", index))
        performance = signals.get(("PerformanceSignal", index))
        fairness = signals.get(("FairnessSignal", index))
        if drift is None or performance is None or fairness is None:
            failures.append(f"window {index}: a signal is missing")
            continue
        tp = int(((labels == 1) & (predictions == 1)).sum())
        expect = {
            "drift rows": (drift.rows, len(labels)),
            "quarantined rows": (drift.quarantined_rows, cell["quarantined"]),
            "labelled": (performance.labelled, len(labels)),
            "recall": (performance.recall, tp / int(labels.sum())),
            "precision": (performance.precision, tp / int(predictions.sum())),
            "fairness rows": (fairness.rows, len(labels)),
            "late rows": (drift.late_rows + performance.late_rows + fairness.late_rows, 0),
        }
        for what, (got, want) in expect.items():
            if got != want:
                failures.append(f"window {index}: {what} {got} != {want}")
        groups = np.array(cell["groups"], dtype=object)
        for group in fairness.groups:
            column = attributes.index(group.attribute)
            members = groups[:, column] == group.group
            want = (int((labels[members] == 1).sum()), int((labels[members] == 0).sum()),
                    int(((labels == 1) & (predictions == 1) & members).sum()))  # fmt: skip
            got = (group.positives, group.negatives, group.true_positives)
            if got != want:
                failures.append(f"window {index}: group {group.group} {got} != {want}")
        exact_auc = roc_auc_score(labels, np.array(cell["scores"]))
        error = abs(performance.roc_auc - exact_auc)
        auc_errors.append(error)
        if error > (performance.roc_auc_error or 0.0) or (performance.roc_auc_error or 0) > 0.001:
            failures.append(f"window {index}: ROC-AUC off by {error:.2e}, "
                            f"stated {performance.roc_auc_error}")  # fmt: skip
    return {
        "windows_checked": plan.days,
        "failures": failures,
        "max_roc_auc_error": max(auc_errors, default=None),
        "stated_roc_auc_error": [
            signals[("PerformanceSignal", i)].roc_auc_error
            for i in range(plan.days)
            if ("PerformanceSignal", i) in signals
        ],
    }


def report(results: dict) -> None:
    small, large = results["small"], results["large"]
    table = Table(title=f"peak RSS (MiB): {small['rows_per_window']:,} against "
                        f"{large['rows_per_window']:,} rows a window")  # fmt: skip
    for column in ("service", "small", "large", "large / small"):
        table.add_column(column, justify="right")
    for name in SERVICES:
        a, b = small["peak_rss_mib"][name], large["peak_rss_mib"][name]
        goal = " (goal <= 1.10)" if name in MONITORS else ""
        table.add_row(name, f"{a:.0f}", f"{b:.0f}", f"{b / a:.2f}{goal}")
    console.print(table)
    for run in (small, large):
        checks = run["checks"]
        console.print(
            f"{run['rows_per_window']:,} rows a window: {run['rows']:,} rows in "
            f"{run['seconds']:.0f} s ({run['rows_per_s']:,.0f} rows/s); {checks['windows_checked']}"
            f" windows checked, {len(checks['failures'])} failures; ROC-AUC off by at most "
            f"{checks['max_roc_auc_error'] or 0:.1e} (stated {checks['stated_roc_auc_error']})"
        )
        for failure in checks["failures"]:
            console.print(f"  [red]{failure}[/]")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.2), sharey=True)
    for axis, key in zip(axes, ("small", "large"), strict=True):
        run = results[key]
        for name, series in run["series"].items():
            points = np.array(series)
            if len(points):
                axis.plot(points[:, 0], points[:, 1], label=name)
        axis.set_title(f"{run['rows_per_window']:,} rows a window ({run['rows']:,} rows)")
        axis.set_xlabel("seconds")
    axes[0].set_ylabel("RSS (MiB)")
    axes[1].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--windows", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    artifacts = Path(tempfile.mkdtemp(prefix="trustwatch-bench-scale-"))
    subprocess.run([sys.executable, "-m", "trustwatch", "train"], check=True, capture_output=True,
                   env=os.environ | {"TRUSTWATCH_ARTIFACTS_DIR": str(artifacts)})  # fmt: skip
    results = {}
    for key, size in (("small", args.small), ("large", args.large)):
        console.print(f"[bold]scale: {size:,} rows a window[/bold] ...")
        results[key] = run_size(artifacts, size, args.windows)
    (args.out / "scale.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    report(results)
    plot(results, args.out / "scale.png")
    console.print(f"results written to {args.out / 'scale.json'} and scale.png")


if __name__ == "__main__":
    main()
