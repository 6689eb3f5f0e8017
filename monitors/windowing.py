"""Tumbling event-time windows closed by a watermark (pure).

The watermark is the smallest, over the partitions read, of the largest event time read from each:
a window closes only when every partition has moved past its end (plus the allowed lateness), so a
partition that is read later than the others does not see its rows dropped as late. A partition
that is assigned but has delivered nothing yet holds the watermark back; idle input flushes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

S = TypeVar("S")


def window_start(event_time: datetime, origin: datetime, size: timedelta) -> datetime:
    """Start of the tumbling window holding ``event_time``.

    Examples
    --------
    >>> from datetime import UTC
    >>> o = datetime(2026, 3, 1, tzinfo=UTC)
    >>> window_start(datetime(2026, 3, 3, 17, tzinfo=UTC), o, timedelta(days=1)).day
    3
    """
    return origin + ((event_time - origin) // size) * size


@dataclass
class OpenWindow(Generic[S]):
    start: datetime
    end: datetime
    state: S
    # Lowest source offset per partition of the rows in this window: held until it closes.
    first_offsets: dict[Hashable, int] = field(default_factory=dict)
    rows: int = 0


@dataclass(frozen=True)
class ClosedWindow(Generic[S]):
    start: datetime
    end: datetime
    state: S
    late_rows: int
    rows: int = 0


class TumblingWindows(Generic[S]):
    """Assign rows to windows, close them by watermark, count late rows.

    Examples
    --------
    >>> from datetime import UTC
    >>> o = datetime(2026, 3, 1, tzinfo=UTC)
    >>> w = TumblingWindows(o, timedelta(days=1), timedelta(0), list)
    >>> w.add(o + timedelta(hours=1), "p0", 0).append(1)
    >>> w.add(o + timedelta(days=1, hours=1), "p0", 1).append(2)
    >>> [(c.start.day, c.state) for c in w.advance()]
    [(1, [1])]
    """

    def __init__(
        self,
        origin: datetime,
        size: timedelta,
        allowed_lateness: timedelta,
        new_state: Callable[[], S],
    ):
        if size <= timedelta(0):
            raise ValueError("window size must be positive")
        self.origin = origin
        self.size = size
        self.allowed_lateness = allowed_lateness
        self.new_state = new_state
        self._open: dict[datetime, OpenWindow[S]] = {}
        self._partition_high: dict[Hashable, datetime] = {}
        self._expected: frozenset[Hashable] = frozenset()
        self._secondary: set[Hashable] = set()
        self._closed_until: datetime | None = None
        self._late_pending = 0
        self.late_rows_total = 0
        self._last: OpenWindow[S] | None = None  # the window the last row went to, while open

    def expect_partitions(self, partitions: Iterable[Hashable]) -> None:
        """Partitions that must have delivered before the watermark can move."""
        self._expected = frozenset(partitions)

    @property
    def watermark(self) -> datetime | None:
        participants = self._expected
        if not participants:
            participants = frozenset(self._primary_high)
        if not participants or not participants <= self._partition_high.keys():
            return None
        return min(self._partition_high[p] for p in participants) - self.allowed_lateness

    @property
    def _primary_high(self) -> dict[Hashable, datetime]:
        return {p: t for p, t in self._partition_high.items() if p not in self._secondary}

    @property
    def closed_through(self) -> datetime | None:
        """Windows ending at or before this are closed: rows for them now count as late."""
        return self._closed_until

    def observe(self, event_time: datetime, partition: Hashable) -> None:
        """Progress of a partition whose rows are windowed elsewhere: it moves the watermark."""
        high = self._partition_high.get(partition)
        if high is None or event_time > high:
            self._partition_high[partition] = event_time

    def add(
        self,
        event_time: datetime,
        partition: Hashable,
        offset: int,
        advances_watermark: bool = True,
    ) -> S | None:
        """State of the window for this row, or None when its window has already closed."""
        window = self.add_row(event_time, partition, offset, advances_watermark)
        return None if window is None else window.state

    def add_row(
        self,
        event_time: datetime,
        partition: Hashable,
        offset: int,
        advances_watermark: bool = True,
    ) -> OpenWindow[S] | None:
        """The open window for this row, or None when its window has already closed."""
        if not advances_watermark:
            self._secondary.add(partition)
        high = self._partition_high.get(partition)
        if high is None or event_time > high:
            self._partition_high[partition] = event_time
        window = self._last
        if window is None or not window.start <= event_time < window.end:
            # rows come in time order: most belong to the window of the row before
            start = window_start(event_time, self.origin, self.size)
            if self._closed_until is not None and start < self._closed_until:
                self._late_pending += 1
                self.late_rows_total += 1
                return None
            window = self._open.get(start)
            if window is None:
                window = OpenWindow(start, start + self.size, self.new_state())
                self._open[start] = window
            self._last = window
        if partition not in window.first_offsets:
            window.first_offsets[partition] = offset
        window.rows += 1
        return window

    def advance(self) -> list[ClosedWindow[S]]:
        """Close and return, oldest first, every window the watermark has passed."""
        mark = self.watermark
        if mark is None:
            return []
        closed = self._close([s for s, w in self._open.items() if w.end <= mark])
        # every window ending by the watermark is complete, rows or not
        self._close_through(window_start(mark, self.origin, self.size))
        return closed

    def flush(self, through: datetime | None = None) -> list[ClosedWindow[S]]:
        """Close every open window (end of stream, or idle input), and with ``through`` also
        every window ending by then."""
        closed = self._close(list(self._open))
        if through is not None:
            self._close_through(through)
        return closed

    def _close_through(self, mark: datetime) -> None:
        if self._closed_until is None or mark > self._closed_until:
            self._closed_until = mark

    def held_offsets(self) -> dict[Hashable, int]:
        held: dict[Hashable, int] = {}
        for window in self._open.values():
            for partition, offset in window.first_offsets.items():
                held[partition] = min(offset, held.get(partition, offset))
        return held

    def _close(self, starts: list[datetime]) -> list[ClosedWindow[S]]:
        closed = []
        for start in sorted(starts):
            window = self._open.pop(start)
            if window is self._last:
                self._last = None
            closed.append(
                ClosedWindow(
                    window.start, window.end, window.state, self._late_pending, window.rows
                )
            )
            self._late_pending = 0
            self._close_through(window.end)
        return closed


@dataclass
class RecentIds:
    """The last ``capacity`` ids seen, to tell a row delivered twice from a new one (bounded).

    Examples
    --------
    >>> recent = RecentIds(2)
    >>> [recent.seen(i) for i in ("a", "b", "a", "c", "a")]
    [False, False, True, False, False]
    """

    capacity: int
    _order: deque = field(default_factory=deque)
    _ids: set = field(default_factory=set)

    def seen(self, identity: Hashable) -> bool:
        """True when ``identity`` is among the last ones; otherwise remember it."""
        if identity in self._ids:
            return True
        self._ids.add(identity)
        self._order.append(identity)
        if len(self._order) > self.capacity:
            self._ids.discard(self._order.popleft())
        return False
