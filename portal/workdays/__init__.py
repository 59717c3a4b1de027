"""Chinese working days, the one implementation every deadline uses (complaints, credit 公示).

Statutory holidays and make-up working days (调休) are decided each year by the State Council's
notice (国务院办公厅关于YYYY年部分节假日安排的通知, published around November for the next year).
A day is answered from, in this order:

1. a notice an administrator imported (``gongzhi calendar import``, the back-office page
   ``/admin/calendar``): the days it lists, then weekends for the rest of its year. Imported data
   overrides the library for the year it covers;
2. the ``chinese-calendar`` package, for the years it was released with (2004–2026 for 1.11);
3. neither: ``GONGZHI_CALENDAR_UNKNOWN_YEAR`` decides. ``refuse`` raises
   ``CalendarYearNotLoaded`` (a deadline is not guessed); ``weekends`` counts weekends only and
   logs a warning once per year (the behaviour before imported calendars existed).

The functions are synchronous because many callers count days in plain code. Imported notices are
therefore kept in this process's memory: loaded from the database at start, replaced after a
commit that changes them, and refreshed periodically (``GONGZHI_CALENDAR_REFRESH_SECONDS``) so
that every server and worker process sees another's import (``portal/workdays/service.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cache
from typing import Literal

import chinese_calendar
import structlog

from portal.workdays.errors import CalendarYearNotLoaded

# "chinese-calendar" means counted with the statutory calendar (the library's data or an imported
# notice); "weekends-only" means at least one year on the way had neither. The values are part of
# the complaint API (``deadlines.calendar``) and do not change.
CalendarBasis = Literal["chinese-calendar", "weekends-only"]
UnknownYearPolicy = Literal["refuse", "weekends"]
YearSource = Literal["notice", "library"]

__all__ = [
    "CalendarBasis",
    "CalendarYearNotLoaded",
    "Coverage",
    "LoadedYear",
    "UnknownYearPolicy",
    "YearCoverage",
    "add_working_days",
    "basis_for",
    "configure",
    "coverage",
    "covered_years",
    "in_range",
    "install",
    "is_working_day",
    "loaded_years",
    "source_of",
]


@dataclass(frozen=True)
class LoadedYear:
    """One imported notice: the days it names. Any other day of ``year`` follows the weekend."""

    year: int
    title: str
    holidays: frozenset[date]
    make_up_days: frozenset[date]


@dataclass(frozen=True)
class _Calendar:
    years: Mapping[int, LoadedYear] = field(default_factory=dict)
    # Every day an imported notice names: True = working (调休上班), False = holiday.
    days: Mapping[date, bool] = field(default_factory=dict)
    unknown_year: UnknownYearPolicy = "weekends"


# Replaced as a whole (never mutated), so a reader in another thread sees one consistent calendar.
_calendar = _Calendar()
_lock = threading.Lock()
_warned_years: set[int] = set()


def configure(*, unknown_year: UnknownYearPolicy) -> UnknownYearPolicy:
    """Set what a day in an unknown year does; returns the previous policy."""
    global _calendar
    with _lock:
        previous = _calendar.unknown_year
        _calendar = _Calendar(_calendar.years, _calendar.days, unknown_year)
    return previous


def install(years: Iterable[LoadedYear]) -> None:
    """Replace the imported notices this process knows (all of them, not a delta)."""
    global _calendar
    by_year = {loaded.year: loaded for loaded in years}
    days: dict[date, bool] = {}
    # A notice may name days of the neighbouring year (the 2019 notice made Saturday 29 Dec 2018 a
    # working day): the later notice is the later decision, so it is applied last.
    for year in sorted(by_year):
        days.update(dict.fromkeys(by_year[year].make_up_days, True))
        days.update(dict.fromkeys(by_year[year].holidays, False))
    with _lock:
        _calendar = _Calendar(by_year, days, _calendar.unknown_year)


def loaded_years() -> list[int]:
    """The years an imported notice covers, in this process."""
    return sorted(_calendar.years)


@cache
def covered_years() -> tuple[int, int]:
    """The first and last year the installed chinese-calendar has data for."""
    from chinese_calendar import constants

    days = list(constants.holidays) + list(constants.workdays)
    return min(days).year, max(days).year


def source_of(year: int) -> YearSource | None:
    """Where the holidays of ``year`` come from, or None when nobody knows them."""
    if year in _calendar.years:
        return "notice"
    first, last = covered_years()
    if first <= year <= last:
        return "library"
    return None


def in_range(day: date) -> bool:
    """Whether the statutory calendar of ``day``'s year is known (imported or in the library)."""
    return source_of(day.year) is not None


def is_working_day(day: date) -> bool:
    calendar = _calendar
    named = calendar.days.get(day)
    if named is not None:
        return named
    if day.year in calendar.years:
        return day.weekday() < 5
    if source_of(day.year) == "library":
        return bool(chinese_calendar.is_workday(day))
    if calendar.unknown_year == "refuse":
        raise CalendarYearNotLoaded(day.year)
    if day.year not in _warned_years:
        _warned_years.add(day.year)
        first, last = covered_years()
        structlog.get_logger(__name__).warning(
            "working_day_calendar_out_of_range",
            year=day.year,
            covered=f"{first}-{last}",
            imported=loaded_years(),
            fallback="weekends-only",
            hint=f"import the State Council's {day.year} notice: gongzhi calendar import FILE",
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


def working_days_between(start: date, end: date) -> int:
    """How many working days fall after ``start`` up to and including ``end`` (0 if ``end`` is
    not after ``start``): the days a paused deadline did not count."""
    count = 0
    current = start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current):
            count += 1
    return count


def basis_for(start: date, due: date) -> CalendarBasis:
    """Whether a deadline between two days was counted with real holiday data (every year from
    ``start`` to ``due`` known)."""
    first, last = sorted((start.year, due.year))
    known = all(source_of(year) is not None for year in range(first, last + 1))
    return "chinese-calendar" if known else "weekends-only"


@dataclass(frozen=True)
class YearCoverage:
    year: int
    source: YearSource | None
    title: str | None = None


@dataclass(frozen=True)
class Coverage:
    """What a dashboard shows: the years deadlines may reach now, where each year's holidays come
    from, and a warning (Chinese) for each year nobody knows yet."""

    years: list[YearCoverage]
    unknown_year: UnknownYearPolicy

    @property
    def missing(self) -> list[int]:
        return [y.year for y in self.years if y.source is None]

    @property
    def warnings(self) -> list[str]:
        consequence = (
            "期限无法计算，相关办理操作将被拒绝"
            if self.unknown_year == "refuse"
            else "期限暂按周末计算，可能不准确"
        )
        return [
            f"{year}年节假日安排尚未导入：{consequence}。请管理员导入国务院办公厅关于{year}年"
            "部分节假日安排的通知。"
            for year in self.missing
        ]


def coverage(today: date, *, horizon_days: int) -> Coverage:
    """The years from ``today`` to ``today + horizon_days`` (the longest deadline a case can
    reach, extensions included) and where their holidays come from."""
    years = range(today.year, (today + timedelta(days=horizon_days)).year + 1)
    calendar = _calendar
    return Coverage(
        years=[
            YearCoverage(
                year=year,
                source=source_of(year),
                title=calendar.years[year].title if year in calendar.years else None,
            )
            for year in years
        ],
        unknown_year=calendar.unknown_year,
    )
