from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from portal.db import UTCDateTime, new_id, utcnow


class AuditEntry(SQLModel, table=True):
    """Append-only: rows are inserted by ``record`` and never updated or deleted by the app."""

    __tablename__ = "audit_entry"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    at: datetime = Field(
        default_factory=utcnow,
        sa_column=Column(UTCDateTime(), nullable=False, index=True),
    )
    actor_id: uuid.UUID | None = Field(default=None, index=True)
    actor_role: str | None = Field(default=None, max_length=16)
    action: str = Field(max_length=64, index=True)
    entity_type: str = Field(max_length=64)
    entity_id: str = Field(max_length=64, index=True)
    region_code: str | None = Field(default=None, max_length=6, index=True)
    before: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    request_id: str | None = Field(default=None, max_length=64)
