"""The whole pipeline in one process, without a broker: for judging detection over many seeds.

The services' own handlers (scorer, the three monitors, the alerter) are wired topic to topic
through in-memory logs, one partition per topic, and fed the producer's messages in publication
order, decoded as the consumer loop decodes them. What differs from the services on a broker is
only delivery: batches here are cut by :data:`BATCH_MESSAGES`, every output is delivered at once,
and the stream's end is an idle tick at once rather than after ``idle_flush_seconds``. The
signals, alerts and decisions are the handlers' own; an integration test checks them against a
run of the services on a broker. Every message of the run stays in memory (the topics are lists):
it is meant for runs of thousands of rows a window, as the detection benchmark's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pandas as pd
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from alerter.metrics import AlerterMetrics
from alerter.service import AlerterHandler
from model.artifact import load_metadata, resolve_version_dir
from model.messages import RowMessages
from monitors.app import MonitorKind, calculators_of, inputs_of
from monitors.service import monitor_handler
from producer.stream import Emission, StreamPlan, generate
from scorer.app import scorer_handler
from shared.handler import Handler, Inbound, Outbound
from shared.policy import load_policy
from shared.records import Keep, quarantine_record
from shared.schemas import (
    Alert,
    Decision,
    LabelState,
    Message,
    QuarantinedRow,
    ScenarioEvent,
    ScoredRow,
    WindowSignal,
)
from shared.settings import Settings
from shared.topics import LABELS, QUARANTINE, RAW_ROWS, SIGNAL_TOPICS, Topic
from shared.validation import decode_payload

BATCH_MESSAGES = 500  # about what the consumer loop takes in one poll at full speed
_IDLE_ROUNDS = 4  # idle ticks at the end: workers flush, then combiners close, then decisions


@dataclass(frozen=True)
class _Record:
    """A produced message as the consumer reads it, for the quarantine record of one that does
    not decode (the fields the record keeps)."""

    _topic: str
    _offset: int
    _key: bytes
    _value: bytes
    _headers: Sequence[tuple[str, bytes | None]]

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value

    def headers(self) -> Sequence[tuple[str, bytes | None]]:
        return self._headers


@dataclass
class SimulationResult:
    signals: list[WindowSignal] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    steps: list[ScenarioEvent] = field(default_factory=list)
    rows: int = 0
    scored: int = 0
    quarantined: int = 0


@dataclass
class _Stage:
    name: str
    handler: Handler
    topics: list[Topic]


class Simulation:
    """The services' handlers, wired through in-memory topics (one partition each)."""

    def __init__(self, settings: Settings, pool: pd.DataFrame):
        """``pool``: the rows to stream, prepared by the current artifact's contract."""
        self.settings = settings.model_copy(update={"idle_flush_seconds": 1e-9})
        self.pool = pool
        metadata = load_metadata(resolve_version_dir(self.settings.artifacts_dir))
        self.contract = metadata.contract
        rows = RowMessages.of(self.contract)
        self.logs: dict[str, list[BaseModel]] = defaultdict(list)
        scorer = scorer_handler(self.settings)
        self.stages = [_Stage("scorer", scorer, [rows.raw, LABELS])]
        # what the producer emits, read as the scorer reads it: the contract's row message
        self.produced = {topic.name: topic for topic in self.stages[0].topics}
        for kind in MonitorKind:
            primary, *secondary, partials = inputs_of(kind, self.contract)
            handler = monitor_handler(calculators_of(self.settings, kind), self.settings,
                                      primary, partials, self._read, secondary)  # fmt: skip
            self.stages.append(
                _Stage(f"monitor-{kind.value}", handler, inputs_of(kind, self.contract))
            )
        alerter = AlerterHandler(
            load_policy(self.settings.policy_path), metadata, AlerterMetrics(CollectorRegistry())
        )
        self.stages.append(_Stage("alerter", alerter, list(SIGNAL_TOPICS)))
        for stage in self.stages:
            stage.handler.on_assign({(self._name(t), 0): -1 for t in stage.topics})
        self.keep = Keep.of(self.settings)
        self.result = SimulationResult()

    def _name(self, topic: Topic) -> str:
        return self.settings.topic_name(topic)

    def messages(self, topic: Topic) -> list[BaseModel]:
        """Everything on ``topic`` so far, in order (a message that did not decode: its
        quarantine record)."""
        return self.logs[self._name(topic)]

    def _read(self, topic: Topic, partition: int, start: int, end: int):
        log = self.logs[self._name(topic)]
        start = max(0, start)
        return list(enumerate(log[start : max(start, end)], start))

    def run(self, plan: StreamPlan) -> SimulationResult:
        self.result.steps = list(plan.scenario.bound_to(self.contract).ground_truth(
            plan.run_id, plan.origin, plan.day_length, published_at=datetime.now(tz=UTC)
        ))  # fmt: skip
        batch: list[Emission] = []
        for emission in generate(plan, self.pool, self.contract):
            self.result.rows += emission.topic == RAW_ROWS
            batch.append(emission)
            if len(batch) >= BATCH_MESSAGES:
                self._feed(batch)
                batch = []
        self._feed(batch)
        for _ in range(_IDLE_ROUNDS):
            for stage in self.stages:
                self._deliver(stage.handler.on_idle())
        return self.result

    def _feed(self, emissions: Sequence[Emission]) -> None:
        scorer = self.stages[0]
        inbound: list[Inbound] = []
        rejected: list[Outbound] = []
        limit = self.settings.max_payload_bytes
        for emission in emissions:
            name = self._name(emission.topic)
            offset = len(self.logs[name])
            value = decode_payload(self.produced[emission.topic.name], emission.payload, limit)
            if isinstance(value, tuple):
                record = _Record(name, offset, emission.key.encode(), emission.payload,
                                 emission.headers)  # fmt: skip
                row = quarantine_record(record, value, self.keep, emission.event_time)
                scorer.handler.on_rejected(row)
                rejected.append(Outbound(QUARANTINE, row))
                self.logs[name].append(row)  # holds the offset; never read back as a row
                continue
            self.logs[name].append(value)
            inbound.append(Inbound(emission.topic, value, emission.key.encode(), 0, offset, name))
        self._deliver(rejected)
        self._deliver(scorer.handler.handle(inbound))

    def _deliver(self, outputs: Iterable[Outbound]) -> None:
        """Append each output to its topic and hand it, in order, to every stage that reads it;
        what they publish in turn is delivered before the next output batch."""
        by_stage: dict[str, list[Inbound]] = defaultdict(list)
        for output in outputs:
            name = self._name(output.topic)
            log = self.logs[name]
            log.append(output.value)
            self._observe(output.value)
            for stage in self.stages:
                if output.topic in stage.topics:
                    by_stage[stage.name].append(
                        Inbound(
                            output.topic, output.value, _key(output.key), 0, len(log) - 1, name
                        )  # fmt: skip
                    )
        for stage in self.stages:
            if stage.name in by_stage:
                self._deliver(stage.handler.handle(by_stage[stage.name]))

    def _observe(self, value: Message) -> None:
        if isinstance(value, Alert):
            self.result.alerts.append(value)
        elif isinstance(value, Decision):
            self.result.decisions.append(value)
        elif isinstance(value, WindowSignal):
            self.result.signals.append(value)
        elif isinstance(value, ScoredRow):
            self.result.scored += value.label_state != LabelState.JOINED
        elif isinstance(value, QuarantinedRow):
            self.result.quarantined += 1


def _key(key: str | bytes | None) -> bytes | None:
    return key.encode() if isinstance(key, str) else key
