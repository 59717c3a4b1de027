"""Tables of risk-based enforcement (精准执法) and 双随机一公开 inspections.

A risk model version is data (``RiskModel.parameters``), never changed once stored; each score
keeps the model version, the inputs it was computed from and the points each input gave, so a
new version never changes a past score. A campaign keeps the exact candidate and inspector lists
its commitment covers, and its secret seed until the draw."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, Numeric, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from portal.accounts.models import enum_column
from portal.db import UTCDateTime, new_id, utcnow


class RiskModel(SQLModel, table=True):
    __tablename__ = "enforcement_risk_model"

    version: int = Field(primary_key=True)
    parameters: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    note: str = Field(default="", max_length=500)
    created_by: uuid.UUID | None = None
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class RiskScore(SQLModel, table=True):
    """One computation of one owner site's risk; ``current`` marks the latest of each site."""

    __tablename__ = "enforcement_risk_score"
    __table_args__ = (
        # The regulator's list: a region's current scores, highest first.
        Index("ix_enforcement_risk_score_listing", "current", "region_code", "score"),
        Index("ix_enforcement_risk_score_owner", "owner_id", "computed_at"),
        # One current score per site, even when the nightly job and an on-demand recomputation
        # of the same site run at once: recomputations take one advisory lock on PostgreSQL
        # (scores.py), SQLite serialises writers, and this index guards whatever else writes.
        Index(
            "uq_enforcement_risk_score_current",
            "owner_id",
            unique=True,
            sqlite_where=text("current"),
            postgresql_where=text("current"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    owner_id: uuid.UUID = Field(foreign_key="organization.id")
    owner_name: str = Field(max_length=200)
    owner_uscc: str | None = Field(default=None, max_length=18)
    region_code: str = Field(max_length=6)
    model_version: int = Field(foreign_key="enforcement_risk_model.version")
    score: Decimal = Field(sa_column=Column(Numeric(6, 2), nullable=False))
    band: str = Field(max_length=8)  # high / medium / low
    # ",code1,code2," so that one category is found with LIKE on both databases.
    categories: str = Field(default=",", max_length=2000)
    usage_areas: str = Field(default=",", max_length=100)
    instruments: int = 0
    inputs: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    breakdown: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    as_of: date
    computed_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    current: bool = True


class CampaignStatus(StrEnum):
    committed = "committed"  # 已公布承诺值，待抽取
    drawn = "drawn"  # 已抽取，已公布种子和结果


class InspectionCampaign(SQLModel, table=True):
    __tablename__ = "enforcement_campaign"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    title: str = Field(max_length=200)
    region_code: str = Field(foreign_key="region.code", max_length=6, index=True)
    parameters: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    candidates: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    candidate_count: int = 0
    inspectors: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    commitment: str = Field(max_length=64)
    # Secret until the draw: whoever knew it before could foresee the result.
    seed: str = Field(max_length=64)
    status: CampaignStatus = Field(
        default=CampaignStatus.committed, sa_column=enum_column(CampaignStatus)
    )
    result: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON))
    created_by: uuid.UUID | None = None
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    drawn_by: uuid.UUID | None = None
    drawn_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class Inspector(SQLModel, table=True):
    """An inspector's 执法证号 (what a campaign's pool and its pairings name) tied to the portal
    account they sign in with: how the field terminal knows which drawn pairings are theirs. A
    badge belongs to one account and an account holds one badge."""

    __tablename__ = "enforcement_inspector"

    badge: str = Field(primary_key=True, max_length=32)
    user_id: uuid.UUID = Field(foreign_key="user_account.id", unique=True)
    created_by: uuid.UUID | None = None
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class InspectionStatus(StrEnum):
    assigned = "assigned"  # 待检查
    done = "done"  # 已检查


class Inspection(SQLModel, table=True):
    """One drawn site of a campaign and what its inspectors found there (移动执法终端).

    Made at the draw, one per drawn site, with the drawn inspectors' badges; recorded once, by an
    idempotent submission (a replay with the same key and body answers the same record); public
    from ``publish_on`` (一公开, a number of working days after the inspection)."""

    __tablename__ = "enforcement_inspection"
    __table_args__ = (
        UniqueConstraint("campaign_id", "site_id"),
        # The public results: what is due for publication, newest first.
        Index("ix_enforcement_inspection_publish", "status", "publish_on"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    campaign_id: uuid.UUID = Field(foreign_key="enforcement_campaign.id", index=True)
    # The campaign's region: its bureau supervises (a district's own staff do not, whom the draw
    # kept away from their district's sites).
    region_code: str = Field(max_length=6, index=True)
    site_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    site_name: str = Field(max_length=200)  # as the campaign published it (individuals masked)
    district: str = Field(max_length=6)
    inspectors: list[str] = Field(sa_column=Column(JSON, nullable=False))
    status: InspectionStatus = Field(
        default=InspectionStatus.assigned, sa_column=enum_column(InspectionStatus)
    )
    outcome: str | None = Field(default=None, max_length=8)  # passed / failed
    checks: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    photos: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    acknowledgement: str | None = Field(default=None, max_length=8)  # signed / refused
    signatory: str = Field(default="", max_length=50)
    note: str = Field(default="", max_length=1000)
    findings: str = Field(default="", max_length=500)
    follow_up: str = Field(default="none", max_length=16)  # none / correct / penalty_case
    idempotency_key: uuid.UUID | None = Field(default=None, unique=True)
    request_digest: str = Field(default="", max_length=64)
    submitted_by: uuid.UUID | None = None
    inspected_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    publish_on: date | None = None


class FollowUpKind(StrEnum):
    correct = "correct"  # 责令改正: the site corrects by a deadline
    penalty_case = "penalty_case"  # 立案查处: the bureau decides on a case by a deadline


class FollowUpStatus(StrEnum):
    """What is stored; "overdue" is not a status but an open follow-up past its deadline on the
    clock's today (follow_ups.py), so it never needs a job to flip it."""

    open = "open"  # 待改正 / 待立案
    corrected = "corrected"  # 已改正（复查确认）
    case_filed = "case_filed"  # 已立案
    closed = "closed"  # 已办结


class FollowUp(SQLModel, table=True):
    """What a failed inspection leaves the bureau to do (follow_ups.py): one per failed
    inspection, opened in the transaction that records it, with a deadline counted in working
    days from the inspection day; what happened since is its events."""

    __tablename__ = "enforcement_follow_up"
    __table_args__ = (
        # The regulator's list: a region's follow-ups by status, earliest deadline first.
        Index("ix_enforcement_follow_up_listing", "region_code", "status", "deadline"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    inspection_id: uuid.UUID = Field(foreign_key="enforcement_inspection.id", unique=True)
    campaign_id: uuid.UUID = Field(foreign_key="enforcement_campaign.id")
    # The campaign's region, whose bureau follows up (like the inspection's).
    region_code: str = Field(max_length=6)
    site_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    site_name: str = Field(max_length=200)  # as the campaign published it
    district: str = Field(max_length=6)
    kind: FollowUpKind = Field(sa_column=enum_column(FollowUpKind))
    status: FollowUpStatus = Field(
        default=FollowUpStatus.open, sa_column=enum_column(FollowUpStatus)
    )
    findings: str = Field(default="", max_length=500)
    ordered_on: date  # the inspection's day in China: the deadline counts from it
    working_days: int
    deadline: date
    evidence: str = Field(default="", max_length=1000)  # how it was corrected
    reinspected_on: date | None = None
    case_number: str | None = Field(default=None, max_length=64)  # 立案 文书编号
    outcome: str = Field(default="", max_length=1000)  # why it was closed
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class FollowUpEvent(SQLModel, table=True):
    """Who did what to a follow-up, when (opened, corrected, case_filed, closed, deadline moved
    by a calendar import)."""

    __tablename__ = "enforcement_follow_up_event"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    follow_up_id: uuid.UUID = Field(foreign_key="enforcement_follow_up.id", index=True)
    action: str = Field(max_length=16)
    actor_id: uuid.UUID | None = None
    actor_name: str = Field(default="", max_length=64)
    note: str = Field(default="", max_length=1000)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
