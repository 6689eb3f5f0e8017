"""Sequential change detection behind a small protocol of ours (river's API has changed shape)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from shared.schemas import ChangePoint


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
