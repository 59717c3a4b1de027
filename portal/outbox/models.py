from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from portal.db import UTCDateTime, new_id, utcnow


class OutboxEvent(SQLModel, table=True):
    """A unit of background work. Written by ``enqueue`` inside the business transaction, so it
    exists if and only if the change committed. Processed at least once by the worker; handlers
    are idempotent, which makes the effect exactly once."""

    __tablename__ = "outbox_event"
    __table_args__ = (Index("ix_outbox_event_pending", "processed_at", "available_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    topic: str = Field(max_length=64, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Optional: a second event with the same key is not written (daily jobs, double submits).
    dedupe_key: str | None = Field(default=None, max_length=200, unique=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    available_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False)
    )
    locked_until: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=2000)
    processed_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )
    # Set when the event exhausted its attempts; kept for an operator to inspect and requeue.
    failed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
