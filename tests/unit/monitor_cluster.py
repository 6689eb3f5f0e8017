"""The monitor handlers in a consumer group, without a broker.

Topic partitions are lists; each instance reads its assigned partitions from a position, and after
every batch its committed offsets become what the consumer loop stores (the lowest held offset,
else the next one to read). The partials topic has one partition and goes to one instance, as in a
consumer group. This exercises the windowing, merging and takeover logic alone; the same handlers on
a real broker are tested in tests/integration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel

from shared.handler import Handler, Inbound, PartitionKey
from shared.schemas import WindowPartial, WindowSignal
from shared.settings import Settings
from shared.topics import Topic

MakeHandler = Callable[[Callable[[Topic, int, int, int], list[tuple[int, BaseModel]]]], Handler]


@dataclass
class Instance:
    handler: Handler
    positions: dict[PartitionKey, int] = field(default_factory=dict)
    stored: dict[PartitionKey, int] = field(default_factory=dict)  # not committed yet


class Cluster:
    def __init__(
        self,
        settings: Settings,
        make_handler: MakeHandler,
        logs: Mapping[tuple[Topic, int], Sequence[BaseModel]],
        partials: Topic,
        batch_rows: int = 40,
        marks: Mapping[tuple[Topic, int], Sequence[Mapping[int, int]]] | None = None,
        delayed: Sequence[tuple[Topic, int]] = (),
        commit_every: int = 1,
        batch_rows_of: Mapping[tuple[Topic, int], int] | None = None,
    ):
        """``marks``: the quarantine marks each message was published with (the header the
        loop sets); ``delayed``: partitions an instance reads only once its others are read to
        the end (a consumer whose view of that partition's end is stale); ``commit_every``: the
        stored offsets are committed every so many steps (librdkafka commits on an interval, so
        a crash loses what was stored since: the restarted instance re-reads, and re-publishes);
        ``batch_rows_of``: partitions read at another pace than ``batch_rows``."""
        self.settings = settings
        self.make_handler = make_handler
        self.topics: dict[str, Topic] = {}
        self.logs: dict[PartitionKey, list[BaseModel]] = {}
        for (topic, partition), rows in logs.items():
            self.topics[settings.topic_name(topic)] = topic
            self.logs[(settings.topic_name(topic), partition)] = list(rows)
        self.partials_key = (settings.topic_name(partials), 0)
        self.topics[self.partials_key[0]] = partials
        self.logs[self.partials_key] = []
        self.committed: dict[PartitionKey, int] = {}
        self.instances: dict[str, Instance] = {}
        self.signals: list[WindowSignal] = []
        self.batch_rows = batch_rows
        self.marks = {
            (settings.topic_name(topic), partition): list(per_message)
            for (topic, partition), per_message in (marks or {}).items()
        }
        self.delayed = {(settings.topic_name(topic), partition) for topic, partition in delayed}
        self.commit_every = commit_every
        self.batch_rows_of = {
            (settings.topic_name(topic), partition): rows
            for (topic, partition), rows in (batch_rows_of or {}).items()
        }
        self.steps = 0

    def read(self, topic: Topic, partition: int, start: int, end: int):
        log = self.logs[(self.settings.topic_name(topic), partition)]
        start = max(0, start)
        return [(start + i, message) for i, message in enumerate(log[start : max(start, end)])]

    def assign(self, plan: Mapping[str, Sequence[PartitionKey]]) -> None:
        """A rebalance: every instance of ``plan`` gets its partitions, starting from the
        committed offsets; instances not in ``plan`` leave (their stores were committed)."""
        for instance in self.instances.values():
            self.committed.update(instance.stored)  # a rebalance commits what was stored
            instance.stored = {}
        for name in list(self.instances):
            if name not in plan:
                del self.instances[name]
        for name, partitions in plan.items():
            instance = self.instances.get(name)
            if instance is None:
                instance = self.instances[name] = Instance(self.make_handler(self.read))
            starts = {key: self.committed.get(key, -1001) for key in partitions}
            instance.positions = {key: max(0, start) for key, start in starts.items()}
            instance.handler.on_assign(starts)

    def crash(self, name: str) -> None:
        """The instance dies: what it had not committed is lost."""
        del self.instances[name]

    def step(self) -> int:
        """One batch for each instance; the number of messages read."""
        self.steps += 1
        read = 0
        for instance in list(self.instances.values()):
            batch = []
            others_done = all(
                position >= len(self.logs[key])
                for key, position in instance.positions.items()
                if key not in self.delayed
            )
            for key, position in instance.positions.items():
                if key in self.delayed and not others_done:
                    continue
                log = self.logs[key]
                marks = self.marks.get(key, [])
                # partials one at a time: the combiner must not rely on reading a worker's
                # partials of one batch together
                size = 1 if key == self.partials_key else self.batch_rows
                size = self.batch_rows_of.get(key, size)
                for offset in range(position, min(len(log), position + size)):
                    topic = self.topics[key[0]]
                    mark = marks[offset] if offset < len(marks) else {}
                    batch.append(Inbound(topic, log[offset], None, key[1], offset, key[0], 0, mark))
                instance.positions[key] = min(len(log), position + size)
            read += len(batch)
            self._publish(instance.handler.handle(batch) if batch else [])
            self._store(instance)
        return read

    def run(self) -> list[WindowSignal]:
        """Until every instance has read everything and two idle rounds in a row publish nothing
        (the loop calls ``on_idle`` again while its input stays quiet)."""
        quiet_rounds = 0
        while quiet_rounds < 2:
            while self.step():
                quiet_rounds = 0
            produced = 0
            for instance in list(self.instances.values()):
                outputs = list(instance.handler.on_idle())
                produced += len(outputs)
                self._publish(outputs)
                self._store(instance)
            quiet_rounds = 0 if produced else quiet_rounds + 1
        return self.signals

    def _publish(self, outputs) -> None:
        for output in outputs:
            if isinstance(output.value, WindowPartial):
                self.logs[self.partials_key].append(output.value)
            else:
                self.signals.append(output.value)

    def _store(self, instance: Instance) -> None:
        held = instance.handler.held_offsets()
        for key, position in instance.positions.items():
            instance.stored[key] = min(position, held.get(key, position))
        if self.steps % self.commit_every == 0:
            self.committed.update(instance.stored)
            instance.stored = {}


def comparable(signals: Sequence[WindowSignal]) -> list[dict]:
    """Signals without their wall-clock fields, one per window and kind (replays deduplicated,
    the last one kept, as the alerter keys them)."""
    latest: dict[tuple, dict] = {}
    for signal in signals:
        fields = signal.model_dump(exclude={"closed_at", "last_row_at"})
        latest[(type(signal).__name__, fields.get("provisional"), signal.window_start)] = fields
    return [latest[key] for key in sorted(latest, key=lambda k: (k[2], k[0], str(k[1])))]
