"""Quarantined rows sent back once their source is fixed, on a real broker: the records keep the
messages byte for byte, `trustwatch quarantine replay` sends the chosen ones back, and the scorer
scores them; a second replay sends nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from typer.testing import CliRunner

from scorer.app import build as build_scorer
from shared.kafka import ensure_topics, make_consumer, make_producer
from shared.schemas import IssueCode
from shared.topics import QUARANTINE, RAW_ROWS, REPLAY_OF_HEADER, SCORED_ROWS
from tests.integration.helpers import read_all
from tests.unit.test_validation import VALID

pytestmark = pytest.mark.integration


def _row(name: str, at: datetime, **features) -> bytes:
    document = json.loads(json.dumps(VALID))
    document.update(event_id=name, customer_id=f"c-{name}", event_time=at.isoformat())
    document["features"].update(features)
    return json.dumps(document, indent=1).encode()  # spaced: not as trustwatch would encode it


def _raw_records(settings, topic, count: int) -> list:
    """``count`` messages of ``topic``'s partitions, as the broker holds them (key, headers)."""
    consumer = make_consumer(settings, group_id=f"raw-{uuid.uuid4().hex[:8]}")
    name = settings.topic_name(topic)
    consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in range(topic.partitions)])
    found = []
    try:
        for _ in range(300):
            found += [m for m in consumer.consume(100, timeout=0.2) if m.error() is None]
            if len(found) >= count:
                return found
    finally:
        consumer.close()
    raise AssertionError(f"{len(found)} of {count} messages on {name}")


def test_rows_quarantined_by_a_misconfigured_scorer_are_replayed_once_and_scored(settings):
    start = settings.simulation_start
    # a scorer started with a one-day horizon (a backfill's start set wrong) refuses the rows of
    # day five; a category the model never saw stays refused whatever is fixed
    rows = {f"in-range-{i}": _row(f"in-range-{i}", start + timedelta(hours=i)) for i in range(3)}
    late = {f"day-five-{i}": _row(f"day-five-{i}", start + timedelta(days=5, hours=i))
            for i in range(4)}  # fmt: skip
    unseen = {"unseen": _row("unseen", start + timedelta(hours=5), Contract="Lifetime")}
    ensure_topics(settings)
    producer = make_producer(settings)
    sent = {**rows, **late, **unseen}
    for name, payload in sent.items():
        producer.produce(settings.topic_name(RAW_ROWS), payload, key=f"c-{name}",
                         headers=[("event_id", name.encode()), ("origin", b"crm")])  # fmt: skip
    producer.produce(settings.topic_name(RAW_ROWS), b"\xff not json", key=b"\x00k")
    assert producer.flush(30) == 0

    narrow = settings.model_copy(update={"event_time_horizon_days": 1.0})
    build_scorer(narrow).run(max_messages=len(sent) + 1, idle_timeout=10)
    quarantined = read_all(settings, QUARANTINE, expected=6)
    by_id = {q.event_id: q for q in quarantined}
    assert {name: by_id[name].issues[0].code for name in late} == dict.fromkeys(
        late, IssueCode.EVENT_TIME_OUT_OF_RANGE
    )
    assert by_id["unseen"].issues[0].code == IssueCode.UNSEEN_CATEGORY
    # every record keeps its message byte for byte: value, key and headers
    for name, payload in {**late, **unseen}.items():
        original = by_id[name].original
        assert (original.value, original.key) == (payload, f"c-{name}".encode())
        assert original.headers == (("event_id", name.encode()), ("origin", b"crm"))
        assert not original.truncated and original.size == len(payload)
    assert by_id[None].original.value == b"\xff not json"
    # ... and is published under that key and headers, its reasons and source beside them
    on_topic = {m.key(): m for m in _raw_records(settings, QUARANTINE, 6)}
    unseen_record = on_topic[b"c-unseen"]
    headers = dict(unseen_record.headers())
    assert headers["origin"] == b"crm" and headers["quarantine_reasons"] == b"UNSEEN_CATEGORY"
    assert headers["quarantine_source"].startswith(settings.topic_name(RAW_ROWS).encode())

    # the fix: the scorer's horizon back to its default; then the replay, as a user runs it
    env = {"TRUSTWATCH_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
           "TRUSTWATCH_NAMESPACE": settings.namespace}  # fmt: skip
    from trustwatch.cli import app

    replay = ["quarantine", "replay", "--reason", "EVENT_TIME_OUT_OF_RANGE"]
    dry = CliRunner().invoke(app, [*replay, "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "would send back 4 messages (EVENT_TIME_OUT_OF_RANGE 4)" in dry.output
    assert "2 not asked for" in dry.output
    # a row whose own time is unusable is filed at the time of the row before it (day one)
    none = CliRunner().invoke(app, [*replay, "--since", "2026-03-02", "--dry-run"], env=env)
    assert "would send back 0 messages" in none.output and "6 not asked for" in none.output
    done = CliRunner().invoke(app, [*replay, "--until", "2026-03-02T00:00"], env=env)
    assert done.exit_code == 0, done.output
    assert "sent back 4 messages" in done.output
    again = CliRunner().invoke(app, replay, env=env)
    assert again.exit_code == 0, again.output
    assert "sent back 0 messages" in again.output and "4 replayed before" in again.output

    # what went back is what came, with the record it was replayed from
    raw = _raw_records(settings, RAW_ROWS, len(sent) + 1 + 4)
    replayed = [m for m in raw if REPLAY_OF_HEADER in dict(m.headers() or ())]
    assert sorted(m.value() for m in replayed) == sorted(late.values())
    assert all(dict(m.headers())["origin"] == b"crm" for m in replayed)
    assert {m.key() for m in replayed} == {f"c-{name}".encode() for name in late}

    build_scorer(settings).run(max_messages=4, idle_timeout=10)
    scored = read_all(settings, SCORED_ROWS, expected=len(rows) + len(late))
    assert sorted(s.event_id for s in scored) == sorted([*rows, *late])
    assert len(read_all(settings, QUARANTINE, expected=6)) == 6  # nothing quarantined again
    assert all(s.event_time >= datetime(2026, 3, 1, tzinfo=UTC) for s in scored)
