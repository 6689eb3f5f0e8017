"""Which quarantine records a replay sends back, without a broker."""

from datetime import UTC, datetime, timedelta

from shared.records import original_message
from shared.schemas import FieldIssue, IssueCode, QuarantinedRow
from trustwatch.quarantine import ReplayFilter, choose

RAW, SCORED = "t.rows.raw", "t.rows.scored"
DAY = datetime(2026, 3, 1, tzinfo=UTC)


def record(offset: int, code: IssueCode, at: datetime = DAY, topic: str = RAW,
           value: bytes = b"{}", limit: int = 1024) -> tuple[int, QuarantinedRow]:  # fmt: skip
    issue = FieldIssue(field="$", code=code, detail="")
    original = original_message(value, b"k", None, limit)
    return offset, QuarantinedRow(
        event_time=at, event_id=f"e{offset}", source_topic=topic, source_partition=0,
        source_offset=100 + offset, issues=(issue,), payload="", payload_bytes=len(value),
        payload_truncated=original.truncated, original=original,
    )  # fmt: skip


def test_the_filter_the_inputs_the_whole_original_and_one_send_per_source_position():
    records = [
        record(0, IssueCode.OUT_OF_RANGE),
        record(1, IssueCode.UNSEEN_CATEGORY),
        record(2, IssueCode.OUT_OF_RANGE, at=DAY + timedelta(days=3)),
        record(3, IssueCode.OUT_OF_RANGE, topic=SCORED),
        record(4, IssueCode.OUT_OF_RANGE, value=b"x" * 2000),  # kept cut
        record(5, IssueCode.OUT_OF_RANGE),
        record(0, IssueCode.OUT_OF_RANGE),  # the same source quarantined twice (a restart)
    ]
    wanted = ReplayFilter(frozenset({IssueCode.OUT_OF_RANGE}), until=DAY + timedelta(days=1))
    plan = choose(records, replayed=[(RAW, 0, 105)], inputs=[RAW], wanted=wanted)
    assert [offset for offset, _ in plan.send] == [0]
    assert plan.skipped == {"not asked for": 2, "not from an input topic": 1,
                            "original kept cut": 1, "replayed before": 2}  # fmt: skip
    assert plan.by_reason() == {"OUT_OF_RANGE": 1}


def test_no_filter_admits_every_reason_and_time():
    records = [record(i, code) for i, code in enumerate(IssueCode)]
    plan = choose(records, replayed=[], inputs=[RAW], wanted=ReplayFilter())
    assert len(plan.send) == len(IssueCode) and not plan.skipped
    since = ReplayFilter(since=DAY + timedelta(seconds=1))
    assert choose(records, [], [RAW], since).skipped == {"not asked for": len(IssueCode)}
