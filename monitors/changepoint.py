"""Sequential change detection behind a small protocol of ours (river's API has changed shape)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class ChangeDetector(Protocol):
    def update(self, value: float) -> ChangeDetector: ...

    @property
    def drift_detected(self) -> bool: ...

    @property
    def estimate(self) -> float: ...


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
