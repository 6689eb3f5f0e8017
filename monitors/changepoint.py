"""Sequential change detection behind a small protocol of ours (river's API has changed shape)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

import numpy as np

from shared.schemas import ChangePoint, PackedArray, RowStreamState

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


class ChangeDetector(Protocol):
    def update(self, value: float) -> ChangeDetector: ...

    @property
    def drift_detected(self) -> bool: ...

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

    Keeps the event times of the last ``memory`` rows to date where the change began.
    """

    name: str
    detector: ChangeDetector
    memory: int = 20_000
    _times: deque = field(default_factory=deque)

    def observe(self, value: float, event_time: datetime) -> ChangePoint | None:
        before = self.detector.estimate
        self.detector.update(value)
        self._times.append(event_time)
        if len(self._times) > self.memory:
            self._times.popleft()
        if not self.detector.drift_detected:
            return None
        kept = min(self.detector.width, len(self._times))
        started = self._times[-kept] if kept else event_time
        return ChangePoint(
            detector=self.name,
            event_time=event_time,
            mean_before=before,
            mean_after=self.detector.estimate,
            estimated_start=started,
        )


@dataclass
class RowStream:
    """Per-row values of named streams with their event times, kept so that partial windows merge
    before a sequential detector sees them: the merged rows are fed in event-time order (ties in
    partition order), so the detections do not depend on how partitions were spread over
    instances, nor on the order in which they were fetched.

    Examples
    --------
    >>> a, b = RowStream(("x",)), RowStream(("x",))
    >>> _ = a.update(EPOCH + timedelta(seconds=2), {"x": 2.0})
    >>> _ = b.update(EPOCH + timedelta(seconds=1), {"x": 1.0})
    >>> [values["x"] for _, values in a.merge(b).ordered()]
    [1.0, 2.0]
    """

    names: tuple[str, ...]
    times_us: list[int] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.names:
            self.values.setdefault(name, [])

    def __len__(self) -> int:
        return len(self.times_us)

    def update(self, event_time: datetime, values: Mapping[str, float]) -> RowStream:
        self.times_us.append((event_time - EPOCH) // MICROSECOND)
        for name in self.names:
            self.values[name].append(float(values[name]))
        return self

    def merge(self, other: RowStream) -> RowStream:
        if other.names != self.names:
            raise ValueError("cannot merge streams of different values")
        return RowStream(
            self.names,
            self.times_us + other.times_us,
            {name: self.values[name] + other.values[name] for name in self.names},
        )

    def ordered(self) -> Iterator[tuple[datetime, dict[str, float]]]:
        """Rows in event-time order; a stable sort keeps ties in the order they were merged."""
        order = np.argsort(np.asarray(self.times_us, dtype=np.int64), kind="stable")
        columns = {name: np.asarray(self.values[name]) for name in self.names}
        for index in order:
            yield (
                EPOCH + int(self.times_us[index]) * MICROSECOND,
                {name: float(columns[name][index]) for name in self.names},
            )

    def message(self) -> RowStreamState:
        return RowStreamState(
            times_us=PackedArray.of(self.times_us, "<i8"),
            values={name: PackedArray.of(self.values[name], "<f8") for name in self.names},
        )

    @classmethod
    def from_message(cls, names: Sequence[str], state: RowStreamState) -> RowStream:
        return cls(
            tuple(names),
            state.times_us.array().tolist(),
            {name: state.values[name].array().tolist() for name in names},
        )


def detect(watches: Sequence[ChangeWatch], stream: RowStream) -> list[ChangePoint]:
    """Feed a window's merged rows to one watch per stream; the changes they report, in order."""
    changes = []
    for event_time, values in stream.ordered():
        for watch in watches:
            change = watch.observe(values[watch.name], event_time)
            if change is not None:
                changes.append(change)
    return changes
