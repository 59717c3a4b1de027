"""Settings of the working-day calendar (``GONGZHI_CALENDAR_*``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends
from pydantic import Field

from portal.deps import domain_settings
from portal.settings import DomainSettings


class CalendarSettings(DomainSettings):
    # A deadline in a year with neither an imported State Council notice nor chinese-calendar
    # data: "refuse" raises calendar_year_not_loaded (staff see the error and the dashboard
    # warning), "weekends" counts Monday–Friday and logs a warning. The default stays "weekends"
    # while the complaint workflow has no way to accept a case without a computable deadline:
    # refusing would turn away a complaint filed in late December.
    calendar_unknown_year: Literal["refuse", "weekends"] = "weekends"
    # How often each process reloads imported notices from the database (another process's
    # import reaches this one within this delay; the importing process applies it at once).
    calendar_refresh_seconds: float = Field(default=60.0, ge=1.0, le=3600.0)
    # How far ahead the dashboard looks for a year without holiday data: beyond the longest
    # deadline a case can reach (45 working days of mediation, about ten weeks with holidays).
    calendar_warning_horizon_days: int = Field(default=100, ge=0, le=366)


SETTINGS = CalendarSettings

CalendarConfig = Annotated[CalendarSettings, Depends(domain_settings(CalendarSettings))]
