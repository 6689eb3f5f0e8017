"""Confirming drift severity over several windows, with hysteresis (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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

    The memory is keyed by window, so telling it a window twice (a replay after a crash) changes
    nothing.

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
        # per feature: window (a window start, or a count of windows told: anything that sorts)
        # to the rank of its raw severity
        self.history: dict[str, dict[Any, int]] = {}
        self._told = 0

    def level(self, feature: str, raw: DriftSeverity, window: Any = None) -> DriftSeverity:
        """The reported level of ``feature`` in ``window`` (windows must sort in time order;
        None: the window after the last one told)."""
        if window is None:
            self._told += 1
            window = self._told
        history = self.history.setdefault(feature, {})
        history[window] = _RANK[raw]
        recent = sorted(w for w in history if w <= window)[-self.windows :]
        for old in sorted(history)[: -self.windows]:
            del history[old]  # only the last windows count
        ranks = [history[w] for w in recent if w in history]
        for candidate in (DriftSeverity.HIGH, DriftSeverity.MEDIUM):
            if sum(rank >= _RANK[candidate] for rank in ranks) >= self.needed:
                return candidate
        # a significant change not yet confirmed as MEDIUM or HIGH shows as LOW
        return DriftSeverity.LOW if _RANK[raw] >= 1 else DriftSeverity.NONE

    def confirm(
        self, drifts: Iterable[FeatureDrift], window: Any = None
    ) -> tuple[FeatureDrift, ...]:
        return tuple(
            d.model_copy(update={"confirmed": self.level(d.feature, d.severity, window)})
            for d in drifts
        )
