"""Enforcement notices (行政处罚信息公示). The table keeps its name from when notices lived in the
search domain (``search_notice``), so moving the code needed no migration."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, Numeric, Text
from sqlmodel import Field, SQLModel

from portal.accounts.models import enum_column
from portal.db import UTCDateTime, new_id, utcnow


class NoticeStatus(StrEnum):
    published = "published"
    withdrawn = "withdrawn"  # by the regulator (decision revoked, early end of display)
    expired = "expired"  # its display period ended (set by the periodic job)


class PartyKind(StrEnum):
    """Who was penalised. An individual's name is masked wherever the public sees the notice
    (portal/privacy.py); it used to be guessed from the name's length (issue 11)."""

    enterprise = "enterprise"  # 单位 (a company, a shop, an individual business with a name)
    individual = "individual"  # 自然人


class EnforcementNotice(SQLModel, table=True):
    """A published administrative penalty decision. Visible from ``published_on`` through
    ``display_until`` unless withdrawn."""

    __tablename__ = "search_notice"
    __table_args__ = (Index("ix_search_notice_display", "status", "display_until"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    title: str = Field(max_length=200)
    decision_number: str = Field(max_length=100, unique=True)  # 文书号
    party_name: str = Field(max_length=200)
    party_uscc: str | None = Field(default=None, max_length=18, index=True)
    party_kind: PartyKind = Field(default=PartyKind.enterprise, sa_column=enum_column(PartyKind))
    violation: str = Field(sa_column=Column(Text, nullable=False))
    legal_basis: str = Field(sa_column=Column(Text, nullable=False))
    penalty_kind: str = Field(max_length=100)  # e.g. 警告；罚款
    penalty_amount: Decimal | None = Field(
        default=None, sa_column=Column(Numeric(14, 2), nullable=True)
    )
    authority: str = Field(max_length=200)
    region_code: str = Field(foreign_key="region.code", max_length=6, index=True)
    decision_date: date
    published_on: date
    display_until: date
    status: NoticeStatus = Field(
        default=NoticeStatus.published, sa_column=enum_column(NoticeStatus, index=True)
    )
    withdrawn_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    withdrawal_reason: str | None = Field(default=None, max_length=500)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


def snapshot(notice: EnforcementNotice) -> dict[str, Any]:
    """The row's fields for the audit log (long texts shortened)."""
    data = notice.model_dump()
    for key in ("violation", "legal_basis"):
        if isinstance(data.get(key), str) and len(data[key]) > 500:
            data[key] = data[key][:500] + "…"
    return data
