"""Sequential change detection behind a small protocol of ours (river's API has changed shape)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, Protocol

import numpy as np

from shared.schemas import BucketStreamState, ChangePoint, PackedArray

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


class Detection(NamedTuple):
    """A change a detector reported: after which value, and its state right after."""

    position: int
    width: int
    estimate: float


class ChangeDetector(Protocol):
    def feed(self, values: Sequence[float]) -> list[Detection]:
        """Update with each value in order; the changes reported. Between two changes the
        detector's window only grows (its estimate is the running mean of what it holds)."""
        ...

    @property
    def estimate(self) -> float: ...

    @property
    def width(self) -> int: ...


@dataclass
class AdwinDetector:
    """river's ADWIN on a stream of values; ``drift_detected`` holds right after the update.

    Examples
    --------
    >>> d = AdwinDetector(delta=0.002)
    >>> hits = [i for i, x in enumerate([0.0] * 1000 + [1.0] * 200) if d.update(x).drift_detected]
    >>> hits[0] > 1000
    True
    """

    delta: float = 0.002

    def __post_init__(self) -> None:
        from river.drift import ADWIN

        self._adwin = ADWIN(delta=self.delta)

    def update(self, value: float) -> AdwinDetector:
        self._adwin.update(value)
        return self

    def feed(self, values: Sequence[float]) -> list[Detection]:
        adwin, update = self._adwin, self._adwin.update  # the hot loop of change detection
        found = []
        for position, value in enumerate(values):
            update(value)
            if adwin.drift_detected:
                found.append(Detection(position, int(adwin.width), float(adwin.estimation)))
        return found

    @property
    def drift_detected(self) -> bool:
        return bool(self._adwin.drift_detected)

    @property
    def estimate(self) -> float:
        return float(self._adwin.estimation)

    @property
    def width(self) -> int:
        """Rows in the detector's window: after a detection, the rows since the change."""
        return int(self._adwin.width)


@dataclass
class ChangeWatch:
    """One detector on one stream, turning detections into ``ChangePoint`` records.

    Keeps the event times of the last ``memory`` values (per run of values sharing a time) to
    date where the change began.
    """

    name: str
    detector: ChangeDetector
    memory: int = 20_000
    _times: deque = field(default_factory=deque)  # (event time, values at it), oldest first
    _remembered: int = 0

    def observe(self, value: float, event_time: datetime) -> ChangePoint | None:
        changes = self.observe_all([value], event_time)
        return changes[-1] if changes else None

    def observe_all(self, values: Sequence[float], event_time: datetime) -> list[ChangePoint]:
        """Feed values that share one event time (a bucket's); the changes they raise.

        The estimate before a change is the running mean from the detector's state before the
        values (or at the change before): asking the detector per value cost more than the
        update itself.
        """
        detector = self.detector
        width = detector.width
        total = detector.estimate * width
        changes = []
        since = 0  # values before this one are remembered, and in total and width
        for hit in detector.feed(values):
            fed = values[since : hit.position]  # the values before the one that raised it
            before = (total + sum(fed)) / (width + len(fed)) if width + len(fed) else 0.0
            self._remember(event_time, hit.position + 1 - since)
            since = hit.position + 1
            width, total = hit.width, hit.estimate * hit.width
            changes.append(ChangePoint(
                detector=self.name,
                event_time=event_time,
                mean_before=before,
                mean_after=hit.estimate,
                estimated_start=self._started(min(width, self._remembered), event_time),
            ))  # fmt: skip
        self._remember(event_time, len(values) - since)
        return changes

    def _remember(self, event_time: datetime, count: int) -> None:
        if count <= 0:
            return
        if self._times and self._times[-1][0] == event_time:
            self._times[-1] = (event_time, self._times[-1][1] + count)
        else:
            self._times.append((event_time, count))
        self._remembered += count
        while self._remembered - self._times[0][1] >= self.memory:
            self._remembered -= self._times.popleft()[1]

    def _started(self, kept: int, default: datetime) -> datetime:
        """Event time of the ``kept``-th newest value remembered."""
        for event_time, count in reversed(self._times):
            kept -= count
            if kept <= 0:
                return event_time
        return default


@dataclass
class BucketStream:
    """Named streams of per-row values summarised in event-time buckets, so that partial windows
    merge before a sequential detector sees them, in bounded space.

    A bucket is ``width`` of event time counted from ``origin``; it keeps the row count and, per
    stream, the sum and the sum of squares of the values. A window of any row count holds at most
    ``window / width`` buckets, and partitions merge by adding buckets, so what a detector sees
    does not depend on how partitions were spread over instances, nor on fetch order. Within a
    bucket the row order is not kept: :func:`detect` feeds the detector values with the bucket's
    mean and variance (the rows themselves when the bucket holds one).

    Examples
    --------
    >>> width = timedelta(minutes=1)
    >>> a, b = BucketStream(("x",), EPOCH, width), BucketStream(("x",), EPOCH, width)
    >>> _ = a.update(EPOCH + timedelta(minutes=2), {"x": 2.0})
    >>> _ = b.update(EPOCH + timedelta(minutes=1), {"x": 1.0})
    >>> [(len(values), values[0]) for _, values in a.merge(b).fed("x", cap=8)]
    [(1, 1.0), (1, 2.0)]
    """

    names: tuple[str, ...]
    origin: datetime
    width: timedelta
    # bucket index -> [rows, sum of each stream..., sum of squares of each stream...]
    buckets: dict[int, list[float]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """The rows summarised (any size: a partial that claims too many is refused by it)."""
        return int(sum(bucket[0] for bucket in self.buckets.values()))

    def __len__(self) -> int:
        return self.rows

    def update(self, event_time: datetime, values: Mapping[str, float]) -> BucketStream:
        index = (event_time - self.origin) // self.width
        bucket = self.buckets.get(index)
        if bucket is None:
            bucket = self.buckets[index] = [0.0] * (1 + 2 * len(self.names))
        bucket[0] += 1
        count = len(self.names)
        for position, name in enumerate(self.names, start=1):
            value = float(values[name])
            bucket[position] += value
            bucket[position + count] += value * value
        return self

    def update_many(
        self, event_times: Sequence[datetime], columns: Mapping[str, Sequence[float] | np.ndarray]
    ) -> BucketStream:
        """Add rows at once: ``columns`` holds each stream's values in the order of
        ``event_times`` (the same buckets as row by row; sums may round differently)."""
        if not event_times:
            return self
        indices = np.fromiter(
            ((t - self.origin) // self.width for t in event_times), np.int64, len(event_times)
        )
        keys, inverse = np.unique(indices, return_inverse=True)
        table = [np.bincount(inverse, minlength=len(keys)).astype(float)]
        values = [np.asarray(columns[name], dtype=float) for name in self.names]
        table += [np.bincount(inverse, weights=v, minlength=len(keys)) for v in values]
        table += [np.bincount(inverse, weights=v * v, minlength=len(keys)) for v in values]
        for key, sums in zip(keys.tolist(), np.column_stack(table).tolist(), strict=True):
            bucket = self.buckets.get(key)
            if bucket is None:
                self.buckets[key] = sums
            else:
                self.buckets[key] = [a + b for a, b in zip(bucket, sums, strict=True)]
        return self

    def within(self, start: datetime, end: datetime) -> bool:
        """True when every bucket starts in [start, end)."""
        if not self.buckets:
            return True
        first = (start - self.origin) // self.width
        last = (end - self.origin) // self.width
        return first <= min(self.buckets) and max(self.buckets) < last

    def merge(self, other: BucketStream) -> BucketStream:
        if (other.names, other.origin, other.width) != (self.names, self.origin, self.width):
            raise ValueError("cannot merge streams of different values or buckets")
        merged = {index: list(bucket) for index, bucket in self.buckets.items()}
        for index, bucket in other.buckets.items():
            mine = merged.get(index)
            if mine is None:
                merged[index] = list(bucket)
            else:
                merged[index] = [a + b for a, b in zip(mine, bucket, strict=True)]
        return BucketStream(self.names, self.origin, self.width, merged)

    def fed(self, name: str, cap: int) -> Iterator[tuple[datetime, list[float]]]:
        """Per bucket in time order: its start and the values a detector is fed for ``name``:
        at most ``cap`` of them, with the bucket's mean and (population) variance."""
        position = 1 + self.names.index(name)
        squares = position + len(self.names)
        for index in sorted(self.buckets):
            bucket = self.buckets[index]
            rows = int(bucket[0])
            mean = bucket[position] / rows
            variance = max(0.0, bucket[squares] / rows - mean * mean)
            yield self.origin + index * self.width, _moments(mean, variance, min(rows, cap))

    def message(self) -> BucketStreamState:
        order = sorted(self.buckets)
        table = np.array([self.buckets[i] for i in order], dtype=float).reshape(
            len(order), 1 + 2 * len(self.names)
        )
        count = len(self.names)
        return BucketStreamState(
            width_us=self.width // MICROSECOND,
            keys=PackedArray.of(order, "<i8"),
            rows=PackedArray.of(table[:, 0], "<i8"),
            sums={n: PackedArray.of(table[:, 1 + i], "<f8") for i, n in enumerate(self.names)},
            squares={
                n: PackedArray.of(table[:, 1 + count + i], "<f8") for i, n in enumerate(self.names)
            },
        )

    @classmethod
    def from_message(cls, names: Sequence[str], origin: datetime, width: timedelta,
                     state: BucketStreamState) -> BucketStream:  # fmt: skip
        """The stream of a message, refused (ValueError) when it does not fit: other buckets,
        other streams, or columns of different lengths."""
        if state.width_us != width // MICROSECOND:
            raise ValueError(f"buckets of {state.width_us} us, expected {width // MICROSECOND}")
        if set(state.sums) != set(names) or set(state.squares) != set(names):
            raise ValueError(f"streams {sorted(state.sums)}, expected {sorted(names)}")
        keys, rows = state.keys.array(), state.rows.array()
        columns = [state.sums[n].array() for n in names] + [state.squares[n].array() for n in names]
        if any(len(column) != len(keys) for column in (rows, *columns)) or (rows < 1).any():
            raise ValueError("bucket columns differ in length or hold no rows")
        if not all(np.isfinite(column).all() for column in columns):
            raise ValueError("bucket sums are not all finite")
        table = np.column_stack([rows.astype(float), *columns]) if len(keys) else np.empty((0, 0))
        buckets = {int(k): [float(v) for v in row] for k, row in zip(keys, table, strict=True)}
        return cls(tuple(names), origin, width, buckets)


def _moments(mean: float, variance: float, count: int) -> list[float]:
    """``count`` values whose mean and population variance are the given ones: mean ± sd in
    pairs, and the mean itself once when the count is odd (the pairs spread a little wider)."""
    if count <= 1 or variance == 0.0:
        return [mean] * max(count, 1)
    pairs = count // 2
    spread = (variance * count / (2 * pairs)) ** 0.5
    values = [mean + spread, mean - spread] * pairs
    if count % 2:
        values.append(mean)
    return values


def detect(watches: Sequence[ChangeWatch], stream: BucketStream, cap: int) -> list[ChangePoint]:
    """Feed a window's merged buckets to one watch per stream, in event-time order; the changes
    they report, in order."""
    fed = {watch.name: list(stream.fed(watch.name, cap)) for watch in watches}
    changes = []
    for position in range(len(stream.buckets)):
        for watch in watches:
            start, values = fed[watch.name][position]
            changes += watch.observe_all(values, start)
    return changes
