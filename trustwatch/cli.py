"""`trustwatch`: train the model, run each service, watch the topics, run the demo."""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from monitors.app import MonitorKind
from shared.schemas import IssueCode
from shared.service import configure_logging
from shared.settings import Settings

app = typer.Typer(
    help="Streaming monitoring and trust layer for a deployed model, on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
console = Console()

MaxMessages = Annotated[
    int | None, typer.Option(help="Stop after this many messages (for tests and batch runs).")
]
IdleTimeout = Annotated[
    float | None, typer.Option(help="Stop after this many seconds without input.")
]


def _settings() -> Settings:
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:  # one line per bad TRUSTWATCH_* variable
        for error in exc.errors(include_url=False):
            name = "_".join(str(part) for part in error["loc"][:1]).upper()
            where = f" TRUSTWATCH_{name}" if name else "s"
            message = error["msg"].removeprefix("Value error, ")
            console.print(f"[red]error:[/] invalid setting{where}: {message}", highlight=False,
                          soft_wrap=True)  # fmt: skip
        raise typer.Exit(2) from None


@contextmanager
def _user_errors():
    """Problems a user can fix (no broker, no model, a bad policy) as one line, not a traceback."""
    from model.artifact import ArtifactError
    from model.contract import ContractError
    from producer.scenario import ScenarioError
    from shared.errors import ConfigurationError
    from shared.policy import PolicyError

    try:
        yield
    except typer.Exit:
        raise  # said already (click's Exit is a RuntimeError)
    except (ArtifactError, ContractError, ScenarioError, PolicyError, ConfigurationError,
            TimeoutError, RuntimeError) as exc:  # fmt: skip
        console.print(f"[red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


def _train(settings: Settings, seed: int, dataset: str = "telco-churn") -> None:
    from scorer.training import train as fit
    from shared.policy import load_policy

    with console.status("training") as status:
        result = fit(
            settings.artifacts_dir,
            load_policy(settings.policy_path),
            seed=seed,
            progress=lambda step: status.update(f"training: {step}"),
            dataset=dataset,
        )
    _print_artifact(result)


def _print_artifact(result) -> None:
    baseline = result.metadata.baseline
    contract = result.metadata.contract
    table = Table(title=f"model {result.metadata.model_version}: held-out metrics")
    for name in ("precision", "recall", "f1", "roc_auc", "support"):
        table.add_column(name, justify="right")
    table.add_row(
        f"{baseline.precision:.3f}",
        f"{baseline.recall:.3f}",
        f"{baseline.f1:.3f}",
        f"{baseline.roc_auc:.3f}",
        str(baseline.support),
    )
    console.print(table)
    console.print(
        f"contract {contract.name!r}: label {contract.label!r} (positive {contract.positive!r}), "
        f"{len(contract.numeric)} numeric and {len(contract.categorical)} categorical features, "
        f"sensitive: {', '.join(contract.sensitive) or 'none'}",
        highlight=False, soft_wrap=True,
    )  # fmt: skip
    console.print(f"artifact written to [bold]{result.version_dir}[/]")


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(name.strip() for name in (text or "").split(",") if name.strip())


Target = Annotated[str | None, typer.Option(help="The label column.")]
Positive = Annotated[str | None, typer.Option(help="The label's value that counts as positive.")]
Sensitive = Annotated[
    str | None, typer.Option(help="Sensitive attributes, comma-separated (categorical columns).")
]
IdColumn = Annotated[str | None, typer.Option("--id", help="The column that identifies a row.")]
TimeColumn = Annotated[
    str | None, typer.Option("--time", help="The event-time column (the data is split in time).")
]
FeatureNames = Annotated[
    str | None,
    typer.Option(help="The model's inputs, comma-separated (default: every other column)."),
]
Categorical = Annotated[
    str | None,
    typer.Option(help="Numeric columns to monitor as categories (codes, flags), comma-separated."),
]
ContractName = Annotated[str, typer.Option(help="A name for the contract, shown with the model.")]


def _declaration(target, positive, sensitive, id_column, time_column, features, categorical,
                 name):  # fmt: skip
    from model.contract import Declaration

    if target is None or positive is None:
        raise typer.BadParameter("--target and --positive are needed with your own data")
    return Declaration(
        label=target, positive=positive, sensitive=_names(sensitive),
        features=_names(features) or None, id_column=id_column, time_column=time_column,
        name=name, categorical=_names(categorical),
    )  # fmt: skip


@app.command()
def train(
    seed: Annotated[int, typer.Option(help="Seed of the split and the model.")] = 42,
    dataset: Annotated[
        str, typer.Option(help="A built-in dataset: telco-churn (the demo's) or arrests.")
    ] = "telco-churn",
    data: Annotated[
        Path | None, typer.Option(help="Your own data instead: a CSV or Parquet file.")
    ] = None,
    target: Target = None,
    positive: Positive = None,
    sensitive: Sensitive = None,
    id_column: IdColumn = None,
    time_column: TimeColumn = None,
    features: FeatureNames = None,
    categorical: Categorical = None,
    name: ContractName = "model",
) -> None:
    """Fit the default model (one-hot and scaled inputs, class-balanced logistic regression) on a
    built-in dataset or on your own data, and write a versioned artifact with its model contract
    and baselines."""
    settings = _settings()
    with _user_errors():
        if data is None:
            _train(settings, seed, dataset)
            return
        from model.datasets import read_table
        from scorer.training import train_on
        from shared.policy import load_policy

        declaration = _declaration(target, positive, sensitive, id_column, time_column, features,
                                   categorical, name)  # fmt: skip
        with console.status("training") as status:
            result = train_on(
                settings.artifacts_dir, read_table(data), declaration,
                load_policy(settings.policy_path), seed,
                lambda step: status.update(f"training: {step}"),
            )  # fmt: skip
        _print_artifact(result)


@app.command()
def register(
    model: Annotated[Path, typer.Option(help="A fitted model saved with joblib (predict_proba).")],
    reference: Annotated[
        Path, typer.Option(help="Labelled rows the model was not fit on (CSV or Parquet).")
    ],
    target: Target = None,
    positive: Positive = None,
    sensitive: Sensitive = None,
    id_column: IdColumn = None,
    time_column: TimeColumn = None,
    features: FeatureNames = None,
    categorical: Categorical = None,
    name: ContractName = "model",
    seed: Annotated[int, typer.Option(help="Seed of the reference's split.")] = 42,
) -> None:
    """Register a model you fitted yourself: its contract is fitted on three quarters of the
    reference, its held-out baselines measured on the rest, and it is written as a versioned
    artifact the services load (the sha256 of the file is checked before every later load)."""
    settings = _settings()
    with _user_errors():
        import joblib

        from model.contract import ContractError
        from model.datasets import read_table
        from scorer.training import register_model
        from shared.policy import load_policy

        declaration = _declaration(target, positive, sensitive, id_column, time_column, features,
                                   categorical, name)  # fmt: skip
        if not model.exists():
            raise ContractError(f"no such file: {model}")
        try:
            fitted = joblib.load(model)  # the user's own file, which they ask us to load
        except Exception as exc:  # not a joblib file, or one needing a missing package
            raise ContractError(f"cannot load {model} with joblib: {exc}") from exc
        with console.status("registering") as status:
            result = register_model(
                settings.artifacts_dir, fitted, read_table(reference), declaration,
                load_policy(settings.policy_path), seed,
                lambda step: status.update(f"registering: {step}"),
            )  # fmt: skip
        _print_artifact(result)


@app.command()
def broker(
    port: Annotated[int, typer.Option(help="Port; 0 picks a free one.")] = 0,
    kafka: Annotated[
        bool,
        typer.Option(
            "--kafka",
            help="Apache Kafka (KRaft, from Maven Central) instead of the embedded broker.",
        ),
    ] = False,
    pid_file: Annotated[Path | None, typer.Option(help="Write the broker's PID here.")] = None,
) -> None:
    """Run a broker on loopback in the foreground until Ctrl-C (or SIGTERM)."""
    from shared.broker import BrokerProcess, EmbeddedBroker

    embedded: BrokerProcess
    with _user_errors():
        if kafka:
            from shared.apache_kafka import ApacheKafka

            with console.status("fetching and starting Apache Kafka"):
                embedded = ApacheKafka(port=port or None).start(timeout=120)
        else:
            embedded = EmbeddedBroker(port=port or None).start()
    if pid_file is not None:
        pid_file.write_text(f"{os.getpid()}\n")
    console.print(f"{embedded.name} on [bold]{embedded.bootstrap_servers}[/] (pid {embedded.pid})")
    console.print(f"export TRUSTWATCH_BOOTSTRAP_SERVERS={embedded.bootstrap_servers}")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        embedded.stop()


def _plan(
    scenario: str,
    days: int | None,
    rows_per_day: int,
    seed: int,
    label_delay_days: float,
    settings: Settings,
):
    from datetime import timedelta

    from producer.scenario import ScenarioError, get_scenario
    from producer.stream import StreamPlan

    try:
        chosen = get_scenario(scenario)
    except ScenarioError as exc:
        raise typer.BadParameter(str(exc), param_hint="--scenario") from exc
    return StreamPlan(
        scenario=chosen,
        days=days or chosen.days,
        rows_per_day=rows_per_day,
        seed=seed,
        origin=settings.simulation_start,
        day_length=timedelta(seconds=settings.window_seconds),
        label_delay_days=label_delay_days,
    )


Scenario = Annotated[
    str,
    typer.Option(help="Built-in scenario (baseline, covariate, concept, bias, schema, full) "
                 "or the path of a scenario file."),
]  # fmt: skip
Days = Annotated[
    int | None, typer.Option(min=1, help="Simulated days to stream (default: the scenario's).")
]
LabelDelay = Annotated[
    float,
    typer.Option(min=0, help="Simulated days until a row's outcome is published; 0: inline."),
]
RowsPerDay = Annotated[int, typer.Option(min=1, help="Rows per simulated day.")]
Rate = Annotated[float, typer.Option(min=0, help="Rows per second; 0 streams flat out.")]
Seed = Annotated[int, typer.Option(help="Seed of the stream: same seed, same bytes.")]


def _progress_bar(doing: str = "streaming", unit: str = "rows") -> Progress:
    return Progress(
        TextColumn(f"[bold]{doing}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        console=console,
    )


def _advance(bar: Progress, task: TaskID, rows: int) -> None:
    bar.update(task, completed=rows)


@app.command(name="produce")
def produce_command(
    scenario: Annotated[
        str | None,
        typer.Option(help="Built-in scenario or the path of a scenario file; its columns must be "
                     "the model contract's (default: full for the Telco demo, baseline else)."),
    ] = None,
    days: Days = None,
    rows_per_day: RowsPerDay = 500,
    rate: Rate = 0.0,
    seed: Seed = 7,
    label_delay_days: LabelDelay = 0.0,
    loop: Annotated[
        bool,
        typer.Option(help="When the scenario ends, stream it again from where it ended in event "
                     "time, with the next seed, until stopped (a long-running demo)."),
    ] = False,
    from_path: Annotated[
        Path | None,
        typer.Option("--from", help="Stream rows of this CSV or Parquet file (in the model "
                     "contract's schema) instead of the built-in dataset's unseen rows."),
    ] = None,
    time_column: Annotated[
        str | None,
        typer.Option("--time", help="Draw the file's rows in the order of this column "
                     "(default: the contract's time column, if any)."),
    ] = None,
) -> None:  # fmt: skip
    """Stream production rows with the scenario's drift, and publish its ground truth."""
    from model.artifact import load_metadata, resolve_version_dir
    from producer.app import produce
    from shared.capabilities import adapt_to_broker
    from shared.kafka import wait_for_broker

    settings = _settings()
    if scenario is not None:  # an unknown scenario is named before anything else
        _plan(scenario, days, rows_per_day, seed, label_delay_days, settings)
    with _user_errors():
        contract = load_metadata(resolve_version_dir(settings.artifacts_dir)).contract
        pool = None if from_path is None else _replayed(from_path, contract, time_column)
    default = "full" if contract.name == "telco-churn" else "baseline"
    plan = _plan(scenario or default, days, rows_per_day, seed, label_delay_days, settings)
    plan = replace(plan, in_order=from_path is not None)
    with _user_errors():
        plan = replace(plan, scenario=plan.scenario.bound_to(contract))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    failed = 0
    with _user_errors():
        wait_for_broker(settings)
        settings = adapt_to_broker(settings)
    while True:
        with _user_errors(), _progress_bar() as bar:
            task = bar.add_task("rows", total=plan.total_rows)
            result = produce(
                settings, plan, rate or None, should_stop=stop.is_set,
                progress=functools.partial(_advance, bar, task), pool=pool, contract=contract,
            )  # fmt: skip
        console.print(
            f"produced {result.produced} rows and {result.labels} late labels in "
            f"{result.seconds:.1f}s ({result.failed} failed) from {plan.origin:%Y-%m-%d}; "
            f"faults injected: {result.faults or 0}"
        )
        failed += result.failed
        if not loop or stop.is_set():
            break
        plan = replace(plan, origin=plan.origin + plan.days * plan.day_length, seed=plan.seed + 1)
    if failed:
        raise typer.Exit(1)


def _replayed(path: Path, contract, time_column: str | None):
    """The rows of a user's file, prepared by the contract (label 0/1, its columns only), in the
    order of ``time_column`` when given."""
    from model.contract import ContractError
    from model.datasets import read_table

    frame = read_table(path)
    if time_column is not None:
        if time_column not in frame:
            raise ContractError(f"{path} has no column {time_column!r}")
        frame = frame.sort_values(time_column, kind="stable")
    return contract.prepare(frame)


@app.command()
def topics() -> None:
    """Wait for the broker and create every trustwatch topic that does not exist yet."""
    from shared.service import prepare_broker

    settings = _settings()
    with _user_errors():
        created = prepare_broker(settings)
    console.print(f"topics created: {', '.join(created) or 'none (all exist)'}")


@app.command()
def score(max_messages: MaxMessages = None, idle_timeout: IdleTimeout = None) -> None:
    """Run the scorer: validate, quarantine, score."""
    from scorer.app import run

    configure_logging()
    with _user_errors():
        run(_settings(), max_messages, idle_timeout)


@app.command()
def monitor(
    kind: Annotated[MonitorKind, typer.Argument(help="Which monitor to run.")],
    max_messages: MaxMessages = None,
    idle_timeout: IdleTimeout = None,
) -> None:
    """Run one windowed monitor: performance, drift or fairness."""
    from monitors.app import run

    configure_logging()
    with _user_errors():
        run(_settings(), kind, max_messages, idle_timeout)


@app.command()
def alert(max_messages: MaxMessages = None, idle_timeout: IdleTimeout = None) -> None:
    """Run the alerter: alerts, decisions and Prometheus metrics."""
    from alerter.app import run

    configure_logging()
    with _user_errors():
        run(_settings(), max_messages, idle_timeout)


@app.command()
def notify(max_messages: MaxMessages = None, idle_timeout: IdleTimeout = None) -> None:
    """Run the notifier: every problem's lifecycle to Alertmanager (TRUSTWATCH_ALERTMANAGER_URL)."""
    from alerter.notifier import run

    configure_logging()
    with _user_errors():
        run(_settings(), max_messages, idle_timeout)


@app.command()
def webhook(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 9095,
) -> None:
    """Print each notification Alertmanager sends to this webhook, one line per alert."""
    from trustwatch.webhook import serve

    console.print(f"receiving Alertmanager notifications on http://{host}:{port}/")
    try:
        serve(host, port, lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        pass


class WatchTarget(StrEnum):
    ALERTS = "alerts"
    DECISIONS = "decisions"
    SIGNALS = "signals"


@app.command()
def watch(
    target: Annotated[WatchTarget, typer.Argument(help="What to follow.")],
    from_beginning: Annotated[bool, typer.Option(help="Show earlier messages too.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    alert_type: Annotated[
        list[str] | None, typer.Option("--type", help="Only these alert types (repeatable).")
    ] = None,
    severity: Annotated[
        list[str] | None, typer.Option(help="Only these severities (repeatable).")
    ] = None,
) -> None:
    """Follow alerts, decisions or monitor signals as they are published, colour-coded."""
    from shared.tail import tail
    from shared.topics import ALERTS, DECISIONS, SIGNAL_TOPICS, Topic
    from trustwatch.render import render, wanted

    by_target: dict[WatchTarget, list[Topic]] = {
        WatchTarget.ALERTS: [ALERTS],
        WatchTarget.DECISIONS: [DECISIONS],
        WatchTarget.SIGNALS: list(SIGNAL_TOPICS),
    }
    topics = by_target[target]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    since = None if from_beginning else int(time.time() * 1000)
    types = {t.upper() for t in alert_type or []}
    severities = {s.upper() for s in severity or []}
    for message in tail(_settings(), topics, stop, since_ms=since):
        if not wanted(message.value, types, severities):
            continue
        if as_json:
            sys.stdout.write(message.value.model_dump_json() + "\n")
            sys.stdout.flush()
        else:
            console.print(render(message.value))


quarantine_app = typer.Typer(
    help="What the services set aside, and sending it back once its source is fixed.",
    no_args_is_help=True,
)
app.add_typer(quarantine_app, name="quarantine")


def _event_time(text: str | None, option: str) -> datetime | None:
    """An ISO 8601 time; without a zone, UTC."""
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from exc
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


@quarantine_app.command("replay")
def quarantine_replay(
    reason: Annotated[
        list[IssueCode] | None,
        typer.Option(
            metavar="CODE",
            help="Only records with this reason, an issue code such as "
            "OUT_OF_RANGE (repeatable; default: any).",
        ),  # fmt: skip
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            metavar="TIME",
            help="Only records of this event time or later (ISO 8601; UTC if no zone).",
        ),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(metavar="TIME", help="Only records of event times before this (ISO 8601)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Say what would be sent; send nothing.")] = False,
) -> None:
    """Send quarantined rows and labels back to the topic they came from, byte for byte, each
    message once however often this runs (the replay topic records what was sent). A record's
    event time is its row's, or for a row without a usable one, that of the row before it."""
    from trustwatch.quarantine import ReplayFilter, replay

    wanted = ReplayFilter(
        frozenset(reason or ()), _event_time(since, "--since"), _event_time(until, "--until")
    )
    settings = _settings()
    with _user_errors(), _progress_bar("sending back", "messages") as bar:
        task = bar.add_task("replay", total=None)

        def advance(sent: int, total: int) -> None:
            bar.update(task, completed=sent, total=total)

        plan = replay(settings, wanted, dry_run, progress=advance)
    verb = "would send" if dry_run else "sent"
    reasons = ", ".join(f"{code} {count}" for code, count in sorted(plan.by_reason().items()))
    console.print(f"{verb} back {len(plan.send)} messages" + (f" ({reasons})" if reasons else ""))
    for why, count in sorted(plan.skipped.items()):
        console.print(f"  left: {count} {why}", highlight=False)


@app.command()
def report(
    history: Annotated[
        Path | None, typer.Option(help="History store (default: TRUSTWATCH_HISTORY_PATH).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for the PNGs and index.html.")] = Path(
        "trustwatch-report"
    ),
) -> None:
    """Render the alerter's history as plots and one HTML page."""
    from shared.policy import load_policy
    from trustwatch.report import write_report

    settings = _settings()
    try:
        page = write_report(
            history or settings.history_path, out, load_policy(settings.policy_path),
            _known_gaps(settings),
        )  # fmt: skip
    except FileNotFoundError as exc:
        raise typer.BadParameter(str(exc), param_hint="--history") from exc
    console.print(f"report written to [bold]{page}[/]")


@app.command()
def demo(
    scenario: Annotated[
        str | None,
        typer.Option(help="Built-in scenario or the path of a scenario file (default: the "
                     "dataset's own, full for the Telco demo)."),
    ] = None,
    dataset: Annotated[
        str, typer.Option(help="The built-in dataset whose model is monitored: telco-churn or "
                          "arrests (its model is trained first if the artifact is another's).")
    ] = "telco-churn",
    days: Days = None,
    rows_per_day: RowsPerDay = 500,
    rate: Annotated[
        float, typer.Option(min=0, help="Rows per second; 0 streams flat out.")
    ] = 700.0,
    seed: Seed = 7,
    label_delay_days: LabelDelay = 0.0,
    summary_json: Annotated[
        Path | None, typer.Option(help="Also write the summary as JSON here.")
    ] = None,
    report_dir: Annotated[
        Path, typer.Option(help="Where the visual report is written at the end.")
    ] = Path("trustwatch-report"),
    hold: Annotated[
        float,
        typer.Option(min=0, help="Seconds to keep the services and their /metrics up after the "
                     "stream has settled (for Prometheus and Grafana)."),
    ] = 0.0,
    prometheus_targets: Annotated[
        Path | None,
        typer.Option(help="Write the services' /metrics addresses here as a Prometheus file_sd "
                     "document (see deploy/prometheus/prometheus-demo.yml)."),
    ] = None,
) -> None:  # fmt: skip
    """Run the whole pipeline on a scenario and summarise what was caught."""
    from model.datasets import builtin_dataset
    from trustwatch.demo import DemoOptions, run_demo, write_summary
    from trustwatch.render import alert_text, decision_text

    settings = _settings()
    with _user_errors():
        source = builtin_dataset(dataset)
    plan = _plan(scenario or source.scenario, days, rows_per_day, seed, label_delay_days,
                 settings)  # fmt: skip
    options = DemoOptions(
        plan=plan, rate=rate or None, split_seed=42, hold_seconds=hold,
        prometheus_targets=prometheus_targets, dataset=dataset,
    )  # fmt: skip
    console.rule(f"trustwatch demo: {plan.scenario.description}")
    with _user_errors(), _progress_bar() as bar:
        task = bar.add_task("rows", total=plan.total_rows)
        summary = run_demo(
            settings,
            options,
            train=lambda: _train(settings, 42, dataset),
            on_progress=lambda n: bar.update(task, completed=n),
            on_alert=lambda a: bar.console.print(alert_text(a)),
            on_decision=lambda d: bar.console.print(decision_text(d)),
            on_status=lambda s: bar.console.print(f"[dim]{s}[/]"),
        )
    _print_summary(summary)
    if summary_json is not None:
        write_summary(summary, summary_json)
        console.print(f"summary written to {summary_json}")
    from shared.policy import load_policy
    from trustwatch.report import write_report

    with console.status("drawing the report"):
        page = write_report(
            Path(summary.logs_dir) / "history.sqlite", report_dir,
            load_policy(settings.policy_path), summary.known_gaps,
        )  # fmt: skip
    console.print(f"report written to [bold]{page}[/]")


def _known_gaps(settings) -> dict[str, float]:
    """The model's own recall gaps at deployment, when there is a model to read them from."""
    from model.artifact import ArtifactError, load_metadata, resolve_version_dir

    try:
        return load_metadata(resolve_version_dir(settings.artifacts_dir)).deployment_gaps()
    except ArtifactError:
        return {}


def alert_episodes(alerts) -> list[tuple[str, ...]]:
    """Each alert from its firing to its resolution, updates folded in: its headline as last
    published, its worst severity and the conditions seen with it.

    >>> from types import SimpleNamespace as A
    >>> alert_episodes([A(key="DRIFT:x", type="DRIFT", subject="x", status="FIRING",
    ...                   severity="WARNING", window_start="2026-03-05T00:00", members=["DRIFT:x"]),
    ...                 A(key="DRIFT:x", type="BIAS", subject="y", status="UPDATED",
    ...                   severity="CRITICAL", window_start="2026-03-06T00:00",
    ...                   members=["DRIFT:x", "BIAS:y"]),
    ...                 A(key="DRIFT:x", type="BIAS", subject="y", status="RESOLVED",
    ...                   severity="CRITICAL", window_start="2026-03-09T00:00", members=[])])
    [('2026-03-05', '2026-03-09', 'BIAS', 'y', 'CRITICAL', 'DRIFT:x')]
    """
    rank = {"INFO": 0, "WARNING": 1, "CRITICAL": 2}
    open_: dict[str, dict] = {}
    episodes = []

    def row(episode: dict, resolved: str) -> tuple[str, ...]:
        headline = f"{episode['type']}:{episode['subject']}"
        others = ", ".join(sorted(episode["members"] - {headline}))
        return (episode["fired"], resolved, episode["type"], episode["subject"],
                episode["worst"], others)  # fmt: skip

    for alert in sorted(alerts, key=lambda a: a.window_start):
        if alert.status != "RESOLVED":
            fresh = {"fired": alert.window_start[:10], "worst": alert.severity, "members": set()}
            episode = open_.setdefault(alert.key, fresh)
            episode.update(type=alert.type, subject=alert.subject)
            episode["members"] |= set(alert.members)
            if rank[alert.severity] > rank[episode["worst"]]:
                episode["worst"] = alert.severity
        elif alert.key in open_:
            episodes.append(row(open_.pop(alert.key), alert.window_start[:10]))
    episodes += [row(episode, "open") for episode in open_.values()]
    return sorted(episodes)


def _print_summary(summary) -> None:
    console.rule("summary")
    rows = summary.rows
    console.print(
        f"rows produced {rows.produced}, scored {rows.scored}, quarantined {rows.quarantined} "
        f"in {summary.seconds:.0f}s; faults injected: {summary.faults_injected or 'none'}"
    )
    injected = Table(title="injected problems")
    for column in ("kind", "target", "start", "caught by", "delay (windows)"):
        injected.add_column(column)
    for item in summary.injected:
        injected.add_row(
            item.kind,
            item.target,
            f"{item.start:%Y-%m-%d}",
            item.caught_by or "[red]missed[/]",
            "" if item.delay_windows is None else str(item.delay_windows),
        )
    console.print(injected)
    actions: dict[str, int] = {}
    for decision in summary.decisions:
        actions[decision.action] = actions.get(decision.action, 0) + 1
    console.print("decisions: " + json.dumps(actions))
    fired = Table(title="alerts (one row per problem, from firing to resolution)")
    fired.add_column("fired")
    fired.add_column("resolved")
    fired.add_column("problem", overflow="fold", max_width=20)
    fired.add_column("worst")
    fired.add_column("seen with it", overflow="fold")
    for started, resolved, kind, subject, worst, others in alert_episodes(summary.alerts):
        fired.add_row(started[5:], resolved[5:] if resolved != "open" else resolved,
                      f"{kind} {subject}", worst, others.replace(", ", "\n"))  # fmt: skip
    console.print(fired)
    if summary.known_gaps:
        known = ", ".join(f"{a} {g:.2f}" for a, g in sorted(summary.known_gaps.items()))
        console.print(f"recall gaps known at deployment (the model's own, held out): {known}")
    console.print(f"service logs: {summary.logs_dir}")
