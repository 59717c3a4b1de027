"""Articles (科普文章) and regulations (政策法规); enforcement notices are their own domain (notices/).

The database is the source of truth; the search engine holds a copy of what the public may see,
kept in step through the outbox (search/jobs.py).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Text
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field, SQLModel

from portal.accounts.models import enum_column
from portal.db import UTCDateTime, new_id, utcnow
from search.versions import ISSUER_MAX, RegulationStatus


class ArticleStatus(StrEnum):
    draft = "draft"
    published = "published"
    withdrawn = "withdrawn"


class Article(SQLModel, table=True):
    __tablename__ = "search_article"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    title: str = Field(max_length=200)
    summary: str = Field(default="", max_length=500)
    body: str = Field(sa_column=Column(Text, nullable=False))  # Markdown
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    author_id: uuid.UUID | None = Field(default=None, foreign_key="user_account.id", index=True)
    author_name: str = Field(default="", max_length=64)
    region_code: str | None = Field(default=None, foreign_key="region.code", max_length=6)
    status: ArticleStatus = Field(
        default=ArticleStatus.draft, sa_column=enum_column(ArticleStatus, index=True)
    )
    published_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    withdrawn_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    withdrawal_reason: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


class Regulation(SQLModel, table=True):
    __tablename__ = "search_regulation"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    source_id: str = Field(max_length=64, unique=True)  # the corpus's stable id
    title: str = Field(max_length=300)
    category: str = Field(default="", max_length=64)
    region: str | None = Field(default=None, max_length=64)  # province or city; None: national
    issued_on: date | None = None  # the version's date when known
    # What the text says (search/versions.py): the body that passed or published it, and
    # whether this is the version in force; None where the corpus does not tell.
    issuer: str | None = Field(default=None, max_length=ISSUER_MAX)
    status: RegulationStatus | None = Field(
        default=None,
        sa_column=Column(
            SAEnum(
                RegulationStatus,
                name="regulationstatus",
                native_enum=False,
                length=16,
                values_callable=lambda e: [m.value for m in e],
            ),
            nullable=True,
        ),
    )
    body: str = Field(sa_column=Column(Text, nullable=False))  # Markdown
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )


def snapshot(row: SQLModel) -> dict[str, Any]:
    """The row's fields for the audit log (long texts shortened)."""
    data = row.model_dump()
    for key in ("body",):
        if isinstance(data.get(key), str) and len(data[key]) > 500:
            data[key] = data[key][:500] + "…"
    return data
