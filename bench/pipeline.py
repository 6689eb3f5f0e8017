"""Pipeline benchmark: throughput, latency, memory.

    python -m bench.pipeline [--rows 200000] [--memory-rows 1000000] [--no-kafka]

Every phase runs on the embedded broker; throughput and latency run again on Apache Kafka
(``shared.apache_kafka``, fetched with mvn) in the same run unless ``--no-kafka``.

Throughput is a ratio against baselines with no trustwatch code (``bench/bare.py``), measured in
the same run on the same rows and broker: our one-hop relay through the consumer loop against a
bare confluent-kafka JSON relay, and the scorer alone (in-process) and the whole pipeline against
a bare scoring relay (the JSON relay plus ``predict_proba`` on micro-batches of 500). End to end is
every service as its own process, from the first scored row to the decision of the last window
(closed by the next day's first rows, as in a continuous stream). Latency is window close (the
monitor's ``closed_at``) to the alert or decision on its topic, on a stream paced like the demo.
Memory is each service's RSS sampled while it works through ``--memory-rows`` rows. Detection
quality over many seeds is ``bench.detection``. Results: bench/results/pipeline.json and
pipeline.png.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bench import bare
from model.artifact import load_metadata, load_model, resolve_version_dir
from model.features import FEATURES
from producer.app import produce
from producer.scenario import get_scenario
from producer.stream import StreamPlan
from scorer.app import build as build_scorer
from shared.broker import EmbeddedBroker
from shared.capabilities import adapt_to_broker
from shared.handler import Handler, Inbound, Outbound
from shared.kafka import ensure_topics
from shared.loop import ConsumerLoop
from shared.schemas import Alert, AlertStatus, Decision, Message, RawRow, WindowSignal
from shared.settings import Settings
from shared.tail import TailedMessage, read_back
from shared.topics import (
    ALERTS,
    ALL_TOPICS,
    DECISIONS,
    DRIFT_SIGNALS,
    FAIRNESS_SIGNALS,
    PERFORMANCE_SIGNALS,
    RAW_ROWS,
    SCORED_ROWS,
    Topic,
)
from trustwatch.demo import SERVICES, DemoOptions, ServiceGroup

console = Console()
# the relays' outputs exist only here: ours, and the bare baselines'
RELAY_ROWS: Topic[RawRow] = Topic("bench.relay", 3, RawRow)
BARE_ROWS: Topic[RawRow] = Topic("bench.bare", 3, RawRow)
SIGNALS = (PERFORMANCE_SIGNALS, DRIFT_SIGNALS, FAIRNESS_SIGNALS)


class JsonRelay(Handler):
    """Decode each row and publish it again: the least any one-hop service does."""

    def handle(self, batch: Sequence[Inbound]) -> list[Outbound]:
        return [Outbound(RELAY_ROWS, item.value, key=(item.key or b"").decode()) for item in batch]


def _settings(base: Settings, namespace: str) -> Settings:
    return base.model_copy(update={"namespace": namespace})


def _plan(rows: int, rows_per_day: int, scenario: str = "full", seed: int = 7) -> StreamPlan:
    days = max(1, rows // rows_per_day)
    return StreamPlan(get_scenario(scenario), days, rows_per_day, seed,
                      Settings().simulation_start)  # fmt: skip


def _timed_loop(loop: ConsumerLoop, rows: int) -> float:
    """Rows per second from the first batch handled to the last output acknowledged (the group
    join excluded; batches do not wait for their acknowledgements, the end of the run does)."""
    marks: list[float] = []
    loop.on_batch = lambda _stats: marks.append(time.monotonic())
    stats = loop.run(max_messages=rows, idle_timeout=15)
    if stats.consumed < rows or not marks or stats.settled is None:
        raise RuntimeError(f"only {stats.consumed} of {rows} rows went through")
    return rows / (stats.settled - marks[0])


def throughput(base: Settings, rows: int, artifacts: Path, rounds: int = 3) -> dict:
    """Each hop of ours against a plain confluent-kafka relay doing the same work, on the same
    rows and broker in the same run."""
    settings = _settings(base, "bench-throughput")
    ensure_topics(settings, [*ALL_TOPICS, RELAY_ROWS, BARE_ROWS])
    # clean rows: the bare relays have no answer to a broken one
    plan = _plan(rows, 5000, "baseline")
    with console.status(f"producing {plan.total_rows} rows"):
        produced = produce(settings, plan, None)
    total = produced.produced
    bootstrap = settings.bootstrap_servers or ""
    source, bare_sink = settings.topic_name(RAW_ROWS), settings.topic_name(BARE_ROWS)
    version_dir = resolve_version_dir(artifacts)
    metadata = load_metadata(version_dir)
    model = load_model(version_dir, metadata)
    samples: dict[str, list[float]] = {"bare_json": [], "relay": [], "bare_scoring": [],
                                       "scorer": []}  # fmt: skip
    # rounds interleaved, medians reported: two cores shared with the broker make any one
    # run swing by a fifth
    for round_ in range(rounds):
        with console.status(f"round {round_ + 1} of {rounds}: bare JSON relay"):
            samples["bare_json"].append(bare.json_relay(bootstrap, source, bare_sink, total))
        with console.status(f"round {round_ + 1} of {rounds}: trustwatch relay (consumer loop)"):
            relay = ConsumerLoop(settings, f"bench-relay-{round_}", [RAW_ROWS], JsonRelay())
            samples["relay"].append(_timed_loop(relay, total))
        with console.status(f"round {round_ + 1} of {rounds}: bare scoring relay"):
            samples["bare_scoring"].append(bare.scoring_relay(
                bootstrap, source, bare_sink, total, model, list(FEATURES), metadata.threshold
            ))  # fmt: skip
        with console.status(f"round {round_ + 1} of {rounds}: trustwatch scorer alone"):
            scorer = build_scorer(settings)
            scorer.group_id = f"bench-scorer-{round_}"
            samples["scorer"].append(_timed_loop(scorer, total))
    bare_json, relay_rate, bare_scoring, scoring = (
        statistics.median(samples[k]) for k in ("bare_json", "relay", "bare_scoring", "scorer")
    )
    # end to end on the same rows in a namespace of its own: the scorer above already committed
    # its group's offsets and wrote scored rows
    whole = _settings(base, "bench-end-to-end")
    ensure_topics(whole)
    with console.status(f"producing {plan.total_rows} rows again"):
        produce(whole, plan, None)
    with console.status("end to end: every service as its own process"):
        end_to_end = _end_to_end(whole, plan, total)
    return {
        "rows": total,
        "producer_rows_per_s": total / produced.seconds,
        "rounds": rounds,
        "samples_rows_per_s": samples,
        "bare_json_relay_rows_per_s": bare_json,
        "relay_rows_per_s": relay_rate,
        "bare_scoring_relay_rows_per_s": bare_scoring,
        "scorer_rows_per_s": scoring,
        **end_to_end,
        "relay_over_bare_json_relay": relay_rate / bare_json,
        "scorer_over_bare_scoring_relay": scoring / bare_scoring,
        "end_to_end_over_bare_scoring_relay": end_to_end["end_to_end_rows_per_s"] / bare_scoring,
    }


def _service_env(settings: Settings, plan: StreamPlan, logs: Path) -> dict[str, str]:
    return os.environ | {
        "TRUSTWATCH_BOOTSTRAP_SERVERS": settings.bootstrap_servers or "",
        "TRUSTWATCH_NAMESPACE": settings.namespace,
        "TRUSTWATCH_ARTIFACTS_DIR": str(Path(settings.artifacts_dir).resolve()),
        "TRUSTWATCH_SIMULATION_START": plan.origin.isoformat(),
        "TRUSTWATCH_WINDOW_SECONDS": str(int(plan.day_length.total_seconds())),
        "TRUSTWATCH_HISTORY_PATH": str(logs / "history.sqlite"),
        "TRUSTWATCH_SESSION_TIMEOUT_MS": "2000",
        "TRUSTWATCH_HEARTBEAT_INTERVAL_MS": "500",
        "TRUSTWATCH_IDLE_FLUSH_SECONDS": str(DemoOptions.idle_flush_seconds),  # a finite stream
    }


def _wait_for_decisions(settings: Settings, windows: int, timeout: float, services=None,
                        before: datetime | None = None):  # fmt: skip
    """Until ``windows`` windows (starting before ``before``) are decided."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        decided = {m.value.window_start for m in read_back(settings, [DECISIONS], quiet=0.5)
                   if isinstance(m.value, Decision)
                   and (before is None or m.value.window_start < before)}  # fmt: skip
        if len(decided) >= windows:
            return
        if services is not None and services.dead():
            raise RuntimeError(f"services died: {services.dead()}")
        time.sleep(2)
    raise TimeoutError(f"fewer than {windows} windows decided in {timeout}s")


def _wait_until_assigned(logs: Path, names: Sequence[str], services: ServiceGroup,
                         timeout: float = 120) -> None:  # fmt: skip
    """Until each named service has joined its consumer group (its log says what it was
    assigned)."""
    deadline = time.monotonic() + timeout
    waiting = list(names)
    while waiting and time.monotonic() < deadline:
        if services.dead():
            raise RuntimeError(f"services died: {services.dead()}")
        waiting = [n for n in waiting if "assigned " not in (logs / f"{n}.log").read_text()]
        time.sleep(0.5)
    if waiting:
        raise TimeoutError(f"{', '.join(waiting)} did not join in {timeout}s")


def _end_to_end(settings: Settings, plan: StreamPlan, rows: int) -> dict:
    """The rows wait on rows.raw; the services downstream of the scorer start first and join
    their groups, then the scorer: the span timed is the pipeline at work, not the services'
    start-up (as the bare relays' is their first batch on), which on two cores would otherwise
    overlap the first seconds of scoring.

    The span ends with the decision of the plan's last window. A continuous stream closes that
    window when the next day's rows pass its end; a finite one only once its input has been quiet
    for ``TRUSTWATCH_IDLE_FLUSH_SECONDS``, a wait that is a setting, not work. So the first rows of
    the next day follow the plan's, as they would in production, and what is timed is the rows of
    the plan only."""
    following = _following_rows(settings, plan)
    logs = Path(tempfile.mkdtemp(prefix="trustwatch-bench-e2e-"))
    services = ServiceGroup(_service_env(settings, plan, logs), logs, {})
    downstream = [name for name in SERVICES if name != "scorer"]
    services.start(downstream)
    try:
        _wait_until_assigned(logs, downstream, services)
        services.start(["scorer"])
        _wait_for_decisions(settings, plan.days, timeout=1800, services=services,
                            before=following)  # fmt: skip
    finally:
        services.stop()

    def planned(messages: list[TailedMessage]) -> list[TailedMessage]:
        return [m for m in messages if _time_of(m.value) < following]

    scored = planned(read_back(settings, [SCORED_ROWS], quiet=1.0))
    decisions = planned(read_back(settings, [DECISIONS], quiet=1.0))
    first = min(m.timestamp_ms for m in scored) / 1000
    last = max(m.timestamp_ms for m in decisions) / 1000
    stages = {"scorer": _span(scored)}
    for topic in SIGNALS:
        stages[topic.name] = _span(planned(read_back(settings, [topic], quiet=1.0)))
    return {
        "end_to_end_rows_per_s": rows / (last - first),
        "end_to_end_seconds": last - first,
        "stage_rows_per_s": {
            name: rows / seconds if seconds > 0 else None for name, seconds in stages.items()
        },
    }


# rows of the next day published after the plan's: enough for every partition of rows.scored
# to see one (they are keyed by customer; the plan's seed makes it the same rows every run)
FOLLOWING_ROWS = 60


def _following_rows(settings: Settings, plan: StreamPlan) -> datetime:
    """Publish the first rows of the day after ``plan`` (a stream of their own seed: event ids
    unlike the plan's) and return that day's start."""
    start = plan.origin + plan.days * plan.day_length
    following = StreamPlan(plan.scenario, 1, plan.rows_per_day, plan.seed + 1_000, start,
                           plan.day_length)  # fmt: skip
    asked = itertools.count()  # asked once before each row
    produce(settings, following, None, should_stop=lambda: next(asked) >= FOLLOWING_ROWS)
    return start


def _span(messages: list[TailedMessage]) -> float:
    stamps = [m.timestamp_ms for m in messages]
    return (max(stamps) - min(stamps)) / 1000 if stamps else 0.0


def _time_of(value: object) -> datetime:
    """The event time of a row, or the start of a signal's or decision's window."""
    start = getattr(value, "window_start", None)
    if isinstance(start, datetime):
        return start
    if isinstance(value, Message):
        return value.event_time
    raise TypeError(f"{type(value).__name__} has no event time")


def latency(base: Settings, rate: float, runs: int) -> dict:
    """Window close to alert and to decision, on the `full` scenario streamed at ``rate``, pooled
    over ``runs`` runs of different seeds (one run has only a dozen alerts: its p99 is its
    maximum)."""
    to_alert: list[float] = []
    to_decision: list[float] = []
    for run in range(runs):
        alerts, decisions = _latency_run(base, rate, run)
        to_alert += alerts
        to_decision += decisions
    return {
        "rate_rows_per_s": rate,
        "runs": runs,
        "alerts": len(to_alert),
        "close_to_alert_p50_s": _quantile(to_alert, 0.5),
        "close_to_alert_p99_s": _quantile(to_alert, 0.99),
        "close_to_alert_max_s": max(to_alert, default=None),
        "close_to_decision_p50_s": _quantile(to_decision, 0.5),
        "close_to_decision_p99_s": _quantile(to_decision, 0.99),
    }


def _latency_run(base: Settings, rate: float, run: int) -> tuple[list[float], list[float]]:
    settings = _settings(base, f"bench-latency-{run}")
    ensure_topics(settings)
    plan = _plan(15_000, 500, seed=7 + run)
    logs = Path(tempfile.mkdtemp(prefix="trustwatch-bench-latency-"))
    services = ServiceGroup(_service_env(settings, plan, logs), logs, {})
    services.start()
    try:
        time.sleep(5)  # the groups form before the first row, as in a running deployment
        with console.status(f"streaming the full scenario at {rate:g} rows/s"):
            produce(settings, plan, rate)
        _wait_for_decisions(settings, plan.days, timeout=300, services=services)
    finally:
        services.stop()
    closed: dict[tuple[str, object], float] = {}
    for message in read_back(settings, list(SIGNALS), quiet=1.0):
        signal = message.value
        if isinstance(signal, WindowSignal) and signal.closed_at is not None:
            source = message.topic.name.removeprefix("signals.")
            if getattr(signal, "provisional", False):
                source = "estimate"
            closed[(source, signal.window_start)] = signal.closed_at.timestamp()
    to_alert, to_decision = [], []
    for message in read_back(settings, [ALERTS, DECISIONS], quiet=1.0):
        value = message.value
        published = message.timestamp_ms / 1000
        if isinstance(value, Alert) and value.status != AlertStatus.RESOLVED:
            key = (str(value.evidence.get("source", "")), value.window_start)
            if key in closed:
                to_alert.append(published - closed[key])
        elif isinstance(value, Decision):
            sources = [closed[(s, value.window_start)] for s in ("performance", "drift", "fairness")
                       if (s, value.window_start) in closed]  # fmt: skip
            if sources:
                to_decision.append(published - max(sources))
    return to_alert, to_decision


def _quantile(values: list[float], q: float) -> float | None:
    return float(np.quantile(values, q)) if values else None


def memory(base: Settings, rows: int) -> dict:
    """Each service's RSS while it works through ``rows`` rows, sampled every second."""
    settings = _settings(base, "bench-memory")
    ensure_topics(settings)
    plan = _plan(rows, 5000)
    logs = Path(tempfile.mkdtemp(prefix="trustwatch-bench-memory-"))
    services = ServiceGroup(_service_env(settings, plan, logs), logs, {})
    services.start()
    try:
        with (
            RssSampler(services) as sampler,
            console.status(f"streaming {plan.total_rows} rows through every service"),
        ):
            produce(settings, plan, None)
            _wait_for_decisions(settings, plan.days, timeout=3600, services=services)
    finally:
        services.stop()
    samples = sampler.samples
    services_memory: dict[str, dict] = {}
    result = {"rows": plan.total_rows, "services": services_memory}
    for name, series in samples.items():
        values = [rss for _, rss in series]
        warm = values[max(1, len(values) // 10)] if len(values) > 2 else values[-1]
        services_memory[name] = {
            "after_warm_up_mib": warm,
            "peak_mib": max(values),
            "end_mib": values[-1],
            "growth_after_warm_up": max(values) / warm - 1,
            "series": series[:: max(1, len(series) // 200)],
        }
    return result


class RssSampler:
    """Each service's RSS (MiB) every second while in its ``with`` block: (seconds, MiB) pairs
    per service name."""

    def __init__(self, services: ServiceGroup, every: float = 1.0):
        self.services = services
        self.every = every
        self.samples: dict[str, list[tuple[float, float]]] = {name: [] for name in SERVICES}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            for name, process in self.services.processes.items():
                rss = _rss_mib(process.pid)
                if rss is not None:
                    self.samples[name].append((time.monotonic() - started, rss))
            self._stop.wait(self.every)


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    if "throughput" in results:
        speed = results["throughput"]
        labels = ["bare JSON\nrelay", "our relay", "bare scoring\nrelay", "our scorer",
                  "end to end"]  # fmt: skip
        values = [speed["bare_json_relay_rows_per_s"], speed["relay_rows_per_s"],
                  speed["bare_scoring_relay_rows_per_s"], speed["scorer_rows_per_s"],
                  speed["end_to_end_rows_per_s"]]  # fmt: skip
        left.bar(labels, values, color=["#8c8c8c", "#4c72b0", "#8c8c8c", "#4c72b0", "#55a868"])
        left.axhline(
            0.5 * speed["bare_scoring_relay_rows_per_s"],
            color="crimson",
            linestyle="--",
            label="goal end to end: half the bare scoring relay",
        )
        left.set_ylabel("rows per second")
        left.set_title(f"Throughput on the embedded broker ({speed['rows']:,} rows)")
        left.legend(fontsize=8)
    else:
        left.set_axis_off()
    if "memory" in results:
        for name, service in results["memory"]["services"].items():
            series = np.array(service["series"])
            if len(series):
                right.plot(series[:, 0], series[:, 1], label=name)
        right.set_xlabel("seconds")
        right.set_ylabel("RSS (MiB)")
        right.set_title(f"Memory per service over {results['memory']['rows']:,} rows")
        right.legend(fontsize=8)
    else:
        right.set_axis_off()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def report(results: dict) -> None:
    """Tables of whatever phases the results hold (a run may skip some)."""
    if "throughput" in results:
        _report_throughput(results["throughput"], "embedded broker")
    if "throughput" in results.get("kafka", {}):
        _report_throughput(results["kafka"]["throughput"], "Apache Kafka")
    if "latency" in results.get("kafka", {}):
        console.print("on Apache Kafka:", _latency_line(results["kafka"]["latency"]))
    _report_rest(results)


def _report_throughput(speed: dict, broker: str) -> None:
    table = Table(title=f"throughput on the {broker}, {speed['rows']:,} rows, same broker, same "
                        f"run (median of {speed.get('rounds', 1)} interleaved rounds)")  # fmt: skip
    for column in ("hop", "rows/s", "baseline", "rows/s", "ratio", "goal"):
        table.add_column(column, justify="right")
    table.add_row("producer (flat out)", f"{speed['producer_rows_per_s']:,.0f}", "", "", "", "")
    for ours, label, base, base_label, ratio, goal in (
        ("relay_rows_per_s", "relay (consumer loop)", "bare_json_relay_rows_per_s",
         "bare JSON relay", "relay_over_bare_json_relay", ">= 0.7"),
        ("scorer_rows_per_s", "scorer alone", "bare_scoring_relay_rows_per_s",
         "bare scoring relay", "scorer_over_bare_scoring_relay", ">= 0.7"),
        ("end_to_end_rows_per_s", "end to end (every service)", "bare_scoring_relay_rows_per_s",
         "bare scoring relay", "end_to_end_over_bare_scoring_relay", ">= 0.5"),
    ):  # fmt: skip
        table.add_row(label, f"{speed[ours]:,.0f}", base_label, f"{speed[base]:,.0f}",
                      f"{speed[ratio]:.2f}", goal)  # fmt: skip
    for name, value in speed["stage_rows_per_s"].items():
        table.add_row(f"  stage {name}", "-" if value is None else f"{value:,.0f}", "", "", "", "")
    console.print(table)


def _latency_line(lat: dict) -> str:
    return (
        f"latency at {lat['rate_rows_per_s']:g} rows/s ({lat['alerts']} alerts from "
        f"{lat.get('runs', 1)} runs): window close -> alert p50 "
        f"{lat['close_to_alert_p50_s']:.2f} s, p99 {lat['close_to_alert_p99_s']:.2f} s "
        f"(goal p99 <= 1 s), max {lat.get('close_to_alert_max_s') or 0:.2f} s; -> decision "
        f"p50 {lat['close_to_decision_p50_s']:.2f} s, "
        f"p99 {lat['close_to_decision_p99_s']:.2f} s"
    )


def _report_rest(results: dict) -> None:
    if "latency" in results:
        console.print("on the embedded broker:", _latency_line(results["latency"]))
    if "memory" in results:
        mem = Table(title=f"memory over {results['memory']['rows']:,} rows")
        for column in ("service", "after warm-up MiB", "peak MiB", "growth"):
            mem.add_column(column, justify="right")
        for name, service in results["memory"]["services"].items():
            growth = f"{100 * service['growth_after_warm_up']:.1f} % (goal <= 10 %)"
            mem.add_row(name, f"{service['after_warm_up_mib']:.0f}",
                        f"{service['peak_mib']:.0f}", growth)  # fmt: skip
        console.print(mem)


@contextlib.contextmanager
def _phase(what: str):
    """Say what runs now and how long it took: the whole benchmark takes a while."""
    console.print(f"[bold]{what}[/bold] ...")
    started = time.monotonic()
    yield
    console.print(f"{what}: done in {time.monotonic() - started:.0f} s")


def _speed(base: Settings, args: argparse.Namespace, artifacts: Path, where: str) -> dict:
    """The throughput and latency phases the arguments ask for, on the broker of ``base``."""
    results = {}
    if args.rows:
        with _phase(f"throughput over {args.rows:,} rows{where}"):
            results["throughput"] = throughput(base, args.rows, artifacts)
    if args.latency_rate:
        with _phase(f"latency at {args.latency_rate:g} rows/s{where}"):
            results["latency"] = latency(base, args.latency_rate, args.latency_runs)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="0 skips it")
    parser.add_argument("--memory-rows", type=int, default=1_000_000, help="0 skips it")
    parser.add_argument("--latency-rate", type=float, default=1000.0, help="0 skips it")
    parser.add_argument("--latency-runs", type=int, default=3, help="seeds pooled")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument("--no-kafka", action="store_true",
                        help="skip the throughput and latency phases on Apache Kafka")  # fmt: skip
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    artifacts = Path(tempfile.mkdtemp(prefix="trustwatch-bench-"))
    subprocess.run([sys.executable, "-m", "trustwatch", "train"], check=True, capture_output=True,
                   env=os.environ | {"TRUSTWATCH_ARTIFACTS_DIR": str(artifacts)})  # fmt: skip
    # phases skipped in this run keep their last results
    saved = args.out / "pipeline.json"
    results: dict = json.loads(saved.read_text()) if saved.exists() else {}
    with EmbeddedBroker() as broker:
        base = Settings(bootstrap_servers=broker.bootstrap_servers, artifacts_dir=artifacts,
                        session_timeout_ms=2000, heartbeat_interval_ms=500)  # fmt: skip
        results |= _speed(base, args, artifacts, "")
    if not args.no_kafka and (args.rows or args.latency_rate):
        from shared.apache_kafka import ApacheKafka

        # the same phases on the broker users run, in the same run
        on_kafka: dict = results.get("kafka", {})
        kafka = ApacheKafka().start(timeout=120)  # the first start fetches the jars
        try:
            base = Settings(bootstrap_servers=kafka.bootstrap_servers, artifacts_dir=artifacts,
                            session_timeout_ms=2000, heartbeat_interval_ms=500)  # fmt: skip
            on_kafka |= _speed(adapt_to_broker(base), args, artifacts, " on Apache Kafka")
        finally:
            kafka.stop()
        results["kafka"] = on_kafka
    if args.memory_rows:
        # a broker of its own: a million rows on each topic, in memory
        with EmbeddedBroker() as broker, _phase(f"memory over {args.memory_rows:,} rows"):
            base = Settings(bootstrap_servers=broker.bootstrap_servers, artifacts_dir=artifacts,
                            session_timeout_ms=2000, heartbeat_interval_ms=500)  # fmt: skip
            results["memory"] = memory(base, args.memory_rows)
    (args.out / "pipeline.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    report(results)
    plot(results, args.out / "pipeline.png")
    console.print(f"results written to {args.out / 'pipeline.json'} and pipeline.png")


if __name__ == "__main__":
    main()
