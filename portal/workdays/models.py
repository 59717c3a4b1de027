"""Imported holiday arrangements: one row per year a State Council notice covers, one row per day
it names. Any other day of a covered year follows the weekend (Monday–Friday working)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Column, Date, ForeignKey, Integer, Text
from sqlmodel import Field, SQLModel

from portal.db import UTCDateTime, utcnow


class CalendarYear(SQLModel, table=True):
    __tablename__ = "calendar_year"

    year: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    title: str = Field(max_length=200)
    document_number: str | None = Field(default=None, max_length=64)  # 国办发明电〔2025〕7号
    signed_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    # The notice as imported, kept so that anyone can check the days against the source.
    text: str = Field(sa_column=Column(Text, nullable=False))
    imported_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    imported_by_id: uuid.UUID | None = Field(
        default=None, foreign_key="user_account.id", ondelete="SET NULL"
    )


class CalendarDay(SQLModel, table=True):
    """A day a notice names. The key includes the notice's year: the notice of 2019 named
    29 December 2018 (a make-up working day), a day of the year before."""

    __tablename__ = "calendar_day"

    year: int = Field(
        sa_column=Column(
            Integer,
            ForeignKey("calendar_year.year", ondelete="CASCADE"),
            primary_key=True,
            autoincrement=False,
        )
    )
    day: date = Field(sa_column=Column(Date, primary_key=True))
    working: bool  # True: 调休上班 (a weekend day worked); False: 放假
    festival: str = Field(max_length=16)
