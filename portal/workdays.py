"""Chinese working days, the one implementation every deadline uses (complaints, credit 公示): statutory holidays and make-up working days (调休) from the
``chinese-calendar`` package, which the State Council's annual notice updates every year.

The package only knows the years it was released with. For a date beyond its data (a deadline in
next year, before the package is updated) the calendar falls back to weekends-only and logs a
warning once per year, so that a deadline is still computed and an operator knows to upgrade.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

import chinese_calendar
import structlog

CalendarBasis = Literal["chinese-calendar", "weekends-only"]

_warned_years: set[int] = set()


def covered_years() -> tuple[int, int]:
    """The first and last year the installed chinese-calendar has data for."""
    from chinese_calendar import constants

    days = list(constants.holidays) + list(constants.workdays)
    return min(days).year, max(days).year


def in_range(day: date) -> bool:
    first, last = covered_years()
    return first <= day.year <= last


def is_working_day(day: date) -> bool:
    if in_range(day):
        return bool(chinese_calendar.is_workday(day))
    if day.year not in _warned_years:
        _warned_years.add(day.year)
        first, last = covered_years()
        structlog.get_logger(__name__).warning(
            "working_day_calendar_out_of_range",
            year=day.year,
            covered=f"{first}-{last}",
            fallback="weekends-only",
            hint="upgrade the chinese-calendar package",
        )
    return day.weekday() < 5


def add_working_days(start: date, days: int) -> date:
    """The ``days``-th working day after ``start`` (the start day itself is not counted)."""
    if days < 0:
        raise ValueError("days must be >= 0")
    current = start
    remaining = days
    while remaining:
        current += timedelta(days=1)
        if is_working_day(current):
            remaining -= 1
    return current


def basis_for(start: date, due: date) -> CalendarBasis:
    """Whether a deadline between two days was counted with real holiday data."""
    return "chinese-calendar" if in_range(start) and in_range(due) else "weekends-only"
