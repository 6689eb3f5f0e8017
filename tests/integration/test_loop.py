"""The shared consumer loop on a real broker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.kafka import ensure_topics
from shared.loop import ConsumerLoop, Handler, Outbound
from shared.schemas import Alert, AlertSeverity, AlertStatus, AlertType, IssueCode
from shared.topics import ALERTS, DECISIONS, QUARANTINE, Topic
from tests.integration.helpers import publish, publish_raw, read_all

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 1, tzinfo=UTC)
SOURCE = Topic("loop.source", 2, Alert)
SINK = Topic("loop.sink", 1, Alert)


def alert(index: int) -> Alert:
    return Alert(
        event_time=NOW, key=f"k{index}", status=AlertStatus.FIRING, type=AlertType.DRIFT,
        severity=AlertSeverity.INFO, subject=str(index), explanation="", window_start=NOW,
        window_end=NOW,
    )  # fmt: skip


class SimulatedCrash(BaseException):
    """The process dies (not an error of one message, which the loop sets aside)."""


class Relay(Handler):
    """Copies messages to the sink; can be told to crash once it has seen ``fail_at`` messages,
    and to fail on the message with subject ``poison``."""

    def __init__(self, fail_at: int | None = None, poison: str | None = None):
        self.seen: list[str] = []
        self.fail_at = fail_at
        self.poison = poison

    def handle(self, batch):
        outputs = []
        for item in batch:
            if self.fail_at is not None and len(self.seen) >= self.fail_at:
                raise SimulatedCrash("simulated crash")
            if item.value.subject == self.poison:
                raise ValueError(f"cannot handle {self.poison}")
            self.seen.append(item.value.subject)
            outputs.append(Outbound(SINK, item.value, key=item.value.key))
        return outputs


@pytest.fixture
def topics(settings):
    ensure_topics(settings, [SOURCE, SINK, QUARANTINE, ALERTS, DECISIONS])


def test_undecodable_messages_are_quarantined_and_the_loop_goes_on(settings, topics):
    publish(settings, SOURCE, [alert(0)])
    publish_raw(settings, SOURCE, [b"{not json", b'{"event_id": "e9", "key": 3}', b"x" * 20_000])
    publish(settings, SOURCE, [alert(1)])
    handler = Relay()
    stats = ConsumerLoop(settings, "relay", [SOURCE], handler).run(max_messages=5, idle_timeout=15)
    assert stats.consumed == 5 and stats.quarantined == 3
    assert sorted(handler.seen) == ["0", "1"]
    quarantined = read_all(settings, QUARANTINE, expected=3)
    codes = sorted(q.issues[0].code for q in quarantined)
    assert codes == sorted([IssueCode.MALFORMED_JSON, IssueCode.MISSING_FIELD, IssueCode.OVERSIZED])
    assert {q.source_topic for q in quarantined} == {settings.topic_name(SOURCE)}
    assert all(q.payload_bytes > 0 for q in quarantined)
    oversized = next(q for q in quarantined if q.issues[0].code == IssueCode.OVERSIZED)
    assert (
        oversized.payload_truncated and len(oversized.payload) <= settings.quarantine_payload_chars
    )
    assert next(q for q in quarantined if q.payload.startswith('{"event_id"')).event_id == "e9"
    # what the relay published after those records says where they end on the quarantine topic,
    # to a stage that reads both (as the drift monitor does); a stage that does not read the
    # quarantine topic does not parse the marks
    recorder = Recorder()
    ConsumerLoop(settings, "recorder", [SINK, QUARANTINE], recorder).run(
        max_messages=5, idle_timeout=15
    )
    assert recorder.marks["1"] == {0: 3}
    assert all(marks in ({}, {0: 3}) for marks in recorder.marks.values())
    blind = Recorder()
    ConsumerLoop(settings, "blind", [SINK], blind).run(max_messages=2, idle_timeout=15)
    assert blind.marks == {"0": {}, "1": {}}


class Recorder(Handler):
    """Remembers the quarantine marks each message arrived with."""

    def __init__(self):
        self.marks: dict[str, dict[int, int]] = {}

    def handle(self, batch):
        for item in batch:
            if isinstance(item.value, Alert):
                self.marks[item.value.subject] = dict(item.quarantine_marks)
        return []


def test_a_stage_reading_the_quarantine_topic_waits_for_its_own_records(settings, topics):
    """A broken message met by a stage that reads the quarantine topic (the drift monitor, on the
    scored rows): the messages read after it carry the offset its own record reached, as they
    carry the scorer's, so the stage reads the record back before their time closes its window
    (without it, the broken row counted late, or not, by the race)."""
    publish(settings, SOURCE, [alert(0)])
    publish_raw(settings, SOURCE, [b"{not json"])
    publish(settings, SOURCE, [alert(1)])
    recorder = Recorder()
    loop = ConsumerLoop(settings, "recorder", [SOURCE, QUARANTINE], recorder)
    stats = loop.run(max_messages=4, idle_timeout=15)
    assert stats.quarantined == 1
    assert recorder.marks["1"] == {0: 1}
    (record,) = read_all(settings, QUARANTINE, expected=1)
    assert record.issues[0].code == IssueCode.MALFORMED_JSON


def test_a_message_whose_handling_fails_is_quarantined_and_its_batch_goes_on(settings, topics):
    publish(settings, SOURCE, [alert(i) for i in range(20)], key="one-partition")
    handler = Relay(poison="13")
    stats = ConsumerLoop(settings, "relay", [SOURCE], handler).run(max_messages=20, idle_timeout=15)
    assert stats.consumed == 20
    assert {a.subject for a in read_all(settings, SINK, expected=19)} == {
        str(i) for i in range(20) if i != 13
    }
    (record,) = read_all(settings, QUARANTINE, expected=1)
    (issue,) = record.issues
    assert issue.code == IssueCode.PROCESSING_FAILED and "cannot handle 13" in issue.detail
    assert record.source_offset == 13 and '"subject":"13"' in record.payload


def test_event_times_out_of_range_are_quarantined_and_broken_ones_take_their_neighbours(
    settings, topics
):
    """A message stamped 9999-12-31 or 2999 never reaches the handler; a tombstone without
    headers takes the time of the message before it on the partition, not the wall clock."""
    far = [alert(1).model_copy(update={"event_time": datetime(year, 12, 31, tzinfo=UTC)})
           for year in (9999, 2999)]  # fmt: skip
    publish(settings, SOURCE, [alert(0), *far], key="one-partition")
    publish_raw(settings, SOURCE, [None], key="one-partition")
    publish(settings, SOURCE, [alert(2)], key="one-partition")
    handler = Relay()
    ConsumerLoop(settings, "relay", [SOURCE], handler).run(max_messages=5, idle_timeout=15)
    assert handler.seen == ["0", "2"]
    quarantined = read_all(settings, QUARANTINE, expected=3)
    codes = [q.issues[0].code for q in quarantined]
    assert codes == [IssueCode.EVENT_TIME_OUT_OF_RANGE] * 2 + [IssueCode.MALFORMED_JSON]
    assert all(q.event_time == NOW for q in quarantined)
    assert "after" in quarantined[0].issues[0].detail


def test_a_crash_before_delivery_re_reads_instead_of_losing(settings, topics):
    publish(settings, SOURCE, [alert(i) for i in range(30)], key="one-partition")
    settings = settings.model_copy(update={"batch_size": 5})
    crashing = Relay(fail_at=10)
    with pytest.raises(SimulatedCrash, match="simulated crash"):
        ConsumerLoop(settings, "relay", [SOURCE], crashing).run(idle_timeout=15)
    resumed = Relay()
    ConsumerLoop(settings, "relay", [SOURCE], resumed).run(idle_timeout=4)
    delivered = read_all(settings, SINK)
    # at-least-once: every message reaches the sink; the failed batch is handled again
    assert {a.subject for a in delivered} == {str(i) for i in range(30)}
    assert set(resumed.seen) | set(crashing.seen) == {str(i) for i in range(30)}
    assert len(resumed.seen) < 30  # what was delivered before the crash was committed


class Holding(Relay):
    """Publishes nothing and holds every offset it has seen, like an open window."""

    def __init__(self):
        super().__init__()
        self.first: dict = {}

    def handle(self, batch):
        for item in batch:
            self.seen.append(item.value.subject)
            self.first.setdefault(item.partition_key, item.offset)
        return []

    def held_offsets(self):
        return self.first


def test_held_offsets_are_re_read_after_a_restart(settings, topics):
    publish(settings, SOURCE, [alert(i) for i in range(12)], key="one-partition")
    first = Holding()
    ConsumerLoop(settings, "holder", [SOURCE], first).run(idle_timeout=4)
    assert len(first.seen) == 12
    second = Relay()
    ConsumerLoop(settings, "holder", [SOURCE], second).run(idle_timeout=4)
    assert sorted(second.seen, key=int) == [str(i) for i in range(12)]


def test_consumer_lag_comes_from_the_consumers_own_fetches(settings, topics):
    from prometheus_client import CollectorRegistry

    from shared.metrics import LoopMetrics

    publish(settings, SOURCE, [alert(i) for i in range(60)], key="one-partition")
    registry = CollectorRegistry()
    settings = settings.model_copy(update={"batch_size": 20})
    loop = ConsumerLoop(settings, "lagging", [SOURCE], Relay(),
                        metrics=LoopMetrics(registry))  # fmt: skip
    loop.run(max_messages=20, idle_timeout=15)
    lag = registry.get_sample_value("trustwatch_consumer_lag_messages", {"topic": SOURCE.name})
    assert lag == 40  # 60 published, 20 read


class Inflater(Handler):
    """Relays each alert, the one named ``huge`` grown past any broker's message limit."""

    def handle(self, batch):
        outputs = []
        for item in batch:
            value = item.value
            if value.subject == "huge":
                value = value.model_copy(update={"explanation": "x" * 2_000_000})
            outputs.append(Outbound(SINK, value, key=value.key))
        return outputs


def test_an_output_the_broker_refuses_goes_to_quarantine_and_the_loop_goes_on(settings, topics):
    huge = alert(1).model_copy(update={"subject": "huge"})
    publish(settings, SOURCE, [alert(0), huge, alert(2)])
    stats = ConsumerLoop(settings, "inflater", [SOURCE], Inflater()).run(
        max_messages=3, idle_timeout=15
    )
    assert stats.consumed == 3 and stats.produced == 3  # two relayed, one quarantine record
    assert sorted(a.subject for a in read_all(settings, SINK, expected=2)) == ["0", "2"]
    (record,) = read_all(settings, QUARANTINE, expected=1)
    assert record.issues[0].code == IssueCode.PUBLISH_REFUSED
    assert settings.topic_name(SINK) in record.issues[0].detail
    assert record.source_topic == settings.topic_name(SINK) and record.source_offset == -1
    assert record.payload_bytes > 2_000_000 and record.payload_truncated
    # the offsets moved on: nothing is read again, nothing is stuck
    again = ConsumerLoop(settings, "inflater", [SOURCE], Inflater()).run(idle_timeout=5)
    assert again.consumed == 0
