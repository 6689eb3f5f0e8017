"""Event-time bounds over the whole datetime range (hypothesis): a plausible time never breaks a
window's arithmetic, an implausible one is refused with a reason, nothing raises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitors.windowing import TumblingWindows
from shared.eventtime import EventTimeBounds, PartitionClock
from shared.settings import Settings

ORIGIN = datetime(2026, 3, 1, tzinfo=UTC)
ANY_TIME = st.datetimes(
    min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(event_time=ANY_TIME, horizon_days=st.integers(1, 2_000_000), live=st.booleans())
def test_any_time_is_judged_and_a_plausible_one_fits_a_window(event_time, horizon_days, live):
    try:
        bounds = EventTimeBounds(ORIGIN, timedelta(days=horizon_days), timedelta(days=7), live)
    except ValueError:
        assert horizon_days > 2_000  # past the years 2 to 9000: refused when configured
        return
    problem = bounds.problem(event_time)
    if problem is not None:
        assert event_time < bounds.earliest or event_time > bounds.latest()
        return
    windows = TumblingWindows(ORIGIN, timedelta(days=1), timedelta(0), list)
    windows.add(event_time, "p", 0).append(1)
    assert [len(closed.state) for closed in windows.flush()] == [1]


def test_a_naive_time_is_refused():
    bounds = EventTimeBounds(ORIGIN, timedelta(days=10), timedelta(days=1))
    assert "no time zone" in bounds.problem(datetime(2026, 3, 2))


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.integers(-3, 3) | st.integers(1000, 2000), max_size=60))
def test_a_partition_clock_moves_ahead_only_when_enough_rows_agree(steps):
    """Rows near one another, with strays 1000+ days ahead: a stray is refused, and the clock
    jumps only on the third refused row in a row that agrees with the others."""
    clock = PartitionClock(timedelta(days=7), confirm_rows=3)
    day, refused_in_a_row = ORIGIN, 0
    for step in steps:
        at = day + timedelta(days=step)
        before = clock.newest
        if clock.accept(at):
            refused_in_a_row = 0
            assert before is None or at <= before + timedelta(days=7)
            day = max(day, at)
            continue
        refused_in_a_row += 1
        assert before is not None and at > before + timedelta(days=7)
        if clock.newest != before:  # the jump taken as real
            assert refused_in_a_row >= 3 and clock.newest >= at - timedelta(days=7)
            day, refused_in_a_row = clock.newest, 0


def test_settings_refuse_a_horizon_past_the_representable_years():
    with pytest.raises(ValueError, match="TRUSTWATCH_EVENT_TIME_HORIZON_DAYS"):
        Settings(event_time_horizon_days=3_000_000)
