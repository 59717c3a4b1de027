"""The portal's one clock: "today" is the day in China, whatever the host's timezone says."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from portal import clock
from portal.db import utcnow


def test_today_is_the_day_in_shanghai_in_the_utc_evening() -> None:
    # 23:30 UTC on 31 December is already 07:30 on 1 January in China.
    with clock.use_clock(clock.FixedClock(datetime(2026, 12, 31, 23, 30, tzinfo=UTC))):
        assert clock.today() == date(2027, 1, 1)
        assert utcnow() == datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    with clock.use_clock(clock.FixedClock(datetime(2026, 12, 31, 15, 59, tzinfo=UTC))):
        assert clock.today() == date(2026, 12, 31)


def test_offset_clock_starts_at_the_chosen_moment_and_keeps_ticking() -> None:
    start = datetime(2026, 6, 1, 16, 30, tzinfo=UTC)
    offset = clock.OffsetClock(start)
    first = offset.now()
    assert abs(first - start) < timedelta(seconds=5)
    assert offset.now() >= first


def test_fixed_clock_moves_and_refuses_naive_moments() -> None:
    fixed = clock.FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
    fixed.move(timedelta(days=1))
    assert fixed.now() == datetime(2026, 1, 2, tzinfo=UTC)
    try:
        clock.FixedClock(datetime(2026, 1, 1))
    except ValueError:
        pass
    else:
        raise AssertionError("a naive moment was accepted")


def test_processes_started_later_read_the_same_test_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI found a worker started ten minutes into a ``GONGZHI_TEST_NOW`` run ten minutes behind
    the tests, so the job the tests made due was not due for it. A child process inherits the
    moment pinned to real time by the first process, and reads the same time."""
    monkeypatch.setenv(clock.TEST_START_VARIABLE, "2026-12-31T23:30:00+00:00")
    previous = clock.set_clock(clock.SystemClock())
    try:
        clock.start_from_environment(production=False)
        assert "@" in os.environ[clock.TEST_START_VARIABLE]
        time.sleep(2)  # the child starts well after this process's clock did
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                "from portal import clock; clock.start_from_environment(production=False); "
                "print(clock.now().timestamp())",
            ],
            capture_output=True,
            text=True,
            check=True,
            env=os.environ.copy(),
        )
        here = clock.now().timestamp()
        assert abs(float(child.stdout) - here) < 1.5
        assert clock.now() - datetime(2026, 12, 31, 23, 30, tzinfo=UTC) >= timedelta(seconds=2)
    finally:
        clock.set_clock(previous)
