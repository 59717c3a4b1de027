"""Complaints (投诉) and reports (举报): cases, the people behind them, their timeline, photos.

Personal data of complainants and reporters lives in ``case_party``, apart from ``complaint_case``,
so that nothing that serialises a case can leak it by accident: only the staff case view joins it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Date, Index, Text, UniqueConstraint
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field, SQLModel

from portal.accounts.models import enum_column
from portal.crypto import EncryptedString, keyed_hash
from portal.db import UTCDateTime, new_id, utcnow


def _optional_enum(enum: type[StrEnum]) -> Column:  # type: ignore[type-arg]
    return Column(
        SAEnum(enum, native_enum=False, length=24, values_callable=lambda e: [m.value for m in e]),
        nullable=True,
    )


class CaseKind(StrEnum):
    complaint = "complaint"  # 投诉: a consumer dispute, mediated
    report = "report"  # 举报: a lead about a violation, verified


class CaseStatus(StrEnum):
    received = "received"  # 待受理
    accepted = "accepted"  # 已受理 (complaint) / 核查中 (report)
    mediating = "mediating"  # 调解中 (complaints only)
    concluded = "concluded"  # 已办结, with a finding
    rejected = "rejected"  # 不予受理
    closed = "closed"  # 已关闭
    merged = "merged"  # 已合并 into another case


OPEN_STATUSES = frozenset({CaseStatus.received, CaseStatus.accepted, CaseStatus.mediating})


class Finding(StrEnum):
    substantiated = "substantiated"  # 属实
    partly_substantiated = "partly_substantiated"  # 部分属实
    not_substantiated = "not_substantiated"  # 不属实


class CoordSystem(StrEnum):
    wgs84 = "wgs84"
    gcj02 = "gcj02"
    bd09 = "bd09"


class CaseSource(StrEnum):
    api = "api"
    portal = "portal"
    open311 = "open311"


class PartyRole(StrEnum):
    complainant = "complainant"
    reporter = "reporter"


class Case(SQLModel, table=True):
    __tablename__ = "complaint_case"
    __table_args__ = (
        Index("ix_complaint_case_queue", "region_code", "status", "received_at"),
        Index("ix_complaint_case_business", "business_uscc", "category"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    tracking_number: str = Field(max_length=24, unique=True)
    # SHA-256 of the secret access token shown once to the submitter.
    access_token_hash: str = Field(max_length=64)
    kind: CaseKind = Field(sa_column=enum_column(CaseKind))
    category: str = Field(max_length=40)
    status: CaseStatus = Field(sa_column=enum_column(CaseStatus, index=True))
    source: CaseSource = Field(sa_column=enum_column(CaseSource))
    description: str = Field(sa_column=Column(Text, nullable=False))
    request: str | None = Field(default=None, sa_column=Column(Text, nullable=True))  # 诉求
    extra: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    business_name: str | None = Field(default=None, max_length=200)
    business_uscc: str | None = Field(default=None, max_length=18)
    business_address: str | None = Field(default=None, max_length=300)
    # WGS-84, converted from whatever the client's map SDK gave.
    lat: float | None = None
    lng: float | None = None
    coord_system: CoordSystem | None = Field(default=None, sa_column=_optional_enum(CoordSystem))
    region_code: str = Field(foreign_key="region.code", max_length=6)
    instrument_token: str | None = Field(default=None, max_length=128, index=True)
    certificate_number: str | None = Field(default=None, max_length=64, index=True)
    instrument_id: uuid.UUID | None = None  # from the certificate registry, when installed
    media_url: str | None = Field(default=None, max_length=1000)  # Open311 clients' own link
    anonymous: bool = False
    user_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id", index=True)
    assignee_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    linked_case_id: uuid.UUID | None = Field(default=None, foreign_key="complaint_case.id")
    merged_into_id: uuid.UUID | None = Field(default=None, foreign_key="complaint_case.id")
    finding: Finding | None = Field(default=None, sa_column=_optional_enum(Finding))
    reject_reason: str | None = Field(default=None, max_length=40)
    received_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    accepted_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    concluded_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # When the submitter's personal data was erased after the retention period (retention.py).
    personal_data_erased_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    # Due dates (Asia/Shanghai calendar days, inclusive), counted in Chinese working days.
    acceptance_due: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    handling_due: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    extended: bool = False
    # The day the handling period stopped counting while the instrument is tested (检定, 检验,
    # 检测, 鉴定: 投诉举报处理暂行办法 第二十条); None while it counts.
    paused_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    overdue: bool = Field(default=False, index=True)
    # 分送 (投诉举报处理暂行办法 第三十七条): the higher bureau that dispatched the case here.
    dispatched_from: str | None = Field(default=None, max_length=6)
    # A dispute over jurisdiction (第三十条): the other bureau, the day the two settle it by, and
    # the common higher bureau it went to ("000000": 国家市场监督管理总局) when they did not.
    dispute_region: str | None = Field(default=None, max_length=6)
    dispute_due: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    dispute_escalated_to: str | None = Field(default=None, max_length=6)


class CaseParty(SQLModel, table=True):
    """A complainant's or reporter's personal data: only handling staff read this table."""

    __tablename__ = "case_party"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="complaint_case.id", index=True)
    role: PartyRole = Field(sa_column=enum_column(PartyRole))
    # Encrypted at rest (portal/crypto.py); ``phone_hash`` finds a person's cases by phone.
    name: str | None = Field(default=None, sa_column=Column(EncryptedString(), nullable=True))
    phone: str | None = Field(default=None, sa_column=Column(EncryptedString(), nullable=True))
    phone_hash: str | None = Field(default=None, max_length=64, index=True)
    id_number: str | None = Field(default=None, sa_column=Column(EncryptedString(), nullable=True))
    address: str | None = Field(
        default=None, sa_column=Column(EncryptedString(1024), nullable=True)
    )
    email: str | None = Field(default=None, sa_column=Column(EncryptedString(1024), nullable=True))

    def set_phone(self, phone: str | None) -> None:
        self.phone = phone
        self.phone_hash = keyed_hash(phone) if phone else None


class CaseEvent(SQLModel, table=True):
    """The case's history. ``public`` events form the timeline the submitter sees."""

    __tablename__ = "case_event"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="complaint_case.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    type: str = Field(max_length=32)
    public: bool = False
    actor_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str | None = Field(default=None, max_length=16)
    body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    notified_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


class Media(SQLModel, table=True):
    """A photo: the byte-exact original (evidence, staff only) and two metadata-free JPEGs."""

    __tablename__ = "case_media"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    sha256: str = Field(max_length=64, index=True)
    content_type: str = Field(max_length=32)
    size: int
    width: int  # upright
    height: int
    taken_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    original_key: str = Field(max_length=200)
    display_key: str = Field(max_length=200)
    thumbnail_key: str = Field(max_length=200)
    uploader_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    case_id: uuid.UUID | None = Field(default=None, foreign_key="complaint_case.id", index=True)
    # Evidence another domain took through portal/facts.py ``hold_photos`` (an inspection's
    # photos, "enforcement_inspection:<id>"): not an orphan, though attached to no case.
    held_by: str | None = Field(default=None, max_length=64)
    position: int = 0
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )


class IdempotencyRecord(SQLModel, table=True):
    """One submit per key: a replay returns the stored response, a different body is refused."""

    __tablename__ = "case_idempotency"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    scope: str = Field(max_length=64)  # the account id, or "anonymous"
    key: str = Field(max_length=128)
    request_hash: str = Field(max_length=64)
    case_id: uuid.UUID | None = Field(default=None, foreign_key="complaint_case.id")
    # The original response, encrypted with the secret key (it holds the access token).
    response: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )


class TrackingCounter(SQLModel, table=True):
    """One row per (Asia/Shanghai) day; incremented with UPDATE … RETURNING under a row lock."""

    __tablename__ = "case_tracking_counter"

    day: str = Field(primary_key=True, max_length=8)
    value: int = 0
