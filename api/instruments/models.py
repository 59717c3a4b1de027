"""Owners' registrations of compulsory-verification instruments (强检器具登记/备案) and their
append-only history.

强制检定的工作计量器具检定管理办法 (article number to verify): the owner (使用单位) lists its compulsory instruments and
registers them with the local bureau, then applies for verification. A registration is the
owner's statement of one instrument; the bureau of its region confirms or rejects it. Once the
instrument is due (at once when it was never verified, or a cycle after the verification the
owner declares), it is entered in the certificate registry (portal/facts.py ``enter_in_registry``),
where certificates attach to it and the region's overdue list counts it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from portal.accounts.models import enum_column
from portal.db import UTCDateTime, new_id, utcnow

# The columns the regional statistics read of each registration (models' index, statistics.py).
STATISTICS_COLUMNS = (
    "region_code",
    "category_code",
    "status",
    "current_kind",
    "current_valid_until",
    "current_revoked",
    "due_on",
    "last_verified_on",
    "verification_form",
    "created_at",
)


class RegistrationStatus(StrEnum):
    pending = "pending"  # 待确认
    confirmed = "confirmed"  # 已确认
    rejected = "rejected"  # 已退回
    retired = "retired"  # 已注销 (scrapped, replaced or out of compulsory use)


class RegisteredInstrument(SQLModel, table=True):
    __tablename__ = "registered_instrument"
    __table_args__ = (
        # The owner's identity of an instrument: registering it again is recognised, not doubled;
        # serial second, so that the import's look-up by owner and serials uses this index.
        UniqueConstraint("owner_id", "serial", "category_code", "manufacturer"),
        Index("ix_registered_instrument_region_status", "region_code", "status"),
        # An institution's certificates are matched to registrations by serial, whatever the
        # owner (api/instruments/facts.py registered_claims, once per import batch).
        Index("ix_registered_instrument_serial", "serial"),
        # The regional statistics (statistics.py): the GROUP BY of a region's rows by category
        # and state reads every column the state needs from this index alone (an index-only
        # scan, a fraction of the wide rows); and the registry instruments a region's
        # registrations link to (its verifications by month).
        Index(
            "ix_registered_instrument_statistics",
            *STATISTICS_COLUMNS,
        ),
        Index("ix_registered_instrument_region_registry", "region_code", "registry_instrument_id"),
        # The year's retirements by month (statistics.py retired_by_month) test each retired
        # registration's region by its key: from this index alone, not the wide row.
        Index("ix_registered_instrument_id_region", "id", "region_code"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    category_code: str = Field(max_length=32)  # a code of /api/v1/instrument-categories
    model: str = Field(default="", max_length=100)
    serial: str = Field(max_length=100)  # 出厂编号
    manufacturer: str = Field(default="", max_length=200)
    location: str = Field(default="", max_length=200)  # where on the owner's site
    usage_area: str = Field(max_length=8)  # 贸易结算 / 安全防护 / 医疗卫生 / 环境监测
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    region_code: str = Field(foreign_key="region.code", max_length=6)
    address: str = Field(default="", max_length=300)
    in_use_since: date
    # A verification the owner declares (a paper certificate not in the registry): the cycle
    # runs from it. None: never verified, so due the day it is put in use.
    last_verified_on: date | None = None
    verification_form: str = Field(max_length=20)  # of the cycle rule that applies
    cycle_months: int | None = None
    due_on: date | None = None  # None: no cycle and verified (失准报废)
    # The due day the owner was last reminded of (jobs.py): each due day is reminded once.
    reminded_for: date | None = None
    status: RegistrationStatus = Field(
        default=RegistrationStatus.pending, sa_column=enum_column(RegistrationStatus)
    )
    review_reason: str = Field(default="", max_length=500)
    reviewed_by: uuid.UUID | None = None
    reviewed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    registry_instrument_id: uuid.UUID | None = Field(default=None, index=True)
    replaces_id: uuid.UUID | None = Field(default=None, foreign_key="registered_instrument.id")
    # A copy of the registry instrument's current certificate (portal/facts.py
    # ``current_certificates``), so that the regional statistics count states from this table
    # alone instead of joining the registry (issue 15, bench/instrument_stats.py). Only what does
    # not change with the date is kept: the state itself (即将到期, 已过期) is derived from
    # ``current_valid_until`` and the day of the query. Kept in the same transaction as every
    # change of the registry's current certificate, its revocation, and the link
    # (current.py ``refresh_current``); NULL kind: not linked, or no certificate in the registry.
    current_kind: str | None = Field(default=None, max_length=16)  # certificate / notice
    current_verified_on: date | None = None
    current_valid_until: date | None = None
    current_revoked: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    created_by: uuid.UUID | None = None
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class RegisteredVerification(SQLModel, table=True):
    """A copy of the registry's certificates and failure notices (portal/facts.py
    ``registry_verifications``) of the instruments registrations link to, once per region they
    are registered in, so that the regional statistics count a region's verifications by month
    from one index instead of joining the registry's certificates to the registrations (issue 15,
    bench/instrument_stats.py). Kept with the copy of the current certificate (current.py), in
    the transaction that links a registration or adds a certificate to its instrument.

    A registry instrument registered in several regions (an owner's, then a buyer's elsewhere)
    has a row per region; ``previous_region`` is the next lower of those regions (NULL for the
    lowest). A region and below is one range of codes, so exactly one of a certificate's rows in
    it has its previous region outside (below) it: counting those counts each certificate once,
    as the join did."""

    __tablename__ = "registered_verification"
    __table_args__ = (
        # The statistics' months (statistics.py verifications_by_month): every column read.
        Index(
            "ix_registered_verification_region",
            "region_code",
            "verified_on",
            "previous_region",
            "failed",
        ),
    )

    certificate_id: uuid.UUID = Field(primary_key=True)
    region_code: str = Field(primary_key=True, max_length=6)
    registry_instrument_id: uuid.UUID = Field(index=True)
    verified_on: date
    failed: bool  # a failure notice (不合格通知书), not a certificate
    previous_region: str | None = Field(default=None, max_length=6)


class RegistrationEventKind(StrEnum):
    registered = "registered"
    confirmed = "confirmed"
    rejected = "rejected"
    moved = "moved"
    retired = "retired"
    replaced = "replaced"
    entered = "entered"  # entered in the certificate registry (due, or certified already)


class RegistrationEvent(SQLModel, table=True):
    """What happened to a registration, never updated: the bureau sees every change."""

    __tablename__ = "registration_event"
    # The regional statistics count a year's retirements by month (statistics.py).
    __table_args__ = (Index("ix_registration_event_kind_at", "kind", "at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    registration_id: uuid.UUID = Field(foreign_key="registered_instrument.id", index=True)
    kind: RegistrationEventKind = Field(sa_column=enum_column(RegistrationEventKind))
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    actor_id: uuid.UUID | None = None
    reason: str = Field(default="", max_length=500)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ApplicationStatus(StrEnum):
    submitted = "submitted"  # 已申请
    accepted = "accepted"  # 已预约 (an appointment: date, place, staff)
    refused = "refused"  # 已拒绝, with reasons
    completed = "completed"  # 已完成: every instrument has its certificate or failure notice
    cancelled = "cancelled"  # 已撤回 by the owner


class ApplicationMode(StrEnum):
    on_site = "on_site"  # 现场检定
    in_lab = "in_lab"  # 送检


class VerificationApplication(SQLModel, table=True):
    """An owner's application (检定申请) to a designated institution for some of its registered
    instruments (强制检定的工作计量器具检定管理办法: 向指定的计量检定机构申请检定)."""

    __tablename__ = "verification_application"
    __table_args__ = (
        Index("ix_verification_application_institution_status", "institution_id", "status"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    institution_id: uuid.UUID = Field(foreign_key="organization.id")
    region_code: str = Field(foreign_key="region.code", max_length=6)
    mode: ApplicationMode = Field(sa_column=enum_column(ApplicationMode))
    preferred_on: date
    note: str = Field(default="", max_length=500)
    status: ApplicationStatus = Field(
        default=ApplicationStatus.submitted, sa_column=enum_column(ApplicationStatus)
    )
    appointment_on: date | None = None
    appointment_address: str = Field(default="", max_length=300)
    staff: str = Field(default="", max_length=100)
    refuse_reason: str = Field(default="", max_length=500)
    created_by: uuid.UUID | None = None
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    completed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class ApplicationItem(SQLModel, table=True):
    __tablename__ = "verification_application_item"
    __table_args__ = (UniqueConstraint("application_id", "registration_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    application_id: uuid.UUID = Field(foreign_key="verification_application.id", index=True)
    registration_id: uuid.UUID = Field(foreign_key="registered_instrument.id", index=True)


class ApplicationEvent(SQLModel, table=True):
    """What happened to an application, never updated: submitted, accepted (with the
    appointment), rescheduled, refused, completed, cancelled."""

    __tablename__ = "verification_application_event"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    application_id: uuid.UUID = Field(foreign_key="verification_application.id", index=True)
    kind: str = Field(max_length=16)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    actor_id: uuid.UUID | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
