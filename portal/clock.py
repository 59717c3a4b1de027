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

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

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

    def __init__(self, start: datetime) -> None:
        self.offset = _aware(start) - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("naive datetime: give the clock a timezone-aware moment")
    return moment.astimezone(UTC)


_clock: Clock = SystemClock()


def get_clock() -> Clock:
    return _clock


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


def timestamp() -> float:
    """Seconds since the epoch on the portal's clock (signed links, token expiry)."""
    return _clock.now().timestamp()
