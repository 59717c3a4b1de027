"""The certificate registry: instrument categories (2020 catalogue), signing keys, instruments,
certificates with their append-only event history, and overdue warnings.

Institutions are the foundation's ``organization`` rows of kind ``institution``; this package only
adds their signing keys.

A certificate row is written once and never updated: a correction is a new certificate plus a
``corrected`` event on the old one, a revocation is a ``revoked`` event. The issue itself is the
certificate row (its ``created_at`` and ``issued_by``), so a bulk import writes one row per
certificate. ``instrument.current_certificate_id`` is a maintained pointer to the instrument's
latest certificate (the lookup and the overdue list read it instead of ranking certificates); it
has no foreign key because certificates reference instruments and the cycle would complicate
every insert and delete order.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.accounts.models import enum_column
from portal.db import UTCDateTime, new_id, utcnow


class SupervisionMode(StrEnum):
    p = "P"  # 型式批准 only
    v = "V"  # 强制检定 only
    pv = "P+V"


class VerificationForm(StrEnum):
    periodic = "periodic"  # 周期检定
    initial_scrap = "initial_scrap"  # 只做首次强制检定，失准报废
    initial_rotation = "initial_rotation"  # 只做首次强制检定，限期使用、到期轮换
    none = "none"  # 型式批准 only (P): no compulsory verification


class InstrumentCategory(SQLModel, table=True):
    """A kind of instrument from the compulsory catalogue (市场监管总局公告 2020年第42号).

    Reference data loaded from ``api/certificates/catalogue_2020.json`` by the migration (and
    ``gongzhi certificates catalogue-sync``). The cycle rules, which depend on the regulation in
    force and on the instrument's attributes, stay in the file (api/certificates/catalogue.py);
    ``regulation`` is the one in force when the rows were loaded. ``source_doc`` is the
    catalogue's version."""

    __tablename__ = "instrument_category"
    __table_args__ = {"info": {"reference": True}}

    code: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=64)  # second-level name, e.g. 电子计价秤
    group_name: str = Field(max_length=64)  # first-level name, e.g. 非自动衡器
    supervision_mode: str = Field(max_length=8)  # P, V or P+V
    verification_form: str = Field(max_length=32)
    regulation: str = Field(max_length=128)  # the governing JJG regulation(s)
    usage: str = Field(max_length=64)  # 贸易结算、安全防护、医疗卫生、环境监测 (joined with 、)
    source_doc: str = Field(max_length=64)
    scope: str = Field(default="", max_length=200)  # 强制检定范围及要求, as the catalogue says
    effective_from: date | None = None  # the day compulsory verification starts for the entry
    sort_order: int = 0  # the order of the catalogue
    checked: bool = False  # compared line by line with the SAMR PDF
    note: str = Field(default="", max_length=300)


class SigningKey(SQLModel, table=True):
    """A public key that signs stickers. ``organization_id`` is None for the portal's own key.
    Private keys are files (GONGZHI_SIGNING_KEY_FILE, GONGZHI_SIGNING_KEYS_DIR), never rows."""

    __tablename__ = "signing_key"

    kid: str = Field(primary_key=True, max_length=32)
    organization_id: uuid.UUID | None = Field(
        default=None, foreign_key="organization.id", index=True
    )
    algorithm: str = Field(default="EdDSA", max_length=16)
    curve: str = Field(default="Ed25519", max_length=16)
    public_key: str = Field(max_length=64)  # raw 32-byte key, base64url without padding
    valid_from: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    valid_until: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class OwnerType(StrEnum):
    enterprise = "enterprise"
    individual = "individual"


class Instrument(SQLModel, table=True):
    """A measuring instrument in use, identified by category, manufacturer and serial."""

    __tablename__ = "instrument"
    __table_args__ = (
        # ``variant`` is 0 except for an instrument the bureau split off from another with the
        # same category, serial and manufacturer (a held certificate resolved as a new
        # instrument, certificate_review.py): the key stays unique, concurrent imports cannot
        # create the same instrument twice.
        UniqueConstraint("category_code", "serial", "manufacturer", "variant"),
        Index("ix_instrument_region_current", "region_code", "current_certificate_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    sticker_token: str = Field(max_length=32, unique=True)
    category_code: str = Field(foreign_key="instrument_category.code", max_length=32)
    model: str = Field(default="", max_length=100)
    serial: str = Field(max_length=100, index=True)  # 出厂编号
    manufacturer: str = Field(default="", max_length=200)
    owner_name: str = Field(max_length=200)
    owner_type: OwnerType = Field(sa_column=enum_column(OwnerType))
    owner_uscc: str | None = Field(default=None, max_length=18, index=True)
    address: str = Field(default="", max_length=300)
    region_code: str = Field(foreign_key="region.code", max_length=6)
    latitude: float | None = None
    longitude: float | None = None
    current_certificate_id: uuid.UUID | None = Field(default=None, index=True)
    variant: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class CertificateKind(StrEnum):
    certificate = "certificate"  # 检定证书 (合格)
    notice = "notice"  # 检定结果通知书 (不合格)


class Certificate(SQLModel, table=True):
    """A verification certificate or result notice. Never updated after insert."""

    __tablename__ = "certificate"
    __table_args__ = (UniqueConstraint("institution_id", "number"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    number: str = Field(max_length=64, index=True)
    kind: CertificateKind = Field(sa_column=enum_column(CertificateKind))
    institution_id: uuid.UUID = Field(foreign_key="organization.id")
    instrument_id: uuid.UUID = Field(foreign_key="instrument.id", index=True)
    regulation: str = Field(default="", max_length=128)
    conclusion: str = Field(max_length=100)
    verified_on: date
    valid_until: date | None = None
    verifier: str = Field(default="", max_length=64)
    issued_by: uuid.UUID | None = Field(default=None)  # the user who issued or imported it
    # SHA-1 of the normalised row: importing the same row again is recognised as unchanged
    content_hash: str = Field(max_length=40)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class CertificateEventKind(StrEnum):
    corrected = "corrected"  # superseded by a new certificate (successor_id)
    revoked = "revoked"


class CertificateEvent(SQLModel, table=True):
    """Append-only history after the issue: corrections and revocations."""

    __tablename__ = "certificate_event"
    __table_args__ = (
        # One revocation and one correction per certificate, even under concurrent requests.
        UniqueConstraint("certificate_id", "kind"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    certificate_id: uuid.UUID = Field(foreign_key="certificate.id")
    kind: CertificateEventKind = Field(sa_column=enum_column(CertificateEventKind))
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    actor_id: uuid.UUID | None = None
    reason: str = Field(default="", max_length=500)
    successor_id: uuid.UUID | None = Field(default=None, foreign_key="certificate.id")


class WarningStage(StrEnum):
    expiring = "expiring"  # valid_until within the warning window
    expired = "expired"  # valid_until passed
    unverified = "unverified"  # registered, never verified


class OverdueWarning(SQLModel, table=True):
    """One warning per instrument, certificate and stage: the daily job adds only new ones."""

    __tablename__ = "overdue_warning"
    __table_args__ = (UniqueConstraint("instrument_id", "certificate_key", "stage"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    instrument_id: uuid.UUID = Field(foreign_key="instrument.id")
    # the certificate's id as text, or "none" (a NULL would defeat the unique constraint)
    certificate_key: str = Field(max_length=36)
    stage: WarningStage = Field(sa_column=enum_column(WarningStage))
    region_code: str = Field(max_length=6, index=True)
    valid_until: date | None = None
    created_on: date
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    notified_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True, index=True)
    )


class InstitutionAuthorisation(SQLModel, table=True):
    """One 授权证书 of a verification institution (计量法 第二十条; 计量授权管理办法): the
    categories of the compulsory catalogue it may verify, in which regions (a region covers its
    subregions), from and until when, issued by which bureau. Recorded by an administrator or a
    regulator of the issuing bureau's region; never deleted, revoked with a reason
    (api/certificates/scope.py)."""

    __tablename__ = "institution_authorisation"
    __table_args__ = (UniqueConstraint("institution_id", "certificate_number"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    institution_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    certificate_number: str = Field(max_length=64)  # 授权证书编号
    issuer_name: str = Field(max_length=100)  # e.g. 陕西省市场监督管理局
    issuer_region_code: str = Field(foreign_key="region.code", max_length=6)
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    regions: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    valid_from: date
    valid_until: date
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    revoke_reason: str = Field(default="", max_length=500)
    created_by: uuid.UUID | None = None
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class ReviewStatus(StrEnum):
    open = "open"  # 待核对
    attached = "attached"  # the bureau attached it to one of the candidates
    new_instrument = "new_instrument"  # the bureau made it a new instrument


class CertificateReview(SQLModel, table=True):
    """A certificate whose instrument is ambiguous (several registered candidates, or a
    registered instrument of another owner than the certificate names), held for the bureau of
    the instrument's region. The validated row waits here, its number reserved for the
    institution; resolving it writes the certificate row (api/certificates/review_queue.py)."""

    __tablename__ = "certificate_review"
    __table_args__ = (
        UniqueConstraint("institution_id", "number"),
        Index("ix_certificate_review_region_status", "region_code", "status"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    institution_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    number: str = Field(max_length=64)
    content_hash: str = Field(max_length=40)
    row: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    region_code: str = Field(foreign_key="region.code", max_length=6)
    category_code: str = Field(max_length=32)
    serial: str = Field(max_length=100)
    manufacturer: str = Field(default="", max_length=200)
    reason: str = Field(max_length=32)  # several_candidates, other_owner
    candidates: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    status: ReviewStatus = Field(default=ReviewStatus.open, sa_column=enum_column(ReviewStatus))
    certificate_id: uuid.UUID | None = None
    instrument_id: uuid.UUID | None = None
    note: str = Field(default="", max_length=500)
    created_by: uuid.UUID | None = None
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    resolved_by: uuid.UUID | None = None
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class InstrumentEvent(SQLModel, table=True):
    """What happened to a registry instrument outside a certificate, never updated: a held
    certificate attached by the bureau, an instrument split off, an owner re-pointed."""

    __tablename__ = "instrument_event"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    instrument_id: uuid.UUID = Field(foreign_key="instrument.id", index=True)
    kind: str = Field(max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    actor_id: uuid.UUID | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
