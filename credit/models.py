"""Credit evaluation tables.

The ledger (``credit_event``) is the record: every step of a run is an append-only, hash-chained,
signed event. ``credit_rating`` is a projection of those events (the current grade of each member),
kept for fast public listing and rebuildable from the ledger at any time (``gongzhi credit
rebuild-ratings``). Associations are the foundation's ``organization`` rows of kind association.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Numeric, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.accounts.models import enum_column
from portal.db import UTCDateTime, new_id, utcnow


class RunStatus(StrEnum):
    draft = "draft"  # scored, visible to the association only
    notice = "notice"  # 公示: drafts public, objections accepted until notice_closes_at
    published = "published"


class RatingStatus(StrEnum):
    active = "active"
    cancelled = "cancelled"
    expired = "expired"


class ObjectorKind(StrEnum):
    enterprise = "enterprise"
    public = "public"


class ObjectionStatus(StrEnum):
    pending = "pending"
    upheld = "upheld"  # the objection is right; the score was recomputed
    rejected = "rejected"


class Enterprise(SQLModel, table=True):
    """An enterprise, keyed by its unified social credit code (统一社会信用代码).

    ``name`` is the registered name and comes only from the registry (an administrator's entry
    or an import of the market-entity register, ``registry_source`` says which): no association
    can set it. Until the registry knows the enterprise it is None, and each association's grade
    is shown under the association's own label for its member (``Membership.name``)."""

    __tablename__ = "credit_enterprise"

    uscc: str = Field(primary_key=True, max_length=18)
    name: str | None = Field(default=None, max_length=200, index=True)
    registry_source: str | None = Field(default=None, max_length=100)
    registered_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    industry: str | None = Field(default=None, max_length=64, index=True)
    region_code: str = Field(foreign_key="region.code", index=True, max_length=6)
    address: str = Field(default="", max_length=300)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Membership(SQLModel, table=True):
    """An enterprise's membership of one association."""

    __tablename__ = "credit_membership"
    __table_args__ = (UniqueConstraint("association_id", "uscc"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    association_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    uscc: str = Field(foreign_key="credit_enterprise.uscc", index=True, max_length=18)
    # The association's own label for its member (what it typed): shown with its grades only.
    name: str = Field(max_length=200, index=True)
    joined_on: date
    left_on: date | None = None


class Methodology(SQLModel, table=True):
    """A versioned scoring method. ``association_id`` None is the platform default. Rows are never
    changed after creation: a new version is a new row, so published scores keep their meaning."""

    __tablename__ = "credit_methodology"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    code: str = Field(max_length=64)
    version: int
    name: str = Field(max_length=200)
    association_id: uuid.UUID | None = Field(
        default=None, foreign_key="organization.id", index=True
    )
    definition: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    definition_hash: str = Field(max_length=64)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class IndicatorEntry(SQLModel, table=True):
    """A value the association enters for a member (self-commitment signed, officer appointed…)."""

    __tablename__ = "credit_indicator_entry"
    __table_args__ = (UniqueConstraint("association_id", "uscc", "indicator"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    association_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    uscc: str = Field(foreign_key="credit_enterprise.uscc", max_length=18)
    indicator: str = Field(max_length=64)
    value: bool
    note: str = Field(default="", max_length=500)
    entered_by: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    entered_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Run(SQLModel, table=True):
    """One evaluation of an association's members; its id is the 公示 batch id."""

    __tablename__ = "credit_run"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    association_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    methodology_id: uuid.UUID = Field(foreign_key="credit_methodology.id")
    status: RunStatus = Field(sa_column=enum_column(RunStatus, index=True))
    as_of: date
    title: str = Field(max_length=200)
    enterprise_count: int = 0
    created_by: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    notice_opened_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    notice_closes_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    published_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    valid_until: date | None = None


class Score(SQLModel, table=True):
    """An enterprise's score in a run, with the per-indicator breakdown and its evidence. Changes
    only while the run is not published (an upheld objection recomputes it)."""

    __tablename__ = "credit_score"
    __table_args__ = (UniqueConstraint("run_id", "uscc"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    run_id: uuid.UUID = Field(foreign_key="credit_run.id", index=True)
    uscc: str = Field(foreign_key="credit_enterprise.uscc", index=True, max_length=18)
    score: Decimal = Field(sa_column=Column(Numeric(5, 2), nullable=False))
    grade: str = Field(max_length=3)
    breakdown: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    evidence_hash: str = Field(max_length=64)
    revision: int = 0  # bumped each time an objection decision recomputes the score


class Objection(SQLModel, table=True):
    """An objection (异议) lodged during the 公示. The objector's name and contact are private: only
    the association handling it sees them; the ledger keeps a hash of the text only."""

    __tablename__ = "credit_objection"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    run_id: uuid.UUID = Field(foreign_key="credit_run.id", index=True)
    uscc: str = Field(foreign_key="credit_enterprise.uscc", index=True, max_length=18)
    objector_kind: ObjectorKind = Field(sa_column=enum_column(ObjectorKind))
    objector_name: str = Field(max_length=100)
    objector_contact: str = Field(max_length=100)
    text: str = Field(sa_column=Column(Text, nullable=False))
    status: ObjectionStatus = Field(sa_column=enum_column(ObjectionStatus, index=True))
    lodged_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    decided_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    decided_by: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    decision_reasons: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    score_before: Decimal | None = Field(default=None, sa_column=Column(Numeric(5, 2)))
    score_after: Decimal | None = Field(default=None, sa_column=Column(Numeric(5, 2)))
    grade_before: str | None = Field(default=None, max_length=3)
    grade_after: str | None = Field(default=None, max_length=3)


class Rating(SQLModel, table=True):
    """The current grade of an enterprise from one association: a projection of the ledger."""

    __tablename__ = "credit_rating"
    __table_args__ = (
        UniqueConstraint("association_id", "uscc"),
        # The public list: current grades best first, of all grades or of one grade. Walked in
        # score order they find a page without sorting every grade, and count the current
        # grades from the index alone (credit/public.py list_ratings).
        Index("ix_credit_rating_listing", "status", "score", "valid_until"),
        Index("ix_credit_rating_grade_listing", "status", "grade", "score", "valid_until"),
        # The same for one industry and one region: the enterprise's, copied to its grades.
        Index(
            "ix_credit_rating_industry_listing", "status", "listed_industry", "score", "valid_until"
        ),
        Index(
            "ix_credit_rating_region_listing",
            "status",
            "listed_region_code",
            "score",
            "valid_until",
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    association_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    uscc: str = Field(foreign_key="credit_enterprise.uscc", index=True, max_length=18)
    status: RatingStatus = Field(sa_column=enum_column(RatingStatus, index=True))
    grade: str = Field(max_length=3, index=True)
    score: Decimal = Field(sa_column=Column(Numeric(5, 2), nullable=False))
    run_id: uuid.UUID = Field(foreign_key="credit_run.id")
    score_id: uuid.UUID = Field(foreign_key="credit_score.id")
    methodology_code: str = Field(max_length=64)
    methodology_version: int
    valid_from: date
    valid_until: date = Field(index=True)
    # The enterprise's industry and region, kept by the database itself (triggers of migration
    # d4a7c3e1b2f5: on every write of a grade, and on every change of its enterprise), for the
    # public list's filters only; read the enterprise for what it is. Never written here.
    listed_industry: str | None = Field(default=None, max_length=64)
    listed_region_code: str | None = Field(default=None, max_length=6)
    under_review: bool = False
    review_reason: str | None = Field(default=None, max_length=500)
    last_review_outcome: str | None = Field(default=None, max_length=16)
    last_review_on: date | None = None
    reply_text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reply_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    published_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_seq: int = Field(sa_column=Column(BigInteger, nullable=False))

    def status_on(self, day: date) -> RatingStatus:
        """The status as anyone reading on ``day`` must see it: a grade past its last valid
        day has ended, whether or not the daily job (``expire_ratings``) has recorded it yet."""
        if self.status is RatingStatus.active and self.valid_until < day:
            return RatingStatus.expired
        return self.status


class ReviewFlag(SQLModel, table=True):
    """A serious penalty that arrived after a grade was published: the rating needs a review.
    One row per (rating, decision number) so the periodic job flags each penalty once."""

    __tablename__ = "credit_review_flag"
    __table_args__ = (UniqueConstraint("association_id", "uscc", "decision_number"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    association_id: uuid.UUID = Field(foreign_key="organization.id", index=True)
    uscc: str = Field(foreign_key="credit_enterprise.uscc", max_length=18)
    decision_number: str = Field(max_length=100)
    penalty_kind: str = Field(max_length=64)
    decided_on: date
    flagged_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    resolved_seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class LedgerEvent(SQLModel, table=True):
    """One signed link of the public hash chain. ``body`` is the canonical JSON that is hashed
    (docs/credit-ledger.md); the other columns copy fields of it for indexing only."""

    __tablename__ = "credit_event"

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    id: uuid.UUID = Field(default_factory=new_id, unique=True)
    kind: str = Field(max_length=32, index=True)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    association_id: uuid.UUID | None = Field(default=None, index=True)
    run_id: uuid.UUID | None = Field(default=None, index=True)
    uscc: str | None = Field(default=None, max_length=18, index=True)
    body: str = Field(sa_column=Column(Text, nullable=False))
    hash: str = Field(max_length=64, unique=True)
    signature: str = Field(max_length=128)
    key_id: str = Field(max_length=16)
