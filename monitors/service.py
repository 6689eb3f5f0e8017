"""The monitors as handlers of the shared consumer loop, in two stages around a calculator
(``monitors.calculators``), the same for every monitor:

- :class:`WindowWorker` keeps one set of tumbling windows per source partition it reads and
  publishes each partition's share of a window (:class:`~shared.schemas.WindowPartial`) once that
  partition's event time has passed the window's end.
- :class:`WindowCombiner` merges the partials of a window in partition order and publishes the
  window's signal once every source partition has passed its end. It reads the single partition of
  ``windows.<monitor>``, so in a consumer group exactly one instance combines; statistics that
  span windows (ADWIN, rolling views, severity confirmation) live here, and whoever takes the
  partition over rebuilds them by replaying that partition up to its committed offset.

So a monitor can run as one process or several in one consumer group, and gives the same signals:
each partition's rows are counted once, by whichever instance holds the partition, and the
partials merge (counts exactly, score sketches within their stated bound).

With late labels a row is scored twice: once PENDING (the prediction) and once JOINED (when its
label arrives, days later). Input monitors read INLINE and PENDING rows; label monitors read INLINE
and JOINED rows. Each stream is in event-time order on its own, so each monitor's watermark moves
with the rows it reads.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar, cast

from pydantic import BaseModel

from monitors.calculators import WindowCalculator
from monitors.windowing import ClosedWindow, OpenWindow, RecentIds, TumblingWindows
from shared.handler import FanOutHandler, Handler, Inbound, Outbound, PartitionKey
from shared.records import Keep, quarantine_outbound, set_aside_record
from shared.schemas import IssueCode, Message, QuarantinedRow, ScoredRow, WindowPartial
from shared.settings import Settings
from shared.topics import QUARANTINE, Topic

log = logging.getLogger(__name__)

S = TypeVar("S")

# Reads a partition's messages with offsets in [start, end): how a stage rebuilds its state.
PartitionReader = Callable[[Topic, int, int, int], Iterable[tuple[int, BaseModel]]]


def row_identity(row: BaseModel) -> Hashable:
    """What makes a row the same row when it is delivered twice: its id and label state (a row
    is scored once PENDING and again JOINED), or for a quarantined one where it was read from."""
    if isinstance(row, QuarantinedRow):
        return (row.source_topic, row.source_partition, row.source_offset)
    if isinstance(row, ScoredRow):
        return (row.event_id, row.label_state)
    raise TypeError(f"not a row: {type(row).__name__}")


class WindowWorker(Handler, Generic[S]):
    """Rows to partial windows: tumbling event-time windows per source partition.

    A row published twice (a scorer killed between publishing and committing re-scores what it
    had not committed) is counted once: duplicates share the partition (same key), and each
    partition remembers its last ``dedupe_rows`` row ids, read back from before the position
    where reading resumes after an assignment, so a duplicate of a row whose window has closed
    is not counted as late either. A primary partition's windows close when that partition's own
    event time has passed their end (plus the allowed lateness), so a partition never waits for
    another. Rows of secondary topics
    (quarantine) join the window open for their time and close with the primary partitions this
    instance reads. A primary row moves those windows on only once the quarantine records
    published before it have been read (its ``quarantine_marks``): the consumer may deliver the
    row before records of the quarantine topic that were acknowledged before the row was
    published. Every assignment starts empty: the consumer re-reads each partition from its
    committed offset, which is held at the first row of the partition's oldest open window.
    """

    def __init__(
        self,
        calculator: WindowCalculator[S],
        settings: Settings,
        primary: Topic,
        partials: Topic,
        read: PartitionReader,
        secondary: Sequence[Topic] = (),
    ):
        self.calculator = calculator
        self.settings = settings
        self.partials = partials
        self.read = read
        self.primary_name = settings.topic_name(primary)
        self.secondary_names = {settings.topic_name(topic) for topic in secondary}
        self.quarantine_name = settings.topic_name(QUARANTINE)
        self.topics = {settings.topic_name(topic): topic for topic in (primary, *secondary)}
        self.size = timedelta(seconds=settings.window_seconds)
        self.origin = settings.simulation_start
        self.on_assign({})

    def _windows(self) -> TumblingWindows[S]:
        return TumblingWindows(
            origin=self.origin,
            size=self.size,
            allowed_lateness=timedelta(seconds=self.settings.allowed_lateness_seconds),
            new_state=self.calculator.new_window,
        )

    def on_assign(self, partitions: Mapping[PartitionKey, int]) -> None:
        primary = {p for p in partitions if p[0] == self.primary_name}
        self.by_partition: dict[PartitionKey, TumblingWindows[S]] = {}
        for key in primary:
            self.by_partition[key] = self._windows()
            self.by_partition[key].expect_partitions({key})
        self.secondary: dict[PartitionKey, TumblingWindows[S]] = {}
        for key in (p for p in partitions if p[0] in self.secondary_names):
            self.secondary[key] = self._windows()
            self.secondary[key].expect_partitions(primary)
            self.by_partition[key] = self.secondary[key]
        # next offset to read per secondary partition, and primary progress not yet passed on to
        # the secondary windows: (event time, quarantine marks) in the order read
        self.secondary_read_to = {key: max(0, partitions[key]) for key in self.secondary}
        self.waiting: dict[PartitionKey, deque[tuple[datetime, Mapping[int, int]]]] = {
            key: deque() for key in primary
        }
        self.reported: dict[PartitionKey, datetime] = {}
        self.newest_row_ms: dict[tuple[PartitionKey, datetime], int] = {}
        self.recent_ids: dict[PartitionKey, RecentIds] = {}
        for key in self.by_partition:
            self.recent_ids[key] = recent = RecentIds(self.settings.dedupe_rows)
            # the rows just before where reading resumes: their duplicates are not late rows
            start = partitions[key]
            lookback = self.read(self.topics[key[0]], key[1], start - recent.capacity, start)
            for _, row in lookback:
                if self.calculator.accepts(row):
                    recent.seen(row_identity(row))

    def handle(self, batch: Sequence[Inbound]) -> list[Outbound]:
        # rows gathered per window and fed to the calculator once per batch, columnar
        gathered: dict[int, tuple[PartitionKey, OpenWindow[S], list[BaseModel], list[int]]] = {}
        for item in batch:
            row = item.value
            key = item.partition_key
            if key in self.secondary_read_to:
                self.secondary_read_to[key] = max(self.secondary_read_to[key], item.offset + 1)
            if not isinstance(row, Message) or not self.calculator.accepts(row):
                continue
            windows = self.by_partition.get(key)
            if windows is None:
                log.warning("a row of %s[%d], which is not assigned here, was skipped", *key)
                continue
            if self.recent_ids[key].seen(row_identity(row)):
                continue  # published twice by a scorer that restarted before committing
            event_time = row.event_time
            primary = key[0] == self.primary_name
            window = windows.add_row(event_time, key, item.offset, advances_watermark=primary)
            if primary and self.secondary:
                self.waiting[key].append((event_time, item.quarantine_marks))
            if window is not None:
                group = gathered.get(id(window))
                if group is None:
                    group = gathered[id(window)] = (key, window, [], [])
                group[2].append(row)
                group[3].append(item.timestamp_ms)
        for key, window, rows, stamps in gathered.values():
            self.calculator.update(window.state, rows)
            newest = self.newest_row_ms.get((key, window.start), 0)
            self.newest_row_ms[(key, window.start)] = max(newest, *stamps)
        self._pass_progress_to_secondary()
        return self._partials({key: w.advance() for key, w in self.by_partition.items()})

    def _pass_progress_to_secondary(self) -> None:
        """Primary event time reaches the secondary windows once the quarantine records published
        before those rows have been read here; a row waits behind the rows read before it."""
        for key, waiting in self.waiting.items():
            while waiting:
                event_time, marks = waiting[0]
                if any(
                    name == self.quarantine_name and marks.get(partition, 0) > read_to
                    for (name, partition), read_to in self.secondary_read_to.items()
                ):
                    break
                waiting.popleft()
                for windows in self.secondary.values():
                    windows.observe(event_time, key)

    def on_idle(self) -> list[Outbound]:
        """Input is idle: close every open window, and tell the combiner that every partition read
        here is complete through the newest window any of them saw."""
        closed = {key: w.flush() for key, w in self.by_partition.items()}
        marks = [w.closed_through for w in self.by_partition.values() if w.closed_through]
        if marks:
            for windows in self.by_partition.values():
                windows.flush(through=max(marks))
        return self._partials(closed)

    def held_offsets(self) -> dict[PartitionKey, int]:
        held: dict[PartitionKey, int] = {}
        for windows in self.by_partition.values():
            # the windows are keyed by the partition keys given them
            held.update(cast(dict[PartitionKey, int], windows.held_offsets()))
        return held

    def _partials(self, closed: Mapping[PartitionKey, list[ClosedWindow[S]]]) -> list[Outbound]:
        outputs = []
        for key, windows in closed.items():
            mark = self.by_partition[key].closed_through
            if mark is None:
                continue
            # A mark promises the combiner every partial of this partition up to it: each partial
            # may promise only the windows published so far (the combiner can read the first of
            # them in one batch and the rest in the next).
            for index, window in enumerate(windows):
                last = index == len(windows) - 1
                outputs.append(self._partial(key, window, mark if last else window.end))
            if not windows and mark > self.reported.get(key, mark - self.size):
                # no rows closed, but the partition moved on: say so, or the combiner would wait
                empty: ClosedWindow = ClosedWindow(mark - self.size, mark, None, 0)
                outputs.append(self._partial(key, empty, mark))
            self.reported[key] = mark
        return outputs

    def _partial(self, key: PartitionKey, window: ClosedWindow[S], mark: datetime) -> Outbound:
        newest = self.newest_row_ms.pop((key, window.start), 0)
        partial = WindowPartial(
            event_time=window.end,
            monitor=self.calculator.name,
            window_start=window.start,
            window_end=window.end,
            source=key[0],
            partition=key[1],
            closed_through=mark,
            rows=window.rows,
            late_rows=window.late_rows,
            last_row_at=datetime.fromtimestamp(newest / 1000, tz=UTC) if newest else None,
            state=self.calculator.encode(window.state) if window.rows else None,
        )
        return Outbound(self.partials, partial)


class MisfitPartial(ValueError):
    """A partial window that does not fit this monitor: refused, not merged."""


class WindowCombiner(Handler, Generic[S]):
    """Partial windows to signals, on the instance that holds the partials topic's partition.

    A window closes when every source partition's ``closed_through`` has passed its end; its
    partials merge in partition order, so the signal does not depend on which instance read which
    partition. A partial published twice (its worker re-read the partition after a restart or a
    rebalance) replaces the first while the window is open and is dropped after.
    """

    def __init__(
        self,
        calculator: WindowCalculator[S],
        settings: Settings,
        partials: Topic,
        sources: Sequence[Topic],
        read: PartitionReader,
    ):
        self.calculator = calculator
        self.partials = partials
        self.partials_key: PartitionKey = (settings.topic_name(partials), 0)
        self.expected = {(settings.topic_name(t), p) for t in sources for p in range(t.partitions)}
        self.idle_seconds = settings.idle_flush_seconds
        self.restore_partials = settings.restore_partials
        self.size = timedelta(seconds=settings.window_seconds)
        self.origin = settings.simulation_start
        self.keep = Keep.of(settings)
        self.read = read
        self.active = False
        self._reset()

    def _reset(self) -> None:
        # window start -> partition -> (offset, partial, its decoded state)
        self.open: dict[datetime, dict[PartitionKey, tuple[int, WindowPartial, S]]] = {}
        self.marks: dict[PartitionKey, datetime] = {}
        self.closed_through: datetime | None = None
        self.last_partial_at = time.monotonic()
        self.idle_ticks = 0
        # rows of partials that came after their window had closed: reported as late rows
        self.late_pending = 0
        # the partitions each recently published window was merged from
        self.published_parts: dict[datetime, set[PartitionKey]] = {}
        # windows rebuilt from the replay: published before, so they close without a signal
        self.republished: set[datetime] = set()
        self.replayed_to = 0
        self.calculator.reset()

    def on_assign(self, partitions: Mapping[PartitionKey, int]) -> None:
        self._reset()
        self.active = self.partials_key in partitions
        if not self.active:
            return
        # Everything before the committed offset belongs to windows already published: replay the
        # last of it to rebuild what spans windows (rolling views, ADWIN), publishing nothing.
        # A window's last partials may come after that offset (another partition's later window
        # was still open then, and held it): such a window stays open, still without a signal,
        # until they are in.
        end = partitions[self.partials_key]
        start = max(0, end - self.restore_partials)
        for offset, partial in self.read(self.partials, 0, start, end):
            if isinstance(partial, WindowPartial):
                try:
                    self._add(partial, offset)
                except MisfitPartial as exc:  # set aside when it was first read
                    log.info("%s: the replay skips a refused partial: %s", self.calculator.name,
                             exc)  # fmt: skip
        self.replayed_to = max(0, end)
        self.republished = set(self.open)
        self._close(self._ready())

    def _ready(self) -> list[datetime]:
        """Open windows that every source partition has passed."""
        if not self.expected <= self.marks.keys():
            return []
        mark = min(self.marks[key] for key in self.expected)
        return [start for start, parts in self.open.items() if self._end(parts) <= mark]

    def handle(self, batch: Sequence[Inbound]) -> list[Outbound]:
        added = False
        refused: list[Outbound] = []
        for item in batch:
            if item.partition_key == self.partials_key and isinstance(item.value, WindowPartial):
                try:
                    added |= self._add(item.value, item.offset)
                except MisfitPartial as exc:
                    # not merged, and its mark not believed: the window closes without it
                    log.warning("%s: refused the partial at offset %d: %s",
                                self.calculator.name, item.offset, exc)  # fmt: skip
                    record = set_aside_record(item, IssueCode.INVALID, str(exc), self.keep)
                    refused.append(quarantine_outbound(record))
        if not added:
            return refused
        self.last_partial_at = time.monotonic()
        self.idle_ticks = 0
        return refused + self._close(self._ready())

    def on_idle(self) -> list[Outbound]:
        """A partition whose worker has gone quiet (the stream ended, or more instances than
        partitions) must not hold windows forever: close them once no partial came for a while.

        Workers flush their open windows on the same idle tick (this one, when they share the
        consumer): their partials are still on the way. So windows close on the second idle tick
        in a row without a partial, not the first."""
        if not self.open or time.monotonic() - self.last_partial_at < self.idle_seconds:
            return []
        self.idle_ticks += 1
        if self.idle_ticks < 2:
            return []
        return self._close(list(self.open))

    def held_offsets(self) -> dict[PartitionKey, int]:
        # replayed partials are before the committed offset already: holding them would move it
        # back, and a window published before would be published again after the next restart
        offsets = [
            offset
            for parts in self.open.values()
            for offset, _, _ in parts.values()
            if offset >= self.replayed_to
        ]
        return {self.partials_key: min(offsets)} if offsets else {}

    def _add(self, partial: WindowPartial, offset: int) -> bool:
        if partial.monitor != self.calculator.name:
            return False
        key = (partial.source, partial.partition)
        where = f"{key[0]}[{key[1]}], window of {partial.window_start.isoformat()}"
        if key not in self.expected:
            raise MisfitPartial(f"{where}: not a partition this monitor reads")
        if partial.window_end - partial.window_start != self.size or (
            (partial.window_start - self.origin) % self.size
        ):
            raise MisfitPartial(f"{where}: not one of this monitor's windows ({self.size})")
        state: S | None = None
        if partial.rows:
            try:
                if partial.state is None:
                    raise ValueError("a partial with rows carries no state")
                state = self.calculator.decode(
                    partial.state, (partial.window_start, partial.window_end)
                )
            except ValueError as exc:
                raise MisfitPartial(f"{where}: {exc}") from exc
        if key not in self.marks or partial.closed_through > self.marks[key]:
            self.marks[key] = partial.closed_through
        done = self.closed_through is not None and partial.window_end <= self.closed_through
        published_with = self.published_parts.get(partial.window_start)
        if partial.rows and done and published_with is not None and key not in published_with:
            # its window was published without it (closed while idle): count its rows late
            published_with.add(key)
            log.warning(
                "%s: a partial of %s[%d] for the window of %s came after it closed; %d rows late",
                self.calculator.name, *key, partial.window_start.isoformat(), partial.rows,
            )  # fmt: skip
            self.late_pending += partial.rows
        elif state is not None and not done:
            self.open.setdefault(partial.window_start, {})[key] = (offset, partial, state)
        return True

    @staticmethod
    def _end(parts: Mapping[PartitionKey, tuple[int, WindowPartial, S]]) -> datetime:
        return next(iter(parts.values()))[1].window_end

    def _close(self, starts: list[datetime]) -> list[Outbound]:
        outputs = []
        for start in sorted(starts):
            parts = self.open.pop(start)
            self.published_parts[start] = set(parts)
            while len(self.published_parts) > self.restore_partials:
                del self.published_parts[min(self.published_parts)]
            merged = [(partial, state) for _, (_, partial, state) in sorted(parts.items())]
            if start in self.republished:
                # rebuild the state that spans windows; late rows wait for the next signal
                self.republished.discard(start)
                self._signal(merged, late_rows=0)
                continue
            outputs.append(self._signal(merged, late_rows=self.late_pending))
            self.late_pending = 0
        return outputs

    def _signal(self, merged: list[tuple[WindowPartial, S]], late_rows: int) -> Outbound:
        """The window's signal; ``late_rows``: rows of other windows that came after they closed."""
        # only partials with rows open a window, and those carry their decoded state
        state = functools.reduce(self.calculator.merge, [state for _, state in merged])
        parts = [partial for partial, _ in merged]
        first = parts[0]
        closed = ClosedWindow(
            first.window_start,
            first.window_end,
            state,
            sum(p.late_rows for p in parts) + late_rows,
            sum(p.rows for p in parts),
        )
        if self.closed_through is None or closed.end > self.closed_through:
            self.closed_through = closed.end
        newest = [p.last_row_at for p in parts if p.last_row_at is not None]
        signal = self.calculator.signal(closed).model_copy(
            update={
                "closed_at": datetime.now(tz=UTC),
                "last_row_at": max(newest) if newest else None,
            }
        )
        return Outbound(self.calculator.signal_topic, signal)


def monitor_handler(
    calculators: Sequence[WindowCalculator],
    settings: Settings,
    primary: Topic,
    partials: Topic,
    read: PartitionReader,
    secondary: Sequence[Topic] = (),
) -> Handler:
    """Workers and combiners of ``calculators`` on one consumer (they share its offsets)."""
    workers = [WindowWorker(c, settings, primary, partials, read, secondary) for c in calculators]
    combiners = [
        WindowCombiner(c, settings, partials, [primary, *secondary], read) for c in calculators
    ]
    return FanOutHandler(*workers, *combiners)
