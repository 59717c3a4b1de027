"""Deadlines in Chinese working days: holidays and make-up working days (调休)."""

from __future__ import annotations

from datetime import date

import pytest
import structlog

from portal import workdays


def test_national_day_2025_holiday_and_make_up_days() -> None:
    assert not workdays.is_working_day(date(2025, 10, 1))
    assert not workdays.is_working_day(date(2025, 10, 8))
    assert workdays.is_working_day(date(2025, 9, 28))  # Sunday, make-up working day
    assert workdays.is_working_day(date(2025, 10, 11))  # Saturday, make-up working day
    assert not workdays.is_working_day(date(2025, 10, 12))  # an ordinary Sunday


def test_seven_working_days_across_national_day() -> None:
    # Received Tuesday 30 Sep: 1 Oct–8 Oct are holidays; 9, 10, 11 (Sat, make-up), 13, 14, 15, 16.
    assert workdays.add_working_days(date(2025, 9, 30), 7) == date(2025, 10, 16)
    # Counting the make-up Sunday before the holiday: received Friday 26 Sep, 1 working day later
    # is Sunday 28 Sep.
    assert workdays.add_working_days(date(2025, 9, 26), 1) == date(2025, 9, 28)
    # Plain weekday arithmetic would have said 9 Oct: the calendar matters.
    assert workdays.add_working_days(date(2025, 9, 30), 45) == date(2025, 12, 9)


def test_zero_days_is_the_same_day_and_negative_is_refused() -> None:
    assert workdays.add_working_days(date(2025, 9, 30), 0) == date(2025, 9, 30)
    with pytest.raises(ValueError):
        workdays.add_working_days(date(2025, 9, 30), -1)


def test_years_beyond_the_package_fall_back_to_weekends_with_a_warning() -> None:
    first, last = workdays.covered_years()
    assert first <= 2025 <= last
    beyond = date(last + 3, 1, 1)
    workdays._warned_years.discard(beyond.year)
    with structlog.testing.capture_logs() as logs:
        # 1 January is a public holiday every year, but without data it counts as a weekday.
        expected = beyond.weekday() < 5
        assert workdays.is_working_day(beyond) is expected
        workdays.is_working_day(date(last + 3, 1, 2))
    warnings = [e for e in logs if e["event"] == "working_day_calendar_out_of_range"]
    assert len(warnings) == 1  # once per year, not once per day
    assert warnings[0]["year"] == last + 3
    assert warnings[0]["fallback"] == "weekends-only"
    # Saturday and Sunday are still days off.
    saturday = date(last + 3, 1, 1)
    while saturday.weekday() != 5:
        saturday = saturday.replace(day=saturday.day + 1)
    assert not workdays.is_working_day(saturday)
    assert workdays.basis_for(date(last, 12, 30), beyond) == "weekends-only"
    assert workdays.basis_for(date(2025, 9, 30), date(2025, 10, 16)) == "chinese-calendar"
