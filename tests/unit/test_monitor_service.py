"""The monitor handlers without a broker: windows, label states, rolling views, confirmation, and
the same signals from one instance or several, across a crash and a rebalance."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from model.artifact import load_reference
from model.features import SENSITIVE_ATTRIBUTES
from monitors.calculators import (
    DriftCalculator,
    EstimatedPerformanceCalculator,
    FairnessCalculator,
    PerformanceCalculator,
    StreamClock,
)
from monitors.service import monitor_handler
from shared.schemas import (
    DriftSeverity,
    FieldIssue,
    IssueCode,
    LabelState,
    QuarantinedRow,
    ScoredRow,
)
from shared.settings import Settings
from shared.topics import (
    DRIFT_WINDOWS,
    FAIRNESS_WINDOWS,
    PERFORMANCE_WINDOWS,
    QUARANTINE,
    SCORED_ROWS,
)
from tests.conftest import telco_features
from tests.unit.monitor_cluster import Cluster, comparable

ORIGIN = datetime(2026, 3, 1, tzinfo=UTC)
SETTINGS = Settings(namespace="t", simulation_start=ORIGIN)
SCORED = SETTINGS.topic_name(SCORED_ROWS)
ALL_SCORED = [(SCORED, p) for p in range(SCORED_ROWS.partitions)]
CLOCK = StreamClock(ORIGIN, timedelta(seconds=SETTINGS.window_seconds), 512)


def drift(reference, metadata, policy):
    return DriftCalculator(reference, metadata, policy, CLOCK)


def performance(metadata, policy):
    return PerformanceCalculator(metadata, policy, CLOCK)


def scored_rows(frame, day, state=LabelState.INLINE, scale=1.0, flip=False, spacing=1.0):
    rows = []
    for index, record in enumerate(frame.to_dict(orient="records")):
        features = telco_features(record)
        features["MonthlyCharges"] = round(features["MonthlyCharges"] * scale, 2)
        label = int(record["Churn"])
        prediction = 1 - label if flip else label
        rows.append(ScoredRow(
            event_time=ORIGIN + timedelta(days=day, seconds=index * spacing),
            event_id=f"{day}-{index}-{state.value}", customer_id="c",
            features=features,
            label=None if state == LabelState.PENDING else label, prediction=prediction,
            probability=0.9 if prediction else 0.1, model_version="v", label_state=state,
        ))  # fmt: skip
    return rows


def broken_row(day, index):
    return QuarantinedRow(
        event_time=ORIGIN + timedelta(days=day, hours=index), event_id=f"bad-{day}-{index}",
        source_topic="t.rows.raw", source_partition=0, source_offset=100 * day + index,
        issues=(FieldIssue(field="tenure", code=IssueCode.NULL, detail="null"),),
        payload="{}", payload_bytes=2, payload_truncated=False,
    )  # fmt: skip


def one_instance(calculators, rows, partials, quarantine=()):
    """Every row on partition 0, one instance: the plain single-process monitor."""
    logs = {(SCORED_ROWS, 0): rows, (SCORED_ROWS, 1): [], (SCORED_ROWS, 2): []}
    secondary = [QUARANTINE] if quarantine is not None and calculators[0].name == "drift" else []
    if secondary:
        logs[(QUARANTINE, 0)] = list(quarantine)
    cluster = Cluster(
        SETTINGS,
        lambda read: monitor_handler(calculators, SETTINGS, SCORED_ROWS, partials, read, secondary),
        logs,
        partials,
    )
    keys = [*ALL_SCORED, *[(SETTINGS.topic_name(t), 0) for t in secondary]]
    cluster.assign({"a": [*keys, cluster.partials_key]})
    return cluster.run()


@pytest.fixture(scope="module")
def reference(version_dir):
    return load_reference(version_dir)


def test_drift_monitor_reads_predictions_not_joined_labels(reference, metadata, policy,
                                                            data_split):  # fmt: skip
    window = data_split.test.head(300)
    rows = [*scored_rows(window, 0, LabelState.PENDING),
            *scored_rows(window, 0, LabelState.JOINED),  # ignored
            *scored_rows(window.head(5), 1, LabelState.PENDING)]  # fmt: skip
    signals = one_instance([drift(reference, metadata, policy)], rows, DRIFT_WINDOWS)
    assert [s.rows for s in signals] == [300, 5]
    assert signals[0].prediction is not None


def test_drift_severity_is_confirmed_over_windows(reference, metadata, policy, data_split):
    rows = []
    for day in range(3):
        rows += scored_rows(data_split.test.sample(400, random_state=day), day, scale=1.2)
    signals = one_instance([drift(reference, metadata, policy)], rows, DRIFT_WINDOWS)
    levels = [next(f for f in s.features if f.feature == "MonthlyCharges") for s in signals]
    # day 0 raw HIGH is shown as LOW until a second window confirms it
    assert [(f.severity, f.confirmed) for f in levels] == [
        (DriftSeverity.HIGH, DriftSeverity.LOW),
        (DriftSeverity.HIGH, DriftSeverity.HIGH),
        (DriftSeverity.HIGH, DriftSeverity.HIGH),
    ]


def test_quarantined_rows_are_counted_in_their_window_apart_from_drift(reference, metadata, policy,
                                                                       data_split):  # fmt: skip
    rows = [*scored_rows(data_split.test.head(200), 0), *scored_rows(data_split.test.head(50), 1)]
    broken = [broken_row(0, 3), broken_row(0, 4), broken_row(1, 1)]
    signals = one_instance([drift(reference, metadata, policy)], rows, DRIFT_WINDOWS,
                           quarantine=broken)  # fmt: skip
    assert [(s.rows, s.quarantined_rows) for s in signals] == [(200, 2), (50, 1)]
    assert signals[0].quarantined_by_reason == {"NULL": 2}


def test_quarantine_records_delivered_after_later_rows_still_count_in_their_window(
    reference, metadata, policy, data_split
):
    """The consumer can deliver rows before quarantine records that were acknowledged before
    those rows were published. The rows carry the quarantine offset reached (the header the loop
    sets): the window waits for those records instead of counting them late."""
    day_0 = scored_rows(data_split.test.head(200), 0)
    day_1 = scored_rows(data_split.test.head(50), 1)
    broken = [broken_row(0, 3), broken_row(0, 4), broken_row(1, 1)]

    def run(marked: bool):
        logs, marks = {(QUARANTINE, 0): broken}, {}
        for p in range(3):
            logs[(SCORED_ROWS, p)] = [*day_0[p::3], *day_1[p::3]]
            marks[(SCORED_ROWS, p)] = [{}] * len(day_0[p::3]) + [{0: 2} if marked else {}] * 17
        cluster = Cluster(
            SETTINGS,
            lambda read: monitor_handler([drift(reference, metadata, policy)], SETTINGS,
                                         SCORED_ROWS, DRIFT_WINDOWS, read, [QUARANTINE]),
            logs, DRIFT_WINDOWS, marks=marks, delayed=[(QUARANTINE, 0)],
        )  # fmt: skip
        cluster.assign({"a": [*ALL_SCORED, QUARANTINE_KEY, cluster.partials_key]})
        return [(s.rows, s.quarantined_rows, s.late_rows) for s in cluster.run()]

    assert run(marked=True) == [(200, 2, 0), (50, 1, 0)]
    # the same delivery order without the marks: day 0 closed without its broken rows
    assert run(marked=False) == [(200, 0, 0), (50, 1, 2)]


def test_performance_rolls_over_the_last_windows(metadata, policy, data_split):
    rows = []
    for day in range(3):
        sample = data_split.test.sample(200, random_state=day)
        rows += scored_rows(sample, day, flip=day == 2)
    signals = one_instance([performance(metadata, policy)], rows, PERFORMANCE_WINDOWS)
    assert [s.recall for s in signals] == [1.0, 1.0, 0.0]
    assert signals[-1].rolling.windows == 3 and signals[-1].rolling.labelled == 600
    assert 0.6 < signals[-1].rolling.recall < 0.7  # two perfect windows and one all wrong


def test_fairness_reads_only_labelled_rows(policy, data_split):
    rows = scored_rows(data_split.test.head(300), 0, LabelState.PENDING)
    assert (
        one_instance([FairnessCalculator(policy, SENSITIVE_ATTRIBUTES)], rows, FAIRNESS_WINDOWS)
        == []
    )
    rows = scored_rows(data_split.test.head(300), 0, LabelState.JOINED)
    (signal,) = one_instance(
        [FairnessCalculator(policy, SENSITIVE_ATTRIBUTES)], rows, FAIRNESS_WINDOWS
    )
    assert signal.rows == 300 and {g.attribute for g in signal.groups} == set(SENSITIVE_ATTRIBUTES)


def test_pending_rows_give_a_provisional_estimate_first(metadata, policy, data_split):
    calculators = [
        PerformanceCalculator(metadata, policy, CLOCK),
        EstimatedPerformanceCalculator(metadata, policy),
    ]
    sample = data_split.test.head(300)
    (estimate,) = one_instance(
        calculators, scored_rows(sample, 0, LabelState.PENDING), PERFORMANCE_WINDOWS
    )
    assert estimate.provisional and estimate.labelled == 0 and estimate.rows == 300
    assert 0 <= estimate.recall <= 1 and estimate.roc_auc is not None
    (matured,) = one_instance(
        calculators, scored_rows(sample, 0, LabelState.JOINED), PERFORMANCE_WINDOWS
    )
    assert not matured.provisional and matured.labelled == 300


# --- one instance or several, crashes and rebalances -----------------------------------------


def shifted_stream(data_split, days=8, rows_per_day=450, shift_from=4):
    """Rows of ``days`` windows spread over the three partitions; from ``shift_from`` on, charges
    are 25 % higher and every prediction is wrong for a third of the rows (ADWIN must fire)."""
    by_partition = {p: [] for p in range(SCORED_ROWS.partitions)}
    for day in range(days):
        sample = data_split.test.sample(rows_per_day, random_state=100 + day)
        shifted = day >= shift_from
        rows = scored_rows(sample, day, scale=1.25 if shifted else 1.0, spacing=60)
        for index, row in enumerate(rows):
            if shifted and index % 3 == 0:
                row = row.model_copy(update={"prediction": 1 - row.prediction})
            by_partition[index % SCORED_ROWS.partitions].append(row)
    return by_partition


def cluster_of(kind, calculators_of, by_partition, partials, quarantine=(), settings=SETTINGS,
               batch_rows=60, commit_every=1, batch_rows_of=None):  # fmt: skip
    secondary = [QUARANTINE] if kind == "drift" else []
    logs = {(SCORED_ROWS, p): rows for p, rows in by_partition.items()}
    if secondary:
        logs[(QUARANTINE, 0)] = list(quarantine)
    return Cluster(
        settings,
        lambda read: monitor_handler(
            calculators_of(), settings, SCORED_ROWS, partials, read, secondary
        ),
        logs,
        partials,
        batch_rows=batch_rows,
        commit_every=commit_every,
        batch_rows_of=batch_rows_of,
    )


def monitors_under_test(reference, metadata, policy):
    return {
        "drift": (lambda: [drift(reference, metadata, policy)], DRIFT_WINDOWS),
        "performance": (lambda: [performance(metadata, policy)], PERFORMANCE_WINDOWS),
        "fairness": (lambda: [FairnessCalculator(policy, SENSITIVE_ATTRIBUTES)], FAIRNESS_WINDOWS),
    }


QUARANTINE_KEY = (SETTINGS.topic_name(QUARANTINE), 0)


@pytest.mark.parametrize("kind", ["drift", "performance", "fairness"])
def test_several_instances_crashes_and_rebalances_give_the_signals_of_one(
    kind, reference, metadata, policy, data_split
):
    calculators_of, partials = monitors_under_test(reference, metadata, policy)[kind]
    stream = shifted_stream(data_split)
    broken = [broken_row(day, 5) for day in range(8)] if kind == "drift" else []
    extra = [QUARANTINE_KEY] if kind == "drift" else []

    def fresh():
        return cluster_of(kind, calculators_of, stream, partials, broken)

    single = fresh()
    single.assign({"a": [*ALL_SCORED, *extra, single.partials_key]})
    expected = comparable(single.run())
    assert len(expected) == 8
    if kind == "performance":  # the shift is found by ADWIN on the merged, time-ordered errors
        assert any(s["change_points"] for s in expected[4:])
        assert not any(s["change_points"] for s in expected[:4])
    if kind == "drift":
        assert [s["quarantined_rows"] for s in expected] == [1] * 8

    # three instances, one partition each; the combiner sits with the first
    split = fresh()
    split.assign({"a": [ALL_SCORED[0], *extra, split.partials_key], "b": [ALL_SCORED[1]],
                  "c": [ALL_SCORED[2]]})  # fmt: skip
    assert comparable(split.run()) == expected

    # big batches: a worker closes several windows of a partition at once
    bursts = cluster_of(kind, calculators_of, stream, partials, broken, batch_rows=500)
    bursts.assign({"a": [ALL_SCORED[0], *extra, bursts.partials_key], "b": [ALL_SCORED[1]],
                   "c": [ALL_SCORED[2]]})  # fmt: skip
    assert comparable(bursts.run()) == expected

    # the combining instance crashes mid-stream; the group moves its partitions to the others
    crashed = fresh()
    crashed.assign({"a": [ALL_SCORED[0], *extra, crashed.partials_key], "b": ALL_SCORED[1:]})
    for _ in range(30):
        crashed.step()
    crashed.crash("a")
    crashed.assign({"b": [ALL_SCORED[0], ALL_SCORED[2], *extra], "c": [ALL_SCORED[1],
                    crashed.partials_key]})  # fmt: skip
    assert comparable(crashed.run()) == expected

    # the same crash at many points, committing every fourth batch, with partition 2 read at a
    # quarter of the pace: the new combiner replays windows whose last partials come after its
    # committed offset, and the new workers re-publish partials of windows already published
    failing = []
    for crash_at in range(2, 60, 3):
        lagging = cluster_of(kind, calculators_of, stream, partials, broken, commit_every=4,
                             batch_rows_of={(SCORED_ROWS, 2): 15})  # fmt: skip
        lagging.assign({"a": [ALL_SCORED[0], *extra, lagging.partials_key], "b": ALL_SCORED[1:]})
        for _ in range(crash_at):
            lagging.step()
        lagging.crash("a")
        lagging.assign({"b": [ALL_SCORED[0], ALL_SCORED[2], *extra], "c": [ALL_SCORED[1],
                        lagging.partials_key]})  # fmt: skip
        if comparable(lagging.run()) != expected:
            failing.append(crash_at)
    assert failing == []

    # a scorer restarted before committing published 600 rows twice, back to windows already
    # closed (duplicates, not late rows), and one broken row twice; the monitor itself restarts
    # in the middle of them: the ids before where it resumes are read back
    replayed = {p: list(rows) for p, rows in stream.items()}
    replayed[1][700:700] = replayed[1][100:700]
    duplicated = cluster_of(kind, calculators_of, replayed, partials, [*broken, *broken[3:4]])
    duplicated.assign({"a": [*ALL_SCORED, *extra, duplicated.partials_key]})
    for _ in range(12):
        duplicated.step()
    duplicated.crash("a")
    duplicated.assign({"b": [*ALL_SCORED, *extra, duplicated.partials_key]})
    assert comparable(duplicated.run()) == expected

    # a second instance joins mid-stream, then leaves
    joined = fresh()
    joined.assign({"a": [*ALL_SCORED, *extra, joined.partials_key]})
    for _ in range(12):
        joined.step()
    joined.assign({"a": [ALL_SCORED[0], ALL_SCORED[1], *extra, joined.partials_key],
                   "b": [ALL_SCORED[2]]})  # fmt: skip
    for _ in range(12):
        joined.step()
    joined.assign({"a": [*ALL_SCORED, *extra, joined.partials_key]})
    assert comparable(joined.run()) == expected


def test_a_new_assignment_reads_back_a_bounded_part_of_each_log(policy):
    calls = []

    def read(topic, partition, start, end):
        calls.append((topic.name, partition, start, end))
        return []

    settings = SETTINGS.model_copy(update={"restore_partials": 50, "dedupe_rows": 400})
    handler = monitor_handler(
        [FairnessCalculator(policy, SENSITIVE_ATTRIBUTES)],
        settings,
        SCORED_ROWS,
        FAIRNESS_WINDOWS,
        read,
    )
    handler.on_assign({(SCORED, 1): 700, (settings.topic_name(FAIRNESS_WINDOWS), 0): 120})
    # the combiner: the last partials before its committed offset; the worker: the row ids just
    # before where it resumes (to know a re-published row when it sees one)
    assert sorted(calls) == [("rows.scored", 1, 300, 700), ("windows.fairness", 0, 70, 120)]


@pytest.mark.parametrize("kind", ["drift", "performance", "fairness"])
def test_windows_closed_while_idle_keep_the_rows_of_every_partition(
    kind, reference, metadata, policy, data_split
):
    """The input pauses while one partition is a window behind the others. On that idle tick the
    workers flush their open windows and the combiner closes what it holds: it must not close the
    lagging partition's window before that partition's flushed partial has come in."""
    calculators_of, partials = monitors_under_test(reference, metadata, policy)[kind]
    stream = shifted_stream(data_split, days=4, shift_from=9)
    stream[2] = [row for row in stream[2] if row.event_time < ORIGIN + timedelta(days=3)]
    per_day = Counter((row.event_time - ORIGIN).days for rows in stream.values() for row in rows)
    settings = SETTINGS.model_copy(update={"idle_flush_seconds": 1e-9})
    extra = [QUARANTINE_KEY] if kind == "drift" else []
    for plan in ({"a": [*ALL_SCORED, *extra, "partials"]},
                 {"a": [ALL_SCORED[0], *extra, "partials"], "b": [ALL_SCORED[1]],
                  "c": [ALL_SCORED[2]]}):  # fmt: skip
        cluster = cluster_of(kind, calculators_of, stream, partials, settings=settings)
        cluster.assign(
            {name: [cluster.partials_key if k == "partials" else k for k in keys]
             for name, keys in plan.items()}
        )  # fmt: skip
        signals = cluster.run()
        assert [(s.rows, s.late_rows) for s in signals] == [(per_day[d], 0) for d in range(4)]


def test_a_partial_that_does_not_fit_is_quarantined_without_opening_a_window_or_moving_a_mark(
    policy,
):
    """Schema-valid partials that do not fit (more labelled rows than rows, rows without a state,
    a partition the monitor does not read, a window of another size or grid) go to quarantine
    with the reason: no window opened, no partition mark believed, the combiner serves on."""
    from shared.handler import Inbound
    from shared.schemas import FairnessPartial, IssueCode, QuarantinedRow, WindowPartial
    from shared.topics import QUARANTINE

    day = timedelta(days=1)
    forged = WindowPartial(
        event_time=ORIGIN + day, monitor="fairness", window_start=ORIGIN,
        window_end=ORIGIN + day, source=SCORED, partition=0,
        closed_through=ORIGIN + timedelta(days=30), rows=5,
        state=FairnessPartial(rows=0, cells=()).model_copy(update={"rows": -1}),
    )  # fmt: skip
    misfits = {
        "groups of gender hold more rows": forged,
        "carries no state": forged.model_copy(update={"state": None}),
        "not a partition this monitor reads": forged.model_copy(update={"partition": 7}),
        "not one of this monitor's windows": forged.model_copy(
            update={"window_start": ORIGIN + timedelta(hours=1)}
        ),
    }
    fairness = FairnessCalculator(policy, SENSITIVE_ATTRIBUTES)
    handler = monitor_handler([fairness], SETTINGS, SCORED_ROWS, FAIRNESS_WINDOWS,
                              lambda *args: [])  # fmt: skip
    combiner = handler.handlers[-1]
    partials = SETTINGS.topic_name(FAIRNESS_WINDOWS)
    combiner.on_assign({(partials, 0): -1})
    batch = [Inbound(FAIRNESS_WINDOWS, partial, None, 0, offset, partials)
             for offset, partial in enumerate(misfits.values())]  # fmt: skip
    outputs = combiner.handle(batch)
    assert [o.topic for o in outputs] == [QUARANTINE] * len(misfits)
    for reason, output in zip(misfits, outputs, strict=True):
        assert isinstance(output.value, QuarantinedRow)
        (issue,) = output.value.issues
        assert issue.code == IssueCode.INVALID and reason in issue.detail
    assert not combiner.open and not combiner.marks


def _mangled(draw, partial_state):
    """A partial state with one packed array truncated, padded, or filled with extreme values."""
    import numpy as np
    from hypothesis import strategies as st

    from shared.schemas import PackedArray

    def mangle(packed: PackedArray) -> PackedArray:
        values = packed.array()
        how = draw(st.sampled_from(["truncate", "pad", "extreme", "garbage"]))
        if how == "truncate":
            values = values[: draw(st.integers(0, max(0, len(values) - 1)))]
        elif how == "pad":
            values = np.concatenate([values, np.zeros(draw(st.integers(1, 5)), values.dtype)])
        elif how == "extreme" and len(values):
            extreme = {"<f8": [np.nan, np.inf, -np.inf, -1e308, 1e308],
                       "<i8": [-(2**63), 2**63 - 1, -1], "<u8": [2**64 - 1, 0],
                       "<u4": [2**32 - 1, 1_000_000_001]}[packed.dtype]  # fmt: skip
            values = values.copy()
            values[draw(st.integers(0, len(values) - 1))] = draw(st.sampled_from(extreme))
        else:
            return PackedArray(dtype=packed.dtype, data=draw(st.sampled_from(["", "@@", "AAA"])))
        return PackedArray.of(values, packed.dtype)

    def walk(value):
        if isinstance(value, PackedArray):
            return value
        fields = {}
        for name in type(value).model_fields:
            inner = getattr(value, name)
            if isinstance(inner, PackedArray | BaseModel) or (
                isinstance(inner, dict) and any(isinstance(v, PackedArray) for v in inner.values())
            ):
                fields[name] = inner
        return fields

    state = partial_state
    path = []
    while not isinstance(state, PackedArray):
        fields = walk(state)
        if not fields:
            return partial_state
        name = draw(st.sampled_from(sorted(fields)))
        inner = fields[name]
        if isinstance(inner, dict):
            key = draw(st.sampled_from(sorted(inner)))
            path.append((name, key))
            state = inner[key]
        else:
            path.append((name, None))
            state = inner
    replaced = mangle(state)
    for parent_index in range(len(path) - 1, -1, -1):
        owner = partial_state
        for name, key in path[:parent_index]:
            owner = getattr(owner, name) if key is None else getattr(owner, name)[key]
        name, key = path[parent_index]
        if key is None:
            replaced = owner.model_copy(update={name: replaced})
        else:
            replaced = owner.model_copy(update={name: getattr(owner, name) | {key: replaced}})
    return replaced


def test_truncated_padded_or_extreme_partials_are_refused_or_merged_never_a_crash(
    reference, metadata, policy, data_split
):
    """Hypothesis mangles one packed array of real partials of every monitor (truncated,
    padded, NaN, infinities, the extremes of its type, not base64): the combiner either merges
    the partial or quarantines it, never raises, and any signal it then gives is finite."""
    import math

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from shared.handler import Inbound
    from shared.schemas import WindowPartial

    rows = scored_rows(data_split.test.head(300), 0)
    kinds = {
        "performance": ([performance(metadata, policy)], PERFORMANCE_WINDOWS),
        "drift": ([drift(reference, metadata, policy)], DRIFT_WINDOWS),
    }
    originals = {}
    for name, (calculators, _topic) in kinds.items():
        state = calculators[0].new_window()
        calculators[0].update(state, rows)
        originals[name] = calculators[0].encode(state)

    @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
    @given(name=st.sampled_from(sorted(kinds)), data=st.data())
    def check(name, data):
        calculators, topic = kinds[name]
        handler = monitor_handler(calculators, SETTINGS, SCORED_ROWS, topic, lambda *args: [])
        combiner = handler.handlers[-1]
        partials = SETTINGS.topic_name(topic)
        combiner.on_assign({(partials, 0): -1})
        state = _mangled(data.draw, originals[name])
        batch = [
            Inbound(topic, WindowPartial(
                event_time=ORIGIN + timedelta(days=1), monitor=calculators[0].name,
                window_start=ORIGIN, window_end=ORIGIN + timedelta(days=1), source=SCORED,
                partition=partition, closed_through=ORIGIN + timedelta(days=1), rows=300,
                state=state if partition == 0 else originals[name],
            ), None, 0, partition, partials)
            for partition in range(SCORED_ROWS.partitions)
        ]  # fmt: skip
        outputs = combiner.handle(batch)
        for output in outputs:
            for value in output.value.model_dump().values():
                if isinstance(value, float):
                    assert math.isfinite(value), output.value

    check()
