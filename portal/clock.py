"""The one clock: every "now" and "today" in the code base comes from here.

Stored times are timezone-aware UTC (``now()``); calendar days are days in China (``today()``,
Asia/Shanghai), because certificates expire, display periods end and deadlines fall at local
midnight, not at UTC midnight. Nothing else calls ``datetime.now`` or ``date.today``: a date taken
from the host is a UTC date for eight hours of every day and made a test fail every evening.

The clock is injectable: ``use_clock(FixedClock(...))`` (a context manager) or ``set_clock`` for a
whole process. ``OffsetClock`` keeps time flowing from a chosen starting moment, which is how the
suite runs "at 23:30 UTC on the last day of the year" (``GONGZHI_TEST_NOW``, tests/conftest.py).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until moved (tests)."""

    def __init__(self, moment: datetime) -> None:
        self.moment = _aware(moment)

    def now(self) -> datetime:
        return self.moment

    def move(self, delta: timedelta) -> None:
        self.moment += delta

    def set(self, moment: datetime) -> None:
        self.moment = _aware(moment)


class OffsetClock:
    """Real time, started at another moment: it keeps ticking, so leases, rate windows and
    token lifetimes behave as in production, but the calendar is the one chosen."""

    def __init__(self, start: datetime, *, at: datetime | None = None) -> None:
        """``start`` is the clock's time at the real moment ``at`` (now, if not given)."""
        self.offset = _aware(start) - (_aware(at) if at is not None else datetime.now(UTC))

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: give the clock a timezone-aware moment")
    return moment.astimezone(UTC)


_clock: Clock = SystemClock()


def set_clock(clock: Clock) -> Clock:
    """Install ``clock`` for the whole process; returns the previous one."""
    global _clock
    previous, _clock = _clock, clock
    return previous


@contextmanager
def use_clock(clock: Clock) -> Iterator[Clock]:
    previous = set_clock(clock)
    try:
        yield clock
    finally:
        set_clock(previous)


def now() -> datetime:
    """Timezone-aware UTC now."""
    return _clock.now()


def today() -> date:
    """The calendar day in China."""
    return local_date(_clock.now())


def local_date(moment: datetime) -> date:
    """The day in China on which ``moment`` falls."""
    return moment.astimezone(SHANGHAI).date()


@functools.lru_cache(maxsize=65536)
def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (or earlier), the month's last day where it is shorter:
    31 January + 1 month is 28 or 29 February, as display periods and verification cycles count.
    Cached: a bulk import asks it for every row, mostly for the same few hundred days, and
    relativedelta's arithmetic stood out in the import's profile."""
    result: date = day + relativedelta(months=months)
    return result


def add_years(day: date, years: int) -> date:
    """29 February + 1 year is 28 February."""
    return add_months(day, 12 * years)


TEST_START_VARIABLE = "GONGZHI_TEST_NOW"


def start_from_environment(*, production: bool) -> None:
    """``GONGZHI_TEST_NOW=<ISO moment>`` starts this process's clock at that moment (an
    ``OffsetClock``): the test suite sets it to run at a chosen hour and passes it on to the
    servers and workers it starts, so every process shares one calendar. Refused in production.

    The first process to read it pins it to the real moment it started (``<moment>@<real
    moment>``, written back to the environment its children inherit), so a worker started ten
    minutes into the run reads the same time as the tests, not ten minutes behind: a job the
    tests made due now is due for the worker too."""
    value = os.environ.get(TEST_START_VARIABLE)
    if not value:
        return
    if production:
        raise RuntimeError(f"{TEST_START_VARIABLE} is for tests; unset it in production")
    start, _, anchor = value.partition("@")
    real = datetime.fromisoformat(anchor) if anchor else datetime.now(UTC)
    set_clock(OffsetClock(datetime.fromisoformat(start), at=real))
    os.environ[TEST_START_VARIABLE] = f"{start}@{real.isoformat()}"


def timestamp() -> float:
    """Seconds since the epoch on the portal's clock (signed links, token expiry)."""
    return _clock.now().timestamp()
