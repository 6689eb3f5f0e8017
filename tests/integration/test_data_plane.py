"""Nothing lost: every produced row ends as one scored or one quarantined record, on a real
broker, through late labels, a SIGKILL of the scorer, and a second scorer joining and leaving."""

from __future__ import annotations

import json
import signal
from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry

from producer.app import produce
from producer.scenario import Scenario
from producer.stream import StreamPlan
from scorer.app import build as build_scorer
from shared.broker import free_port
from shared.kafka import ensure_topics, make_producer
from shared.schemas import LabelState, QuarantinedRow, ScoredRow
from shared.topics import EVENT_ID_HEADER, QUARANTINE, RAW_ROWS, SCORED_ROWS
from tests.conftest import TELCO_CONTRACT
from tests.integration.helpers import Collector, read_all, start_service

pytestmark = pytest.mark.integration

ORIGIN = datetime(2026, 3, 1, tzinfo=UTC)
FAULTY = Scenario.model_validate(
    {"name": "faulty", "description": "5 % faults every day", "days": 6,
     "steps": [{"kind": "schema", "intensity": 0.05, "start_day": 0}]}
)  # fmt: skip


def plan(days=6, rows=500, delay=0.0, scenario=FAULTY, seed=5):
    return StreamPlan(scenario, days, rows, seed, ORIGIN, label_delay_days=delay)


def outcome(values):
    """Event ids that ended scored (with their label once known) or quarantined."""
    scored, labelled, quarantined = set(), {}, set()
    for value in values:
        if isinstance(value, ScoredRow):
            scored.add(value.event_id)
            if value.label_state in (LabelState.INLINE, LabelState.JOINED):
                # micro-batches of another size may change the last bits of a probability
                labelled[value.event_id] = (value.label, value.prediction,
                                            round(value.probability, 12))  # fmt: skip
        elif isinstance(value, QuarantinedRow):
            quarantined.add(value.event_id)
    return scored, labelled, quarantined


def expected_ids(stream_plan):
    from model.datasets import load_clean, split
    from producer.stream import generate

    emissions = [e for e in generate(stream_plan, split(load_clean()).production, TELCO_CONTRACT)]
    rows = [e for e in emissions if e.topic == RAW_ROWS]
    return {e.event_id for e in rows}, {e.event_id for e in rows if e.fault is not None}


def test_late_labels_give_the_same_scored_rows_as_inline(settings):
    inline_settings = settings.model_copy(update={"namespace": settings.namespace + "-inline"})
    results = {}
    for name, current, delay in (("inline", inline_settings, 0.0), ("late", settings, 2.0)):
        ensure_topics(current)
        produce(current, plan(days=4, rows=200, delay=delay))
        registry = CollectorRegistry()
        stats = build_scorer(current, registry).run(idle_timeout=4)
        assert stats.consumed == 800 * (2 if delay else 1)
        # every prediction found its label: none is left waiting
        assert registry.get_sample_value("trustwatch_scorer_labels_pending") == 0
        results[name] = outcome(read_all(current, SCORED_ROWS))
    assert results["inline"][1] == results["late"][1]  # (label, prediction, probability) by id
    assert len(results["late"][1]) == len(results["late"][0]) > 700


def test_scorer_killed_mid_stream_loses_nothing(settings, tmp_path):
    stream_plan = plan(delay=1.0)
    all_ids, faulty_ids = expected_ids(stream_plan)
    ensure_topics(settings)
    result = produce(settings, stream_plan)
    assert result.produced == len(all_ids) and result.failed == 0

    collector = Collector(settings, [SCORED_ROWS, QUARANTINE])
    first = start_service(settings, "score", log_path=tmp_path / "first.log",
                          TRUSTWATCH_BATCH_SIZE="25")  # fmt: skip
    assert collector.wait_for(lambda values: len(values) >= 400), "the scorer never got going"
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    seen_at_kill = len(collector.values)
    second = start_service(settings, "score", log_path=tmp_path / "second.log")
    collector.wait_for(lambda values: len(outcome(values)[1]) >= len(all_ids - faulty_ids), 90)
    collector.wait_quiet(seconds=3)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=20) == 0
    scored, labelled, quarantined = outcome(collector.close())

    assert seen_at_kill < 2 * len(all_ids)  # it was killed mid-stream, not after the end
    assert scored | quarantined == all_ids
    assert not scored & quarantined
    assert quarantined == faulty_ids
    assert set(labelled) == all_ids - faulty_ids  # every late label joined, across the kill


def test_a_second_scorer_joining_and_leaving_loses_nothing(settings, tmp_path):
    import threading

    stream_plan = plan(days=16, rows=500)
    all_ids, faulty_ids = expected_ids(stream_plan)
    ensure_topics(settings)
    collector = Collector(settings, [SCORED_ROWS, QUARANTINE])
    first = start_service(settings, "score", log_path=tmp_path / "first.log")
    # slow enough that a second scorer, which takes seconds to start on a busy machine, joins
    # while rows still flow
    producing = threading.Thread(target=produce, args=(settings, stream_plan, 300.0))
    producing.start()
    assert collector.wait_for(lambda values: len(values) >= 300)
    port = free_port()
    second = start_service(settings, "score", log_path=tmp_path / "second.log",
                           TRUSTWATCH_METRICS_PORT=str(port))  # fmt: skip
    # the group rebalances and the second scorer takes its share before it leaves
    assert collector.wait_for(lambda _: consumed_by(port) >= 300, timeout=60)
    assert producing.is_alive(), "the stream ended before the second scorer left"
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=20) == 0
    producing.join(timeout=60)
    collector.wait_for(lambda values: len(outcome(values)[0] | outcome(values)[2]) >= len(all_ids))
    collector.wait_quiet(seconds=3)
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=20) == 0
    scored, _, quarantined = outcome(collector.close())
    assert scored | quarantined == all_ids
    assert quarantined == faulty_ids


def consumed_by(port: int) -> float:
    """Messages a service has read, from its own /metrics (0 until it answers)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except OSError:
        return 0.0
    return sum(
        sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == "trustwatch_messages_consumed_total"
    )


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=6,
)  # fmt: skip


@st.composite
def payloads(draw, valid_document):
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return draw(st.binary(max_size=300))
    if choice == 1:
        return draw(st.text(max_size=200)).encode()
    document = json.loads(json.dumps(valid_document))
    target = document if choice == 2 else document["features"]
    key = draw(st.sampled_from(sorted(target)))
    if draw(st.booleans()):
        del target[key]
    else:
        target[key] = draw(JSON_VALUES)
    return json.dumps(document).encode()


@pytest.fixture(scope="module")
def valid_document(data_split):
    from producer.stream import generate

    emission = next(generate(plan(days=1, rows=1), data_split.production, TELCO_CONTRACT))
    return json.loads(emission.payload)


@hypothesis_settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_arbitrary_payloads_never_crash_the_scorer_nor_get_lost(settings, valid_document, data):
    import uuid

    batch = data.draw(st.lists(payloads(valid_document), min_size=50, max_size=50))
    current = settings.model_copy(
        update={"namespace": f"{settings.namespace}-{uuid.uuid4().hex[:6]}"}
    )
    ensure_topics(current)
    producer = make_producer(current)
    ids = [f"p{index}" for index in range(len(batch))]
    for event_id, payload in zip(ids, batch, strict=True):
        producer.produce(current.topic_name(RAW_ROWS), payload, key="k",
                         headers=[(EVENT_ID_HEADER, event_id.encode())])  # fmt: skip
    assert producer.flush(30) == 0
    stats = build_scorer(current).run(max_messages=len(batch), idle_timeout=15)
    assert stats.consumed == len(batch)
    outputs = read_all(current, SCORED_ROWS) + read_all(current, QUARANTINE)
    quarantined = Counter(o.event_id for o in outputs if isinstance(o, QuarantinedRow))
    scored = [o for o in outputs if isinstance(o, ScoredRow)]
    # every payload produced exactly one output; a valid one keeps its own event id
    assert sum(quarantined.values()) + len(scored) == len(batch)
    assert all(count == 1 for event_id, count in quarantined.items() if event_id in ids)
    assert all(q.issues for o in outputs if isinstance(q := o, QuarantinedRow))


def test_a_drift_monitor_catching_up_counts_every_quarantined_row(settings):
    from monitors.app import MonitorKind
    from monitors.app import build as build_monitor
    from shared.topics import DRIFT_SIGNALS

    ensure_topics(settings)
    stream_plan = plan(days=6, rows=300)
    result = produce(settings, stream_plan)
    build_scorer(settings).run(idle_timeout=4)
    # the monitor starts only now, with the whole backlog of both topics waiting
    build_monitor(settings, MonitorKind.DRIFT).run(idle_timeout=4)
    signals = read_all(settings, DRIFT_SIGNALS)
    assert len(signals) == 6
    assert sum(s.quarantined_rows for s in signals) == sum(result.faults.values()) > 0
    assert sum(s.late_rows for s in signals) == 0
