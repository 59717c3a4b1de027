"""Idempotent submission: an Idempotency-Key, scoped to the account or the client, is claimed once;
a replay of the same body gets the first response back (stored encrypted), a different body 409."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from api.complaints.errors import IdempotencyConflict
from api.complaints.models import CaseSource, IdempotencyRecord
from api.complaints.schemas import CaseCreate, CaseCreated
from api.complaints.settings import ComplaintsSettings
from portal.accounts.models import User
from portal.db import new_id, utcnow
from portal.errors import InvalidInput
from portal.settings import Settings

# The longest key kept (IdempotencyRecord.key's column).
MAX_KEY_LENGTH = 128


def upsert(session: AsyncSession, table: Any) -> Any:
    """INSERT … ON CONFLICT for the session's database (SQLite ≥ 3.35 and PostgreSQL). Used
    instead of savepoints: with pysqlite, a SAVEPOINT opened before any write is a transaction of
    its own, and releasing it commits."""
    assert session.bind is not None
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def idempotency_scope(*, user: User | None, client: str) -> str:
    """Whose keys a key is compared with: the account, or else the client address. Anonymous
    clients never share a scope, so one client can never replay another's submission and
    receive its case access token (issue 11 #10). The address is kept only as a hash."""
    if user is not None:
        return str(user.id)
    return "client:" + hashlib.sha256(client.encode()).hexdigest()[:40]


def fernet(settings: Settings) -> Fernet:
    key = hashlib.sha256(b"gongzhi.complaints.idempotency:" + settings.secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key.digest()))


def body_hash(data: CaseCreate, source: CaseSource) -> str:
    canonical = json.dumps(
        {"source": source.value, "body": data.model_dump(mode="json")},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(settings: Settings, existing: IdempotencyRecord, request_hash: str) -> CaseCreated:
    if existing.request_hash != request_hash or existing.response is None:
        raise IdempotencyConflict(
            "The Idempotency-Key was already used for a different submission.",
            detail_zh="该幂等键已用于另一份不同的提交，请为新的提交生成新的键。",
        )
    try:
        raw = fernet(settings).decrypt(existing.response.encode())
    except InvalidToken:  # the secret key was rotated since
        raise IdempotencyConflict() from None
    return CaseCreated.model_validate_json(raw)


async def _find_idempotency(
    session: AsyncSession, scope: str, key: str
) -> IdempotencyRecord | None:
    return await session.scalar(
        select(IdempotencyRecord).where(
            col(IdempotencyRecord.scope) == scope, col(IdempotencyRecord.key) == key
        )
    )


@dataclass
class Claim:
    """The outcome of presenting an Idempotency-Key: a replay, or our own record to fill in."""

    replay: CaseCreated | None = None
    record: IdempotencyRecord | None = None


async def claim_key(
    session: AsyncSession,
    settings: Settings,
    *,
    scope: str,
    key: str | None,
    request_hash: str,
    now: datetime,
) -> Claim:
    if not key:
        return Claim()
    if len(key) > MAX_KEY_LENGTH:
        # The app API's header is bounded by its route; Open311 reads the header itself. Either
        # way the column holds no more, so a longer key is refused here, before any write.
        raise InvalidInput(
            f"The Idempotency-Key is longer than {MAX_KEY_LENGTH} characters.",
            detail_zh=f"幂等键（Idempotency-Key）不能超过 {MAX_KEY_LENGTH} 个字符。",
            errors=[{"field": "header.idempotency-key", "type": "too_long", "message": "too long"}],
        )
    existing = await _find_idempotency(session, scope, key)
    if existing is not None:
        return Claim(replay=_replay(settings, existing, request_hash))
    table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
    claim = (
        upsert(session, table)
        .values(id=new_id(), scope=scope, key=key, request_hash=request_hash, created_at=now)
        .on_conflict_do_nothing(index_elements=[table.c.scope, table.c.key])
        .returning(table.c.id)
    )
    claimed = (await session.execute(claim)).scalar_one_or_none()
    if claimed is None:
        # A concurrent request with the same key committed first: answer as a replay.
        existing = await _find_idempotency(session, scope, key)
        if existing is None:
            raise IdempotencyConflict()
        return Claim(replay=_replay(settings, existing, request_hash))
    return Claim(record=await session.get(IdempotencyRecord, claimed))


async def expire_idempotency_records(
    session: AsyncSession, *, settings: Settings, now: datetime | None = None
) -> None:
    now = now or utcnow()
    ttl = timedelta(hours=settings.of(ComplaintsSettings).idempotency_ttl_hours)
    await session.execute(
        text("DELETE FROM case_idempotency WHERE created_at < :cutoff"),
        {"cutoff": _db_time(session, now - ttl)},
    )


def _db_time(session: AsyncSession, moment: datetime) -> Any:
    # Raw SQL bypasses UTCDateTime: SQLite stores naive UTC.
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        return moment.replace(tzinfo=None)
    return moment
