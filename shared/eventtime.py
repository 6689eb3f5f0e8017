"""Which event times a stream can plausibly carry (pure: no Kafka).

A message's event time places it in a window, moves watermarks and dates the alerts, so one
message stamped 9999-12-31 (or 2999, or with no time at all) must not reach any of that. Every
stage checks every message it decodes against :class:`EventTimeBounds`; the scorer also checks
each row against the newest time of its partition (:class:`PartitionClock`), which catches a row
far ahead of its neighbours that the wide bounds let through.

The bounds come from the settings (``Settings.event_time_bounds``):

- **earliest**: the stream's origin (``TRUSTWATCH_SIMULATION_START``, where its windows start)
  less ``TRUSTWATCH_EVENT_TIME_HORIZON_DAYS``.
- **latest**: for a live stream (``TRUSTWATCH_EVENT_TIME_LIVE=true``: event time follows the wall
  clock), the wall clock plus ``TRUSTWATCH_EVENT_TIME_MAX_SKEW_SECONDS``; for a replay or a
  backfill of old data (the default: its time is the data's own, far from the wall clock), the
  origin plus the horizon. A backfill sets the origin to where its data starts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

# Past this, adding a window's length to a time overflows Python's datetime.
LATEST_REPRESENTABLE = datetime(9000, 1, 1, tzinfo=UTC)
EARLIEST_REPRESENTABLE = datetime(2, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class EventTimeBounds:
    """The plausible range of a stream's event time.

    Examples
    --------
    >>> origin = datetime(2026, 3, 1, tzinfo=UTC)
    >>> bounds = EventTimeBounds(origin, timedelta(days=365), timedelta(days=1))
    >>> bounds.problem(datetime(2026, 3, 9, tzinfo=UTC)) is None
    True
    >>> print(bounds.problem(datetime(2999, 1, 1, tzinfo=UTC)))
    2999-01-01T00:00:00+00:00 is after 2027-03-01T00:00:00+00:00, the latest this stream can carry
    """

    origin: datetime
    horizon: timedelta
    max_skew: timedelta
    live: bool = False

    def __post_init__(self) -> None:
        if self.horizon <= timedelta(0) or self.max_skew <= timedelta(0):
            raise ValueError("the event-time horizon and skew must be positive")
        if self.horizon >= min(
            LATEST_REPRESENTABLE - self.origin, self.origin - EARLIEST_REPRESENTABLE
        ):
            raise ValueError(
                f"an event-time horizon of {self.horizon.days} days around {self.origin.date()} "
                "reaches past the years 2 to 9000"
            )

    @property
    def earliest(self) -> datetime:
        return self.origin - self.horizon

    def latest(self, now: datetime | None = None) -> datetime:
        if self.live:
            return (now or datetime.now(tz=UTC)) + self.max_skew
        return self.origin + self.horizon

    def contains(self, event_time: datetime, now: datetime | None = None) -> bool:
        return self.problem(event_time, now) is None

    def problem(self, event_time: datetime, now: datetime | None = None) -> str | None:
        """Why ``event_time`` is out of range, or None when it is plausible."""
        if event_time.tzinfo is None:
            return f"{event_time.isoformat()} has no time zone"
        if event_time < self.earliest:
            return (f"{event_time.isoformat()} is before {self.earliest.isoformat()}, the earliest "
                    "this stream can carry")  # fmt: skip
        latest = self.latest(now)
        if event_time > latest:
            return (f"{event_time.isoformat()} is after {latest.isoformat()}, the latest this "
                    "stream can carry")  # fmt: skip
        return None


@dataclass
class PartitionClock:
    """The newest event time accepted on one partition, and whether a row is too far ahead of it.

    A row more than ``max_skew`` ahead of the newest accepted time is refused and does not move
    it. A stream may really jump ahead (it resumes after an outage): once ``confirm_rows`` rows
    in a row are all that far ahead and within ``max_skew`` of one another, the jump is taken as
    real and the clock moves to them (those rows stay refused: their refusal is on record).

    Examples
    --------
    >>> t0 = datetime(2026, 3, 1, tzinfo=UTC)
    >>> clock = PartitionClock(timedelta(days=1), confirm_rows=2)
    >>> [clock.accept(t0 + timedelta(days=d)) for d in (0, 0.5, 900, 0.6, 30, 30.1, 30.2)]
    [True, True, False, True, False, False, True]
    """

    max_skew: timedelta
    confirm_rows: int = 100
    newest: datetime | None = None
    _ahead: list[datetime] = field(default_factory=list)

    def accept(self, event_time: datetime) -> bool:
        """True when the row is within the skew (the clock moves on with it)."""
        if self.newest is None or event_time <= self.newest + self.max_skew:
            if self.newest is None or event_time > self.newest:
                self.newest = event_time
            self._ahead.clear()
            return True
        if self._ahead and abs(event_time - self._ahead[0]) > self.max_skew:
            self._ahead.clear()  # not the same jump: start counting again
        self._ahead.append(event_time)
        if len(self._ahead) >= self.confirm_rows:
            self.newest = max(self._ahead)
            self._ahead.clear()
        return False
