"""The demo: broker, services as separate processes, the scenario streamed, a summary at the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from model.artifact import has_artifact, load_metadata, resolve_version_dir
from producer.app import produce
from producer.stream import StreamPlan
from shared.broker import EmbeddedBroker, free_port
from shared.kafka import ensure_topics
from shared.process import stop_with_parent
from shared.schemas import Alert, AlertStatus, Decision, QuarantinedRow, ScenarioEvent, ScoredRow
from shared.settings import Settings
from shared.tail import tail
from shared.topics import ALERTS, DECISIONS, QUARANTINE, SCENARIO, SCORED_ROWS
from trustwatch.evaluation import InjectedOutcome, score_injections

SERVICES: dict[str, list[str]] = {
    "scorer": ["score"],
    "monitor-performance": ["monitor", "performance"],
    "monitor-drift": ["monitor", "drift"],
    "monitor-fairness": ["monitor", "fairness"],
    "alerter": ["alert"],
}
# run beside them when an Alertmanager is configured (TRUSTWATCH_ALERTMANAGER_URL)
NOTIFIER: dict[str, list[str]] = {"notifier": ["notify"]}
ALL_SERVICES = SERVICES | NOTIFIER


def services_for(settings: Settings) -> dict[str, list[str]]:
    """The services a run of the pipeline starts: the notifier only with an Alertmanager."""
    return ALL_SERVICES if settings.alertmanager_url else SERVICES


# While the services work through the stream, say how far they are this often.
SETTLE_REPORT_SECONDS = 15.0


class RowCounts(BaseModel):
    model_config = ConfigDict(frozen=True)
    produced: int
    scored: int
    quarantined: int


class SummaryAlert(BaseModel):
    model_config = ConfigDict(frozen=True)
    key: str
    members: list[str]
    type: str
    severity: str
    subject: str
    status: str
    window_start: str
    explanation: str


class SummaryDecision(BaseModel):
    model_config = ConfigDict(frozen=True)
    action: str
    window_start: str
    reasons: list[str]


class DemoSummary(BaseModel):
    model_config = ConfigDict(frozen=True)
    scenario: str
    seed: int
    seconds: float
    rows: RowCounts
    alerts: list[SummaryAlert]
    decisions: list[SummaryDecision]
    injected: list[InjectedOutcome]
    faults_injected: dict[str, int]
    metrics: dict[str, str]
    logs_dir: str
    # the model's own recall gap per sensitive attribute at deployment (its held-out set)
    known_gaps: dict[str, float] = {}


@dataclass
class Observed:
    """What the demo has seen on the output topics, deduplicated by event id."""

    scored: set[str] = field(default_factory=set)
    quarantined: set[str] = field(default_factory=set)
    quarantined_unidentified: int = 0
    alerts: list[Alert] = field(default_factory=list)
    decisions: dict[str, Decision] = field(default_factory=dict)
    steps: dict[str, ScenarioEvent] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, value: object) -> None:
        with self.lock:
            if isinstance(value, ScoredRow):
                self.scored.add(value.event_id)
            elif isinstance(value, QuarantinedRow):
                if value.event_id is None:
                    self.quarantined_unidentified += 1
                else:
                    self.quarantined.add(value.event_id)
            elif isinstance(value, Alert):
                self.alerts.append(value)
            elif isinstance(value, Decision):
                self.decisions[value.window_start.isoformat()] = value
            elif isinstance(value, ScenarioEvent):
                self.steps[value.step_id] = value

    @property
    def accounted(self) -> int:
        with self.lock:
            return len(self.scored | self.quarantined) + self.quarantined_unidentified


class ServiceGroup:
    """The services as child processes, each logging to its own file."""

    def __init__(
        self,
        env: dict[str, str],
        logs_dir: Path,
        env_overrides: dict[str, dict[str, str]],
        services: dict[str, list[str]] = SERVICES,
    ):
        self.services = services
        self.env = env
        self.logs_dir = logs_dir
        self.env_overrides = env_overrides
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, names: Iterable[str] | None = None) -> None:
        """Start the services named (all of them by default)."""
        wanted = set(self.services if names is None else names)
        for name, arguments in self.services.items():
            if name not in wanted:
                continue
            with open(self.logs_dir / f"{name}.log", "wb") as log:
                self.processes[name] = subprocess.Popen(
                    [sys.executable, "-m", "trustwatch", *arguments],
                    env=self.env | self.env_overrides.get(name, {}),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=stop_with_parent,
                )

    def dead(self) -> list[str]:
        return [name for name, p in self.processes.items() if p.poll() is not None]

    def stop(self, timeout: float = 20.0) -> dict[str, int | None]:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        codes: dict[str, int | None] = {}
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        return codes


@dataclass(frozen=True)
class DemoOptions:
    plan: StreamPlan
    rate: float | None
    split_seed: int
    # after the last row is produced: give up once nothing new was scored, quarantined or
    # decided for this long (a large stream takes the services a while to work through)
    settle_timeout: float = 90.0
    # keep the services (and their /metrics) up this long after the stream has settled
    hold_seconds: float = 0.0
    # where to write the services' /metrics addresses for Prometheus (file-based discovery)
    prometheus_targets: Path | None = None
    # the demo's stream ends: its last windows close once the input has been quiet this long
    idle_flush_seconds: float = 2.0
    # the built-in dataset whose model is monitored (trained first if the artifact is another's)
    dataset: str = "telco-churn"


def _contract_name(settings: Settings) -> str:
    return load_metadata(resolve_version_dir(settings.artifacts_dir)).contract.name


def run_demo(
    settings: Settings,
    options: DemoOptions,
    train: Callable[[], None],
    on_progress: Callable[[int], None],
    on_alert: Callable[[Alert], None],
    on_decision: Callable[[Decision], None],
    on_status: Callable[[str], None],
) -> DemoSummary:
    started = time.monotonic()
    if not has_artifact(settings.artifacts_dir):
        on_status("no model artifact yet: training one")
        train()
    elif _contract_name(settings) != options.dataset:
        on_status(f"the model artifact is not one of {options.dataset}: training one")
        train()

    broker: EmbeddedBroker | None = None
    if not settings.bootstrap_servers:
        broker = EmbeddedBroker().start()
        settings = settings.model_copy(update={"bootstrap_servers": broker.bootstrap_servers})
        on_status(f"embedded broker on {broker.bootstrap_servers} (pid {broker.pid})")
    logs_dir = Path(tempfile.mkdtemp(prefix="trustwatch-demo-"))
    env = os.environ | {
        "TRUSTWATCH_BOOTSTRAP_SERVERS": settings.bootstrap_servers or "",
        "TRUSTWATCH_NAMESPACE": settings.namespace,
        "TRUSTWATCH_ARTIFACTS_DIR": str(Path(settings.artifacts_dir).resolve()),
        "TRUSTWATCH_METRICS_PORT": "0",
        "TRUSTWATCH_SIMULATION_START": options.plan.origin.isoformat(),
        "TRUSTWATCH_WINDOW_SECONDS": str(int(options.plan.day_length.total_seconds())),
        "TRUSTWATCH_HISTORY_PATH": str(logs_dir / "history.sqlite"),
        "TRUSTWATCH_IDLE_FLUSH_SECONDS": str(options.idle_flush_seconds),
    }
    if settings.policy_path is not None:
        env["TRUSTWATCH_POLICY_PATH"] = str(Path(settings.policy_path).resolve())
    # Every service serves /metrics on a port of its own while the demo runs.
    running = services_for(settings)
    ports = {name: free_port(settings.metrics_host) for name in running}
    metrics = {
        name: f"http://{settings.metrics_host}:{port}/metrics" for name, port in ports.items()
    }
    overrides = {name: {"TRUSTWATCH_METRICS_PORT": str(port)} for name, port in ports.items()}
    # A monitor's last window reaches the alerter an idle wait and a hop (its partial, then its
    # combiner's signal) after the stream ends; the alerter, which judges a window without a
    # monitor once its own input is idle, waits three times as long so that none is left out.
    overrides["alerter"]["TRUSTWATCH_IDLE_FLUSH_SECONDS"] = str(3 * options.idle_flush_seconds)
    services = ServiceGroup(env, logs_dir, overrides, running)
    if options.prometheus_targets is not None:
        write_prometheus_targets(options.prometheus_targets, settings.metrics_host, ports)
    observed = Observed()
    stop_tail = threading.Event()
    since_ms = int(time.time() * 1000) - 1000

    def follow() -> None:
        for message in tail(
            settings, [SCORED_ROWS, QUARANTINE, ALERTS, DECISIONS, SCENARIO], stop_tail, since_ms
        ):
            observed.add(message.value)
            if isinstance(message.value, Alert):
                on_alert(message.value)
            elif isinstance(message.value, Decision):
                on_decision(message.value)

    follower = threading.Thread(target=follow, name="demo-tail", daemon=True)
    try:
        ensure_topics(settings)
        services.start()
        follower.start()
        on_status(f"services started; logs in {logs_dir}; alerter metrics on {metrics['alerter']}")
        result = produce(settings, options.plan, options.rate, options.split_seed, on_progress)
        on_status(
            f"produced {result.produced} rows and {result.labels} late labels in "
            f"{result.seconds:.1f}s; waiting for every row and window"
        )
        windows = options.plan.days
        deadline = time.monotonic() + options.settle_timeout
        progress = (-1, -1)
        reported = time.monotonic()
        while time.monotonic() < deadline:
            if services.dead():
                raise RuntimeError(f"services died: {services.dead()}; see logs in {logs_dir}")
            now = (observed.accounted, len(observed.decisions))
            if now[0] >= result.produced and now[1] >= windows:
                break
            if now != progress:
                progress = now
                deadline = time.monotonic() + options.settle_timeout
            if time.monotonic() - reported >= SETTLE_REPORT_SECONDS:
                reported = time.monotonic()
                on_status(f"{now[0]:,} of {result.produced:,} rows scored or quarantined, "
                          f"{now[1]} of {windows} windows decided")  # fmt: skip
            time.sleep(0.2)
        else:
            on_status("timed out waiting for every row and window; the summary is partial")
        if options.hold_seconds > 0:
            on_status(f"every window decided; services stay up {options.hold_seconds:g}s more")
            deadline = time.monotonic() + options.hold_seconds
            while time.monotonic() < deadline and not services.dead():
                time.sleep(0.2)
    finally:
        services.stop()
        stop_tail.set()
        if follower.is_alive():
            follower.join(timeout=5)
        if broker is not None:
            broker.stop()

    with observed.lock:
        alerts = sorted(observed.alerts, key=lambda a: (a.window_start, a.type.value, a.subject))
        decisions = sorted(observed.decisions.values(), key=lambda d: d.window_start)
        steps = list(observed.steps.values())
        scored = len(observed.scored)
        # a row quarantined and later scored (sent back by a replay) counts as scored
        quarantined = len(observed.quarantined - observed.scored)
        quarantined += observed.quarantined_unidentified
    firing = [a for a in alerts if a.status != AlertStatus.RESOLVED]
    return DemoSummary(
        scenario=options.plan.scenario.name,
        seed=options.plan.seed,
        seconds=round(time.monotonic() - started, 1),
        rows=RowCounts(produced=result.produced, scored=scored, quarantined=quarantined),
        alerts=[
            SummaryAlert(
                key=a.key,
                members=[m.key for m in a.members],
                type=a.type.value,
                severity=a.severity.value,
                subject=a.subject,
                status=a.status.value,
                window_start=a.window_start.isoformat(),
                explanation=a.explanation,
            )
            for a in alerts
        ],
        decisions=[
            SummaryDecision(
                action=d.action.value,
                window_start=d.window_start.isoformat(),
                reasons=list(d.reasons),
            )
            for d in decisions
        ],
        injected=score_injections(steps, firing, options.plan.day_length),
        faults_injected=result.faults,
        metrics=metrics,
        logs_dir=str(logs_dir),
        known_gaps=load_metadata(resolve_version_dir(settings.artifacts_dir)).deployment_gaps(),
    )


def write_prometheus_targets(path: Path, host: str, ports: dict[str, int]) -> None:
    """The services' /metrics as a Prometheus file_sd document, one job per service (the job
    names of the compose deployment, so dashboards and rules read the same either way)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    targets = [
        {"targets": [f"{host}:{port}"], "labels": {"job": name}} for name, port in ports.items()
    ]
    partial = path.with_suffix(path.suffix + ".partial")
    partial.write_text(json.dumps(targets, indent=2) + "\n")
    partial.replace(path)  # Prometheus watches the file: it must never read half of it


def write_summary(summary: DemoSummary, path: Path) -> None:
    path.write_text(json.dumps(summary.model_dump(mode="json"), indent=2) + "\n")
