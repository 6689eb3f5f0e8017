from datetime import UTC, datetime, timedelta

import pytest

from monitors.windowing import TumblingWindows, window_start

ORIGIN = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def at(days, hours=0):
    return ORIGIN + days * DAY + timedelta(hours=hours)


def new_windows(lateness=timedelta(0)):
    return TumblingWindows(ORIGIN, DAY, lateness, list)


def test_window_start_is_a_pure_function_of_time():
    assert window_start(at(3, 23), ORIGIN, DAY) == at(3)
    assert window_start(at(3), ORIGIN, DAY) == at(3)
    assert window_start(at(-1, 5), ORIGIN, DAY) == at(-1)


def test_watermark_waits_for_every_assigned_partition():
    windows = new_windows()
    windows.expect_partitions({"p0", "p1"})
    windows.add(at(0, 1), "p0", 0).append("a")
    windows.add(at(2, 1), "p0", 1).append("b")
    assert windows.advance() == []  # p1 has said nothing yet: day 0 may still get rows
    windows.add(at(0, 2), "p1", 0).append("c")
    assert windows.advance() == []  # p1 is still in day 0
    windows.add(at(1, 2), "p1", 1).append("d")
    closed = windows.advance()
    assert [(c.start, sorted(c.state)) for c in closed] == [(at(0), ["a", "c"])]


def test_late_rows_are_counted_on_the_next_closed_window():
    windows = new_windows()
    windows.add(at(0, 1), "p0", 0).append(1)
    windows.add(at(1, 1), "p0", 1).append(2)
    assert [c.start for c in windows.advance()] == [at(0)]
    assert windows.add(at(0, 5), "p0", 2) is None
    windows.add(at(2, 1), "p0", 3).append(3)
    closed = windows.advance()
    assert [(c.start, c.late_rows) for c in closed] == [(at(1), 1)]
    assert windows.late_rows_total == 1


def test_allowed_lateness_keeps_windows_open():
    windows = new_windows(lateness=timedelta(hours=6))
    windows.add(at(0, 1), "p0", 0).append(1)
    windows.add(at(1, 3), "p0", 1).append(2)
    assert windows.advance() == []
    windows.add(at(0, 20), "p0", 2).append(3)  # late but within lateness: still counted
    windows.add(at(1, 7), "p0", 3)
    closed = windows.advance()
    assert [(c.start, c.state) for c in closed] == [(at(0), [1, 3])]


def test_held_offsets_are_the_first_offsets_of_open_windows():
    windows = new_windows()
    windows.add(at(0, 1), "p0", 10)
    windows.add(at(0, 2), "p0", 11)
    windows.add(at(1, 1), "p0", 12)
    windows.add(at(0, 3), "p1", 5)
    assert windows.held_offsets() == {"p0": 10, "p1": 5}
    windows.add(at(1, 2), "p1", 6)
    windows.advance()
    assert windows.held_offsets() == {"p0": 12, "p1": 6}
    assert len(windows.flush()) == 1
    assert windows.held_offsets() == {}


def test_window_size_must_be_positive():
    with pytest.raises(ValueError):
        TumblingWindows(ORIGIN, timedelta(0), timedelta(0), list)


def test_a_secondary_partition_closes_with_the_observed_primary_time():
    windows = new_windows()
    windows.expect_partitions({"scored"})
    windows.add(at(0, 5), "quarantine", 0, advances_watermark=False).append("broken")
    windows.add(at(2, 2), "quarantine", 1, advances_watermark=False).append("broken")
    assert windows.advance() == []  # its own rows do not move the watermark
    windows.observe(at(1, 1), "scored")
    assert [(c.start, c.state) for c in windows.advance()] == [(at(0), ["broken"])]
    assert windows.add(at(0, 6), "quarantine", 2, advances_watermark=False) is None  # late
    windows.observe(at(3, 1), "scored")
    closed = windows.advance()
    assert [(c.start, c.late_rows) for c in closed] == [(at(2), 1)]
