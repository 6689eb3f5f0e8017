"""Confirming drift severity over several windows, with hysteresis (pure)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from shared.schemas import DriftSeverity, FeatureDrift

_RANK = {
    DriftSeverity.NONE: 0,
    DriftSeverity.LOW: 1,
    DriftSeverity.MEDIUM: 2,
    DriftSeverity.HIGH: 3,
}


class SeverityConfirmer:
    """MEDIUM and HIGH are reported once they held in ``needed`` of the last ``windows`` windows.

    A level clears the same way: only when fewer than ``needed`` of the last windows reached it.
    Below MEDIUM the window's own severity is reported, so a one-window spike shows as LOW.

    Examples
    --------
    >>> confirm = SeverityConfirmer(windows=3, needed=2)
    >>> H, N = DriftSeverity.HIGH, DriftSeverity.NONE
    >>> [confirm.level("x", s).value for s in (H, H, N, H, N, N)]
    ['LOW', 'HIGH', 'HIGH', 'HIGH', 'NONE', 'NONE']
    """

    def __init__(self, windows: int, needed: int):
        self.windows = windows
        self.needed = needed
        self.history: dict[str, deque[int]] = {}

    def level(self, feature: str, raw: DriftSeverity) -> DriftSeverity:
        history = self.history.setdefault(feature, deque(maxlen=self.windows))
        history.append(_RANK[raw])
        for candidate in (DriftSeverity.HIGH, DriftSeverity.MEDIUM):
            if sum(rank >= _RANK[candidate] for rank in history) >= self.needed:
                return candidate
        # a significant change not yet confirmed as MEDIUM or HIGH shows as LOW
        return DriftSeverity.LOW if _RANK[raw] >= 1 else DriftSeverity.NONE

    def confirm(self, drifts: Iterable[FeatureDrift]) -> tuple[FeatureDrift, ...]:
        return tuple(
            d.model_copy(update={"confirmed": self.level(d.feature, d.severity)}) for d in drifts
        )
