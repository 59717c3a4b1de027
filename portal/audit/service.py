"""``record`` is the single way to write the audit log; call it inside the same transaction as the
change it describes, so the log and the data can never disagree."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit.models import AuditEntry


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


async def record(
    session: AsyncSession,
    *,
    actor: Any | None,
    action: str,
    entity_type: str,
    entity_id: Any,
    region_code: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry. ``actor`` is a User (or None for the system)."""
    request_id = structlog.contextvars.get_contextvars().get("request_id")
    entry = AuditEntry(
        actor_id=getattr(actor, "id", None),
        actor_role=str(getattr(actor, "role", "system")) if actor is not None else "system",
        action=action,
        entity_type=entity_type,
        entity_id=str(entity_id),
        region_code=region_code,
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        request_id=request_id,
    )
    session.add(entry)
    await session.flush()
    return entry
