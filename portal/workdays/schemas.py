from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from portal.workdays.notice import MAX_NOTICE_CHARS


class NoticeImport(BaseModel):
    """The State Council's notice as published (docs/calendar.md); ``year`` only when the text
    lacks its title."""

    text: str = Field(min_length=1, max_length=MAX_NOTICE_CHARS)
    year: int | None = Field(default=None, ge=2000, le=2200)


class NamedDayRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    day: date
    festival: str


class YearDaysRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    year: int
    source: Literal["notice", "library"]
    title: str
    holidays: list[NamedDayRead]
    make_up_days: list[NamedDayRead]
    document_number: str | None = None
    signed_on: date | None = None
    imported_at: datetime | None = None


class YearCoverageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    year: int
    source: Literal["notice", "library"] | None
    title: str | None = None


class CoverageRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    years: list[YearCoverageRead]
    missing: list[int]
    warnings: list[str] = Field(description="Chinese, one per year without holiday data")
    unknown_year: Literal["refuse", "weekends"] = Field(
        description="What a deadline in a missing year does (GONGZHI_CALENDAR_UNKNOWN_YEAR)"
    )
