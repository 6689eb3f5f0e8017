"""Reliability under bad input, on the real broker (marked `reliability`; `make test` runs them,
`make reliability` runs only them)."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest

from scorer.app import build as build_scorer
from shared.kafka import ensure_topics, make_producer
from shared.schemas import DriftSeverity, QuarantinedRow, ScoredRow
from shared.settings import Settings
from shared.topics import EVENT_ID_HEADER, QUARANTINE, RAW_ROWS, SCORED_ROWS
from tests.conftest import TELCO_CONTRACT
from tests.integration.helpers import read_all
from tests.unit.monitor_cluster import comparable

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

PAYLOADS = 10_000


def _value(rng: random.Random, depth: int = 0):
    """A random JSON value: scalars of every type, and small nested lists and objects."""
    kind = rng.randrange(8 if depth < 2 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.random() < 0.5
    if kind == 2:
        return rng.randint(-(2**63), 2**63)
    if kind == 3:
        return rng.choice([rng.uniform(-1e9, 1e9), 1e308, -0.0, 5e-324])
    if kind == 4:
        return "".join(chr(rng.randrange(0x20, 0x2FFF)) for _ in range(rng.randrange(20)))
    if kind == 5:
        return rng.choice(["", "Yes", "No", "Month-to-month", "NaN", "1e999", "0"])
    if kind == 6:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {str(rng.randrange(100)): _value(rng, depth + 1) for _ in range(rng.randrange(4))}


def bad_payloads(document: dict, count: int, seed: int) -> list[bytes]:
    """Random bytes, random text, truncated JSON, oversized JSON, and valid rows with a field
    removed, retyped or added: every way upstream data breaks."""
    rng = random.Random(seed)
    encoded = json.dumps(document).encode()
    made = []
    for _ in range(count):
        kind = rng.randrange(6)
        if kind == 0:
            made.append(rng.randbytes(rng.randrange(1, 400)))
        elif kind == 1:
            text = "".join(chr(rng.randrange(1, 0xD7FF)) for _ in range(rng.randrange(80)))
            made.append(text.encode())
        elif kind == 2:
            made.append(encoded[: rng.randrange(1, len(encoded))])
        elif kind == 3:
            made.append(json.dumps(document | {"padding": "x" * 20_000}).encode())
        else:
            mutated = json.loads(encoded) | {"event_id": f"bad{len(made)}"}
            target = mutated if kind == 4 else mutated["features"]
            key = rng.choice(sorted(target))
            action = rng.randrange(3)
            if action == 0:
                del target[key]
            elif action == 1:
                target[key] = _value(rng)
            else:
                target[f"extra_{rng.randrange(10)}"] = _value(rng)
            made.append(json.dumps(mutated).encode())
    return made


@pytest.fixture(scope="module")
def valid_document(data_split):
    from datetime import UTC, datetime

    from producer.scenario import Scenario
    from producer.stream import StreamPlan, generate

    scenario = Scenario.model_validate({"name": "one", "description": "", "days": 1, "steps": []})
    plan = StreamPlan(scenario, 1, 1, 3, datetime(2026, 3, 1, tzinfo=UTC))
    return json.loads(next(generate(plan, data_split.production, TELCO_CONTRACT)).payload)


def test_ten_thousand_bad_payloads_each_end_quarantined_with_a_reason(settings, valid_document):
    batch = bad_payloads(valid_document, PAYLOADS, seed=2026)
    ensure_topics(settings)
    producer = make_producer(settings)
    for index, payload in enumerate(batch):
        producer.produce(settings.topic_name(RAW_ROWS), payload, key=str(index % 97),
                         headers=[(EVENT_ID_HEADER, f"bad{index}".encode())])  # fmt: skip
        if index % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    stats = build_scorer(settings).run(max_messages=len(batch), idle_timeout=20)
    assert stats.consumed == len(batch)
    outputs = read_all(settings, SCORED_ROWS) + read_all(settings, QUARANTINE)
    quarantined = [o for o in outputs if isinstance(o, QuarantinedRow)]
    scored = [o for o in outputs if isinstance(o, ScoredRow)]
    # every payload ends exactly once, under its own id (the header's, or the document's when a
    # mutation rewrote it); a mutation can leave a valid row (a field set to an allowed value),
    # which is scored; everything else is quarantined with at least one reason
    assert len(quarantined) + len(scored) == len(batch)
    ids = Counter(o.event_id for o in [*quarantined, *scored])
    assert all(count == 1 for event_id, count in ids.items() if event_id.startswith("bad"))
    assert sum(1 for event_id in ids if event_id.startswith("bad")) > 0.99 * len(batch)
    assert all(q.issues and all(issue.code for issue in q.issues) for q in quarantined)
    assert len(quarantined) > 0.9 * len(batch)
    reasons = Counter(issue.code.value for q in quarantined for issue in q.issues)
    assert {"MALFORMED_JSON", "OVERSIZED", "MISSING_FIELD", "WRONG_TYPE"} <= set(reasons)


def test_every_service_resumes_on_its_own_after_the_embedded_broker_restarts(
    bootstrap_servers, artifacts_dir, tmp_path
):
    """The embedded broker is killed and started again on the same port. It keeps everything in
    memory, so its topics, messages and committed offsets are gone (Apache Kafka keeps all three
    on disk). Every service reconnects, creates the topics again, rejoins its group and carries
    on with the rows produced after the restart: nobody runs anything by hand."""
    import os
    import signal
    import time
    from datetime import timedelta

    from confluent_kafka.admin import AdminClient

    from producer.app import produce
    from producer.scenario import get_scenario
    from producer.stream import StreamPlan
    from shared.broker import EmbeddedBroker
    from shared.kafka import broker_answers
    from shared.settings import Settings
    from shared.topics import ALL_TOPICS, DECISIONS
    from trustwatch.demo import ServiceGroup

    if os.environ.get("TRUSTWATCH_BOOTSTRAP_SERVERS"):
        pytest.skip("restarts the embedded broker; an external one is not ours to kill")
    broker = EmbeddedBroker().start()
    settings = Settings(bootstrap_servers=broker.bootstrap_servers, namespace="restart",
                        artifacts_dir=artifacts_dir, session_timeout_ms=2000,
                        heartbeat_interval_ms=500)  # fmt: skip
    baseline = get_scenario("baseline")
    before = StreamPlan(baseline, 2, 300, 1, settings.simulation_start)
    after = StreamPlan(baseline, 2, 300, 2, settings.simulation_start + timedelta(days=5))
    env = os.environ | {
        "TRUSTWATCH_BOOTSTRAP_SERVERS": settings.bootstrap_servers or "",
        "TRUSTWATCH_NAMESPACE": settings.namespace,
        "TRUSTWATCH_ARTIFACTS_DIR": str(artifacts_dir),
        "TRUSTWATCH_SESSION_TIMEOUT_MS": "2000",
        "TRUSTWATCH_HEARTBEAT_INTERVAL_MS": "500",
        "TRUSTWATCH_HISTORY_PATH": str(tmp_path / "history.sqlite"),
    }
    services = ServiceGroup(env, tmp_path, {})
    ensure_topics(settings)
    services.start()
    restarted = None
    try:
        produce(settings, before, None)
        assert _wait(lambda: len(read_all(settings, DECISIONS)) >= 1, 90), "no decision before"
        os.kill(broker.pid, signal.SIGKILL)
        assert _wait(lambda: not broker_answers(settings.bootstrap_servers or ""), 10)
        restarted = EmbeddedBroker(port=broker.port).start()
        back = time.monotonic()
        wanted = {settings.topic_name(t) for t in ALL_TOPICS}
        admin = AdminClient(settings.kafka_config())
        # the services, not this test, create the topics again
        assert _wait(lambda: wanted <= set(admin.list_topics(timeout=5).topics), 30)
        recreated_after = time.monotonic() - back
        produce(settings, after, None)
        assert _wait(lambda: len(read_all(settings, SCORED_ROWS)) >= after.total_rows, 60)
        scoring_after = time.monotonic() - back
        assert _wait(lambda: len(read_all(settings, DECISIONS)) >= 1, 90), "no decision after"
        assert not services.dead(), services.dead()
        assert recreated_after <= 10, recreated_after
        print(f"topics back {recreated_after:.1f}s, rows scored {scoring_after:.1f}s after restart")
    finally:
        services.stop()
        (restarted or broker).stop()


def _wait(condition, timeout: float) -> bool:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False


def test_a_drift_monitor_restarted_mid_stream_rates_every_window_as_an_uninterrupted_one(
    settings,
):
    """The k-of-n confirmation is rebuilt by replaying the partial windows already combined, so a
    restart (here in the middle of a window, with its rows re-read) changes no reported
    severity."""
    from datetime import UTC, datetime

    from monitors.app import MonitorKind
    from monitors.app import build as build_monitor
    from producer.app import produce
    from producer.scenario import get_scenario
    from producer.stream import StreamPlan
    from shared.topics import DRIFT_SIGNALS

    plan = StreamPlan(get_scenario("covariate"), 10, 300, 4, datetime(2026, 3, 1, tzinfo=UTC))
    severities = {}
    # stopped inside the second drifted window (03-09): without 03-08 remembered it would read LOW
    for name, stops in (("whole", [None]), ("restarted", [9 * 300 + 150, None])):
        current = settings.model_copy(update={"namespace": f"{settings.namespace}-{name}"})
        ensure_topics(current)
        produce(current, plan, None)
        build_scorer(current).run(max_messages=plan.total_rows, idle_timeout=10)
        for stop in stops:  # a new monitor process each time, as after a restart
            build_monitor(current, MonitorKind.DRIFT).run(max_messages=stop, idle_timeout=8)
        signals = sorted(read_all(current, DRIFT_SIGNALS), key=lambda s: s.window_start)
        # committed offsets follow every closed window: a restart re-reads only the open one
        assert [s.window_start.day for s in signals] == list(range(1, 11)), name
        severities[name] = {
            (s.window_start.day, f.feature): (f.severity, f.confirmed)
            for s in signals for f in s.features
        }  # fmt: skip
    assert severities["restarted"] == severities["whole"]
    monthly = {day: level for (day, f), (_, level) in severities["whole"].items()
               if f == "MonthlyCharges"}  # fmt: skip
    assert monthly[8] == DriftSeverity.LOW and monthly[9] == DriftSeverity.HIGH  # k of n


def test_overload_lag_grows_and_drains_nothing_dropped_memory_bounded(settings, tmp_path):
    """The producer runs flat out while the scorer is stalled (SIGSTOP, as a paused or starved
    process): the scorer's own lag metric rises to the stream's size, then drains to zero once it
    runs again; every row ends scored or quarantined; its memory stays bounded by its prefetch,
    not by the backlog. (Stalled, not merely slower: how far a faster producer runs ahead depends
    on the machine and the broker, a stall does not.)"""
    import signal
    import threading
    import urllib.request
    from datetime import UTC, datetime

    from prometheus_client.parser import text_string_to_metric_families

    from producer.app import produce
    from producer.scenario import get_scenario
    from producer.stream import StreamPlan
    from shared.broker import free_port
    from tests.integration.helpers import start_service

    # 60,000 rows: the scorer reports its lag a second apart, and its first report after the
    # stall can miss the backlog (likely a fetch answered while the producer had only begun).
    # At 30,000 rows CI's Apache Kafka pass once saw a peak of 13,770: the scorer had drained
    # some 16,000 rows before a report showed the backlog.
    plan = StreamPlan(get_scenario("schema"), 10, 6000, 6, datetime(2026, 3, 1, tzinfo=UTC))
    ensure_topics(settings)
    port = free_port()
    # a prefetch well below the backlog (the stream is some 36 MB): the consumer's queue, bounded
    # by it, cannot hide what the scorer itself would hold of the lag
    scorer = start_service(settings, "score", log_path=tmp_path / "scorer.log",
                           TRUSTWATCH_METRICS_PORT=str(port),
                           TRUSTWATCH_CONSUMER_PREFETCH_KBYTES="2048")  # fmt: skip
    samples: list[tuple[float, float]] = []  # (lag, RSS MiB)
    done = threading.Event()

    def rows_raw(metric: str) -> float | None:
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
        except OSError:
            return None
        return sum(s.value for f in text_string_to_metric_families(body.decode())
                   for s in f.samples if s.name == metric
                   and s.labels.get("topic") == "rows.raw")  # fmt: skip

    def lag() -> float | None:
        return rows_raw("trustwatch_consumer_lag_messages")

    def rss() -> float:
        status = open(f"/proc/{scorer.pid}/status").read()  # noqa: SIM115
        return int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1]) / 1024

    def sample() -> None:
        while not done.is_set():
            value = lag()
            if value is not None:
                samples.append((value, rss()))
            done.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    try:
        assert _wait(lambda: lag() is not None, 60), "the scorer never served /metrics"
        sampler.start()
        scorer.send_signal(signal.SIGSTOP)
        try:
            result = produce(settings, plan, None)  # flat out
        finally:
            scorer.send_signal(signal.SIGCONT)
        # drained: every row read and the lag gone (before the scorer's first report of the lag,
        # the gauge still says the 0 of the empty topic)
        assert _wait(lambda: rows_raw("trustwatch_messages_consumed_total") == plan.total_rows
                     and samples[-1][0] == 0, 120)  # fmt: skip
    finally:
        done.set()
        scorer.terminate()
        scorer.wait(timeout=30)
    outputs = read_all(settings, SCORED_ROWS) + read_all(settings, QUARANTINE)
    assert len({o.event_id for o in outputs}) == result.produced == plan.total_rows
    peak_lag = max(value for value, _ in samples)
    # the producer really ran ahead: the whole stream waited, less what the scorer had fetched
    # (its 2 MB prefetch, some 3,000 rows) before it first reported its lag
    assert peak_lag > plan.total_rows / 2, peak_lag
    memory = [mib for _, mib in samples]
    # at work: a second after the lag first showed (a batch handled, the prefetch filled)
    loaded = [mib for value, mib in samples if value > 0]
    warm = loaded[min(2, len(loaded) - 1)]
    # bounded: no growth with the backlog (the scorer holds a batch and what is on its way, not
    # the lag)
    assert max(memory) <= 1.25 * warm, (warm, max(memory))
    print(f"peak lag {peak_lag:.0f} rows, scorer RSS {warm:.0f} -> peak {max(memory):.0f} MiB")


def _pipeline_run(settings, tmp_path, events: dict):
    """The `full` scenario through every service as its own process. At each row count in
    ``events`` an (action, service) happens: ``kill`` SIGKILLs the service and starts it again
    at once; ``join`` starts a second instance in the same consumer group; ``leave`` stops that
    second instance; ``poison`` writes that set of :func:`write_poison` (at 0: before the
    stream); ``do`` calls the function given. Returns the decision of each window, every
    signal, the alerts, the ids of the rows that ended scored or quarantined, and the rows
    produced."""
    import signal
    import threading
    import time
    from datetime import UTC, datetime

    from producer.app import produce
    from producer.scenario import get_scenario
    from producer.stream import StreamPlan
    from shared.topics import ALERTS, DECISIONS, SIGNAL_TOPICS
    from tests.integration.helpers import start_service
    from trustwatch.demo import SERVICES

    plan = StreamPlan(get_scenario("full"), 30, 300, 7, datetime(2026, 3, 1, tzinfo=UTC))
    # the stream pauses while a killed scorer restarts: that must not read as its end
    settings = settings.model_copy(update={"idle_flush_seconds": 15.0})
    ensure_topics(settings)
    extra = {"TRUSTWATCH_HISTORY_PATH": str(tmp_path / f"{settings.namespace}.sqlite")}
    logs = tmp_path / f"{settings.namespace}-logs"
    logs.mkdir()

    def start(name: str, label: str):
        log_path = logs / f"{label}.log"
        with open(log_path, "ab") as log:  # every start of it, one after the other
            log.write(b"--- started\n")
        return start_service(settings, *SERVICES[name], log_path=log_path, **extra)

    processes = {name: start(name, name) for name in SERVICES}
    pending = dict(sorted(events.items()))
    lock = threading.Lock()

    def on_progress(rows: int) -> None:
        with lock:
            for at in [at for at in pending if rows >= at]:
                action, name = pending.pop(at)
                if action == "poison":
                    write_poison(settings, name)
                elif action == "do":
                    name()
                elif action == "kill":
                    processes[name].send_signal(signal.SIGKILL)
                    processes[name].wait(timeout=10)
                    processes[name] = start(name, name)
                elif action == "join":
                    processes[f"{name} (second)"] = start(name, f"{name}-second")
                else:
                    second = processes.pop(f"{name} (second)")
                    second.terminate()
                    second.wait(timeout=30)

    try:
        time.sleep(6)  # the groups form, as in a running deployment
        on_progress(0)  # what comes before the stream
        result = produce(settings, plan, 1500.0, progress=on_progress)
        assert not pending, pending

        def dead() -> list[str]:
            return [name for name, p in processes.items() if p.poll() is not None]

        decided = _wait(lambda: dead() or len({d.window_start for d in read_all(
            settings, DECISIONS)}) >= plan.days, 180)  # fmt: skip
        assert not dead(), f"services died: {dead()} (their logs: {logs})"
        assert decided, "not every window was decided"
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(timeout=30)
    decisions = {d.window_start: d.action for d in read_all(settings, DECISIONS)}
    signals = comparable([m for topic in SIGNAL_TOPICS for m in read_all(settings, topic)])
    rows = read_all(settings, SCORED_ROWS) + read_all(settings, QUARANTINE)
    return (decisions, signals, read_all(settings, ALERTS), {r.event_id for r in rows},
            result.produced)  # fmt: skip


@pytest.fixture(scope="module")
def uninterrupted(bootstrap_servers, artifacts_dir, tmp_path_factory):
    """The seeded run with nothing going wrong, that the disturbed runs are compared with."""
    import uuid

    tmp_path = tmp_path_factory.mktemp("uninterrupted")
    settings = Settings(
        bootstrap_servers=bootstrap_servers, namespace=f"test-{uuid.uuid4().hex[:10]}-whole",
        artifacts_dir=artifacts_dir, history_path=tmp_path / "history.sqlite",
        session_timeout_ms=2000, heartbeat_interval_ms=500, idle_flush_seconds=1.0,
        batch_size=200,
    )  # fmt: skip
    decisions, signals, _, rows, produced = _pipeline_run(settings, tmp_path, {})
    assert len(rows) == produced == 30 * 300
    assert len(signals) >= 3 * 30  # performance, drift and fairness for every window
    _assert_every_row_in_its_window(signals, rows_per_window=300)
    return decisions, signals


def _assert_every_row_in_its_window(signals, rows_per_window: int) -> None:
    """Each window's signals count every row of it, none late: the drift monitor its scored and
    quarantined rows, the label-based monitors the same scored rows."""
    by_window: dict = {}
    for signal in signals:
        if not signal.get("provisional"):
            by_window.setdefault(signal["window_start"], []).append(signal)
    for start, window in by_window.items():
        (drift,) = [s for s in window if "quarantined_rows" in s]
        counts = [(s["rows"], s["late_rows"]) for s in window]
        assert drift["rows"] + drift["quarantined_rows"] == rows_per_window, (start, counts)
        assert counts == [(drift["rows"], 0)] * len(window), (start, counts)


def _assert_same_run(uninterrupted, run, decisions_follow_arrival: str = "") -> None:
    """Rows, signals, alerts fired once, decisions: as without the disturbance.

    ``decisions_follow_arrival``: a known defect, said as the reason: the decisions may depend
    on the order in which the monitors' signals reach the alerter; when only they differ, the
    test is an expected failure with that reason and the windows that differ."""
    from collections import Counter

    from shared.schemas import AlertStatus

    expected_decisions, expected_signals = uninterrupted
    decisions, signals, alerts, rows, produced = run
    assert len(rows) == produced == 30 * 300  # every row once, after deduplication by event id
    # a problem is its key and the window it fired in: the same key may fire again later for a
    # new problem (the same condition back after its problem resolved), never twice for one
    fired = Counter((a.key, a.fired_window or a.window_start) for a in alerts
                    if a.status == AlertStatus.FIRING)  # fmt: skip
    assert fired and set(fired.values()) == {1}, fired
    # every field of every window's signal (but the wall-clock ones) as without the disturbance
    assert len(signals) == len(expected_signals)
    _assert_every_row_in_its_window(signals, rows_per_window=300)
    differing = [
        (want["window_start"], {k: (got.get(k), want[k]) for k in want if got.get(k) != want[k]})
        for got, want in zip(signals, expected_signals, strict=True)
        if got != want
    ]
    where = [(start.date().isoformat(), sorted(fields)) for start, fields in differing]
    assert not differing, f"signals differ in {len(differing)} windows: {where}; {differing[:1]}"
    other = sorted(f"{start:%m-%d} {decisions.get(start)} (was {want})"
                   for start, want in expected_decisions.items()
                   if decisions.get(start) != want)  # fmt: skip
    if other and decisions_follow_arrival and set(decisions) == set(expected_decisions):
        pytest.xfail(f"{decisions_follow_arrival}: {', '.join(other)}")
    assert decisions == expected_decisions


def test_killing_every_stage_mid_stream_changes_no_signal_and_no_decision(
    settings, tmp_path, uninterrupted
):
    """SIGKILL at five points of a seeded run, each service restarted at once: the drift monitor
    during the price rise, the scorer just after, the performance monitor and the alerter during
    the concept shift, the fairness monitor during the group bias."""
    events = {6 * 300 + 100: ("kill", "monitor-drift"), 9 * 300 + 70: ("kill", "scorer"),
              13 * 300 + 40: ("kill", "monitor-performance"), 15 * 300 + 50: ("kill", "alerter"),
              22 * 300 + 20: ("kill", "monitor-fairness")}  # fmt: skip
    _assert_same_run(uninterrupted, _pipeline_run(settings, tmp_path, events))


def test_a_second_scorer_and_monitor_instances_joining_and_leaving_change_nothing(
    settings, tmp_path, uninterrupted
):
    """Second instances join their consumer groups mid-stream and leave later: the partitions are
    shared out and handed back, and every signal and decision is as with one instance each."""
    events = {4 * 300: ("join", "scorer"), 6 * 300: ("join", "monitor-drift"),
              8 * 300: ("join", "monitor-performance"), 10 * 300: ("join", "monitor-fairness"),
              17 * 300: ("leave", "scorer"), 19 * 300: ("leave", "monitor-drift"),
              21 * 300: ("leave", "monitor-performance"),
              24 * 300: ("leave", "monitor-fairness")}  # fmt: skip
    _assert_same_run(uninterrupted, _pipeline_run(settings, tmp_path, events))


# --- poison: one message of each bad kind on each topic a stage reads ----------------------------

NOT_A_NUMBER = "NaN"


def _poison_row(at: str, **changes) -> dict:
    from datetime import UTC, datetime, timedelta

    features = {"gender": "Female", "SeniorCitizen": "0", "Partner": "Yes", "Dependents": "No",
                "tenure": 12, "PhoneService": "Yes", "MultipleLines": "No",
                "InternetService": "DSL", "OnlineSecurity": "No", "OnlineBackup": "Yes",
                "DeviceProtection": "No", "TechSupport": "No", "StreamingTV": "No",
                "StreamingMovies": "No", "Contract": "Month-to-month", "PaperlessBilling": "Yes",
                "PaymentMethod": "Electronic check", "MonthlyCharges": 50.5,
                "TotalCharges": 600.0}  # fmt: skip
    features.update(changes.pop("features", {}))
    origin = datetime(2026, 3, 1, tzinfo=UTC)
    times = {
        "2999": datetime(2999, 1, 1, tzinfo=UTC),
        "9999": datetime(9999, 12, 31, tzinfo=UTC),
        "ahead": origin + timedelta(days=400),
        "stream": origin + timedelta(days=5),
    }
    return {"event_id": f"poison-{changes.pop('name')}", "customer_id": "poison",
            "event_time": times[at].isoformat(), "features": features, **changes}  # fmt: skip


def _dumped(document: dict) -> bytes:
    return json.dumps(document).encode()


# name -> (topic, payload or None for a tombstone, the reason it must be quarantined with; None:
# not quarantined, but it must not change what the clean stream gives)
def poison_sets(namespace: str) -> dict[str, list[tuple[str, bytes | None, str | None]]]:
    from shared.topics import DRIFT_SIGNALS, DRIFT_WINDOWS, LABELS
    from tests.unit.signals import drift

    raw, scored = RAW_ROWS.name, SCORED_ROWS.name
    huge = _poison_row("stream", name="huge")
    huge["features"]["tenure"] = "HUGE"
    huge_tenure = _dumped(huge).replace(b'"HUGE"', b"1" * 400)
    duplicate = _dumped(_poison_row("stream", name="duplicate")).replace(
        b'"tenure": 12', b'"tenure": 12, "tenure": 13'
    )
    nan = _dumped(_poison_row("stream", name="nan", features={"MonthlyCharges": 1.5})).replace(
        b"1.5", NOT_A_NUMBER.encode()
    )
    scored_row = _poison_row("9999", name="scored-9999") | {
        "label": 1, "prediction": 1, "probability": 0.9, "model_version": "v",
        "label_state": "INLINE",
    }  # fmt: skip
    partial = {"event_time": "2026-03-06T00:00:00Z", "monitor": "drift",
               "window_start": "2026-03-05T00:00:00Z", "window_end": "2026-03-06T00:00:00Z",
               "source": f"{namespace}.{scored}", "partition": 0,
               "closed_through": "2026-03-06T00:00:00Z", "rows": 5, "state": None}  # fmt: skip
    label = {"event_id": "poison-label", "customer_id": "poison", "label": 1,
             "event_time": "9999-12-31T00:00:00+00:00",
             "row_event_time": "2026-03-05T00:00:00+00:00"}  # fmt: skip
    future = drift(365 * 4)  # a signal for a window four years on: within the horizon
    return {
        "before the stream": [
            (raw, _dumped(_poison_row("2999", name="2999")), "EVENT_TIME_OUT_OF_RANGE")
        ],  # fmt: skip
        "mid-stream": [
            (raw, huge_tenure, "OUT_OF_RANGE"),
            (raw, _dumped(_poison_row("9999", name="9999")), "EVENT_TIME_OUT_OF_RANGE"),
            (raw, _dumped(_poison_row("ahead", name="ahead")), "EVENT_TIME_OUT_OF_RANGE"),
            (raw, None, "MALFORMED_JSON"),
            (raw, duplicate, "DUPLICATE_KEY"),
            (raw, nan, "OUT_OF_RANGE"),
            (LABELS.name, _dumped(label), "EVENT_TIME_OUT_OF_RANGE"),
            (LABELS.name, None, "MALFORMED_JSON"),
            (scored, _dumped(scored_row), "EVENT_TIME_OUT_OF_RANGE"),
            (QUARANTINE.name, None, "MALFORMED_JSON"),
            (DRIFT_WINDOWS.name, _dumped(partial), "INVALID"),
            (DRIFT_WINDOWS.name, _dumped(partial | {"source": "x", "rows": 0}), "INVALID"),
            (DRIFT_SIGNALS.name, DRIFT_SIGNALS.encode(future), None),
            (DRIFT_SIGNALS.name, None, "MALFORMED_JSON"),
        ],
    }


def write_poison(settings: Settings, name: str) -> None:
    producer = make_producer(settings)
    for topic, payload, _ in poison_sets(settings.namespace)[name]:
        producer.produce(f"{settings.namespace}.{topic}", payload, key=b"poison")
    assert producer.flush(30) == 0


def test_poison_on_every_topic_stops_nothing_and_changes_no_decision(
    settings, tmp_path, uninterrupted
):
    """One message of each kind of poison on every topic a stage reads (rows, labels, scored
    rows, quarantine records, partial windows, signals), before and during the seeded stream:
    every service keeps running, every poison message is quarantined with its reason, every
    decision of the stream's windows and every field of their signals is as without the poison
    (the drift monitor counts the poisoned rows as quarantined rows, nothing else)."""
    from collections import Counter

    events = {0: ("poison", "before the stream"), 5 * 300 + 10: ("poison", "mid-stream")}
    decisions, signals, _, rows, produced = _pipeline_run(settings, tmp_path, events)
    expected_decisions, expected_signals = uninterrupted
    assert len({r for r in rows if r and not r.startswith("poison")}) == produced == 30 * 300
    # the stream's windows decided as without the poison (the forged far window decided apart)
    assert {start: decisions[start] for start in expected_decisions} == expected_decisions
    # every poison message quarantined with its reason, where it was written
    quarantined = read_all(settings, QUARANTINE)
    found = Counter((q.source_topic.removeprefix(f"{settings.namespace}."), q.issues[0].code.value)
                    for q in quarantined if q.event_id is None
                    or q.event_id.startswith("poison"))  # fmt: skip
    poison = poison_sets(settings.namespace)
    wanted = Counter((topic, reason) for name in ("before the stream", "mid-stream")
                     for topic, _, reason in poison[name] if reason)  # fmt: skip
    for key, count in wanted.items():
        assert found[key] >= count, (key, found)
    # signals: every field as without the poison, but the drift monitor's quarantine counts,
    # which hold the poisoned rows (of rows.raw and rows.scored) and nothing else
    quarantine_fields = ("quarantined_rows", "quarantined_by_reason")
    strip = [{k: v for k, v in s.items() if k not in quarantine_fields} for s in signals
             if s["window_start"] in expected_decisions]  # fmt: skip
    want = [{k: v for k, v in s.items() if k not in quarantine_fields} for s in expected_signals]
    assert strip == want
    extra = sum(s.get("quarantined_rows", 0) for s in signals) - sum(
        s.get("quarantined_rows", 0) for s in expected_signals
    )
    row_poison = sum(1 for name in ("before the stream", "mid-stream")
                     for topic, _, reason in poison[name]
                     if topic in (RAW_ROWS.name, SCORED_ROWS.name) and reason)  # fmt: skip
    assert extra == row_poison, (extra, row_poison)


# --- a three-broker Apache Kafka cluster loses its row leader ------------------------------------


@pytest.fixture(scope="module")
def kafka_cluster():
    import os
    import shutil

    from shared.apache_kafka import KafkaCluster

    if os.environ.get("TRUSTWATCH_TEST_BROKER") != "kafka":
        pytest.skip("runs with the suites on Apache Kafka (make integration-kafka)")
    if shutil.which("java") is None or shutil.which("mvn") is None:
        pytest.skip("needs java and mvn (Apache Kafka from Maven Central)")
    with KafkaCluster(3) as cluster:
        yield cluster


@pytest.mark.parametrize("victim", ["the row leader", "the active controller"])
def test_a_three_broker_cluster_that_loses_a_node_loses_nothing(
    victim, kafka_cluster, artifacts_dir, tmp_path, uninterrupted
):
    """Replication factor 3, min.insync.replicas 2, acks=all: a node is SIGKILLed mid-stream
    (the leader of the first row partition, or the KRaft quorum's leader) and started again
    later. Every row is accounted for, every signal and decision is as in the uninterrupted run,
    no problem fires twice; how long the scored rows stalled is reported."""
    import threading
    import uuid

    from shared.kafka import make_admin
    from shared.tail import read_back

    kafka_cluster.wait_ready()  # a node the run before restarted is back

    settings = Settings(
        bootstrap_servers=kafka_cluster.bootstrap_servers,
        namespace=f"test-{uuid.uuid4().hex[:10]}-cluster", artifacts_dir=artifacts_dir,
        history_path=tmp_path / "history.sqlite", session_timeout_ms=2000,
        heartbeat_interval_ms=500, idle_flush_seconds=1.0, batch_size=200,
        topic_replication_factor=3, topic_min_insync_replicas=2,
    )  # fmt: skip
    killed: list = []

    def in_sync() -> bool:
        topics = make_admin(settings).list_topics(timeout=10).topics
        ours = [t for name, t in topics.items() if name.startswith(f"{settings.namespace}.")]
        return bool(ours) and all(len(p.isrs) == 3 for t in ours for p in t.partitions.values())

    def kill_it() -> None:
        # every replica in sync first: a node that is still catching up is not a failover
        assert _wait(in_sync, 90), "the replicas were not in sync before the kill"
        metadata = make_admin(settings).list_topics(settings.topic_name(RAW_ROWS), timeout=10)
        row_leader = metadata.topics[settings.topic_name(RAW_ROWS)].partitions[0].leader
        node = row_leader if victim == "the row leader" else kafka_cluster.active_controller()
        kafka_cluster.node(node).kill()
        killed.append((node, node == row_leader))

    def restart_it() -> None:
        # launched from this thread, the test's own: Linux stops a child when the thread that
        # started it ends (shared.process.stop_with_parent), and a thread that started it here
        # ended once the node answered, taking the node with it
        node = kafka_cluster.node(killed[0][0])
        node.launch()
        threading.Thread(target=node.wait_ready, kwargs={"timeout": 120}, daemon=True).start()

    events = {8 * 300 + 50: ("do", kill_it), 16 * 300: ("do", restart_it)}
    run = _pipeline_run(settings, tmp_path, events)
    # Seen on 6f8f131 (in CI and once of three runs here): the decisions of 03-25 to 03-28
    # ESCALATE_FAIRNESS instead of NO_ACTION (the signals were not compared then: the decisions
    # were asserted first). The alerter then judged signals in arrival order; it now judges a
    # window's signals in one order once the monitors in step have reported it, but a monitor
    # a failover holds back more than a window is not waited for.
    _assert_same_run(
        uninterrupted,
        run,
        decisions_follow_arrival=(
            "decisions may follow arrival when a monitor falls more than a window behind"
        ),
    )
    stamps = sorted(m.timestamp_ms for m in read_back(settings, [SCORED_ROWS], quiet=2.0))
    stall = max(b - a for a, b in zip(stamps, stamps[1:], strict=False)) / 1000
    node, led_rows = killed[0]
    also = " and the row leader" if led_rows and victim != "the row leader" else ""
    print(f"node {node} ({victim}{also}) killed; scored rows stalled {stall:.1f} s")
