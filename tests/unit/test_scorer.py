"""The scorer's handler on whole batches, without a broker: rows are validated and scored column
by column, the bad ones quarantined with their reasons, the rest exactly as one at a time."""

import json

import numpy as np

from model.artifact import load_model
from model.messages import RowMessages
from scorer.service import ScorerHandler, score_probabilities
from shared.handler import Inbound
from shared.records import Keep
from shared.schemas import IssueCode, QuarantinedRow, RawRow, ScoredRow
from shared.topics import RAW_ROWS
from tests.conftest import TELCO_CONTRACT
from tests.unit.test_validation import VALID

KEEP = Keep(payload_chars=2048, original_bytes=65_536)


def inbound(index: int, **features) -> Inbound:
    document = json.loads(json.dumps(VALID))
    document["event_id"] = f"e{index}"
    document["features"].update(features)
    # as a producer other than ours may send it: spaced JSON, a header of its own
    payload = json.dumps(document, indent=1).encode()
    row = RowMessages.of(TELCO_CONTRACT).raw.decode(payload)
    headers = [("event_id", document["event_id"].encode()), ("origin", b"crm-export")]
    return Inbound(RAW_ROWS, row, b"c1", 0, index, "t.rows.raw", 0, {}, payload, headers)


def test_bad_rows_are_quarantined_and_the_rest_of_the_batch_scored(version_dir, metadata):
    model = load_model(version_dir, metadata)
    batch = [
        inbound(0),
        inbound(1, tenure=10**400),  # parses as an int, too large for any float
        inbound(2, Contract="Ten year"),
        inbound(3, tenure=40, MonthlyCharges=99.5),
    ]
    outputs = ScorerHandler(model, metadata, KEEP).handle(batch)
    scored = [o.value for o in outputs if isinstance(o.value, ScoredRow)]
    refused = [o.value for o in outputs if isinstance(o.value, QuarantinedRow)]
    quarantined = {q.event_id: q for q in refused}
    assert [s.event_id for s in scored] == ["e0", "e3"]
    assert quarantined["e1"].issues[0].code == IssueCode.OUT_OF_RANGE
    assert quarantined["e2"].issues[0].code == IssueCode.UNSEEN_CATEGORY
    # each keeps its message byte for byte, for a replay, under its key and headers, which say
    # the reasons too
    refusals = {o.value.event_id: o for o in outputs if isinstance(o.value, QuarantinedRow)}
    for item in batch[1:3]:
        output = refusals[item.value.event_id]
        original = output.value.original
        assert (original.value, original.key, original.headers) == (
            item.payload,
            b"c1",
            tuple(item.headers),
        )
        assert not original.truncated and original.size == len(item.payload)
        assert output.key == b"c1"
        assert output.headers[:2] == item.headers
        assert dict(output.headers[2:])["quarantine_reasons"] in (
            b"OUT_OF_RANGE",
            b"UNSEEN_CATEGORY",
        )
    # the same probability as each row scored alone
    names = metadata.contract.names
    alone = [score_probabilities(model, [item.value], names)[0] for item in (batch[0], batch[3])]
    assert [s.probability for s in scored] == alone
    assert all(s.prediction == int(s.probability >= metadata.threshold) for s in scored)
    # what is published validates as the topic's model
    for row in scored:
        assert ScoredRow.model_validate_json(row.model_dump_json()) == row


class NaNModel:
    def predict_proba(self, frame):
        return np.full((len(frame), 2), np.nan)


def test_a_model_without_a_probability_quarantines_the_row(metadata):
    (output,) = ScorerHandler(NaNModel(), metadata, KEEP).handle([inbound(0)])
    assert isinstance(output.value, QuarantinedRow)
    assert output.value.issues[0].code == IssueCode.INVALID
    assert isinstance(RAW_ROWS.decode(output.value.payload), RawRow)


def test_a_row_far_ahead_of_its_partition_is_quarantined_and_moves_nothing(version_dir, metadata):
    """A row stamped years ahead of its neighbours is refused as EVENT_TIME_OUT_OF_RANGE and
    the partition's clock stays where it was: the rows after it are scored as usual."""
    from datetime import timedelta

    model = load_model(version_dir, metadata)
    batch = [inbound(i) for i in range(4)]
    start = batch[0].value.event_time
    batch[1].value = batch[1].value.model_copy(update={"event_time": start + timedelta(days=900)})
    batch[2].value = batch[2].value.model_copy(update={"event_time": start + timedelta(hours=1)})
    handler = ScorerHandler(model, metadata, KEEP, max_skew=timedelta(days=7), jump_rows=3)
    outputs = handler.handle(batch)
    scored = [o.value.event_id for o in outputs if isinstance(o.value, ScoredRow)]
    (refused,) = [o.value for o in outputs if isinstance(o.value, QuarantinedRow)]
    assert scored == ["e0", "e2", "e3"]
    assert refused.event_id == "e1" and refused.issues[0].code == IssueCode.EVENT_TIME_OUT_OF_RANGE
    assert refused.event_time == start  # filed at its partition's time, not its own stamp
    assert handler.clocks[("t.rows.raw", 0)].newest == start + timedelta(hours=1)


def test_a_partitions_first_row_is_judged_against_the_other_partitions(version_dir, metadata):
    from datetime import timedelta

    model = load_model(version_dir, metadata)
    first, stray = inbound(0), inbound(1)
    stray.partition = 2
    stray.value = stray.value.model_copy(
        update={"event_time": first.value.event_time + timedelta(days=300)}
    )
    handler = ScorerHandler(model, metadata, KEEP, max_skew=timedelta(days=7))
    outputs = handler.handle([first, stray])
    assert [type(o.value).__name__ for o in outputs] == ["QuarantinedRow", "ScoredRow"]
    assert outputs[0].value.issues[0].code == IssueCode.EVENT_TIME_OUT_OF_RANGE
