"""Scoring methodologies: the platform default (seeded from methodologies/*.json) and each
association's own versions. A methodology row never changes; a new version is a new row."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from credit import errors
from credit.ledger import (
    Actor,
    LedgerWriter,
    association_ref,
    canonical_hash,
    methodology_ref,
    signing_key,
)
from credit.models import Methodology
from credit.schemas import MethodologyCreate
from portal import clock
from portal.accounts.models import Organization, User
from portal.audit import service as audit
from portal.settings import Settings

# Every version of the platform default, oldest first: a version is seeded once and never
# changed, so the ratings computed under an earlier one keep pointing at what computed them; new
# runs take the latest (``methodology_for``).
DEFAULT_METHODOLOGY_FILES = tuple(
    sorted(
        (Path(__file__).parent / "methodologies").glob("metrology-integrity-v*.json"),
        key=lambda p: int(p.stem.rsplit("-v", 1)[1]),
    )
)
DEFAULT_METHODOLOGY_FILE = DEFAULT_METHODOLOGY_FILES[-1]


async def ensure_default_methodology(session: AsyncSession) -> Methodology:
    """Seed every version of the platform default not yet stored; the latest."""
    row: Methodology | None = None
    for path in DEFAULT_METHODOLOGY_FILES:
        row = await _ensure_version(session, json.loads(path.read_text(encoding="utf-8")))
    assert row is not None
    return row


async def _ensure_version(session: AsyncSession, data: dict[str, Any]) -> Methodology:
    query = select(Methodology).where(
        Methodology.code == data["code"], Methodology.version == data["version"]
    )
    row: Methodology | None = await session.scalar(query)
    if row is not None:
        return row
    row = Methodology(
        code=data["code"],
        version=data["version"],
        name=data["name"],
        association_id=None,
        definition=data["definition"],
        definition_hash=canonical_hash(data["definition"]),
    )
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:  # seeded concurrently by another request
        found: Methodology | None = await session.scalar(query)
        assert found is not None
        return found
    return row


async def methodology_for(session: AsyncSession, association: Organization) -> Methodology:
    """The association's own latest methodology, else the platform default's latest version."""
    await ensure_default_methodology(session)
    own: Methodology | None = await session.scalar(
        select(Methodology)
        .where(Methodology.association_id == association.id)
        .order_by(col(Methodology.version).desc())
        .limit(1)
    )
    if own is not None:
        return own
    default: Methodology | None = await session.scalar(
        select(Methodology)
        .where(col(Methodology.association_id).is_(None))
        .order_by(col(Methodology.version).desc(), col(Methodology.created_at).desc())
        .limit(1)
    )
    assert default is not None
    return default


async def list_methodologies(session: AsyncSession) -> list[Methodology]:
    await ensure_default_methodology(session)
    return list(
        (
            await session.scalars(
                select(Methodology).order_by(col(Methodology.code), col(Methodology.version))
            )
        ).all()
    )


async def get_methodology(session: AsyncSession, methodology_id: uuid.UUID) -> Methodology:
    row = await session.get(Methodology, methodology_id)
    if row is None:
        raise errors.MethodologyNotFound()
    return row


async def create_methodology(
    session: AsyncSession,
    *,
    actor: User,
    association: Organization,
    data: MethodologyCreate,
    settings: Settings,
    now: datetime | None = None,
) -> Methodology:
    """A new version of the association's own methodology. Earlier versions are untouched, and
    so is every score already published under them."""
    now = now or clock.now()
    code = f"{association.code.lower()}-metrology-integrity"
    latest = await session.scalar(
        select(func.max(Methodology.version)).where(Methodology.code == code)
    )
    definition = data.definition.model_dump(mode="json")
    definition["grades"] = [list(g) for g in definition["grades"]]
    row = Methodology(
        code=code,
        version=int(latest or 0) + 1,
        name=data.name,
        association_id=association.id,
        definition=definition,
        definition_hash=canonical_hash(definition),
        created_at=now,
    )
    session.add(row)
    await session.flush()
    await LedgerWriter(session, signing_key(settings)).append(
        "methodology.published",
        actor=Actor.of(actor),
        at=now,
        association=association_ref(association),
        methodology=methodology_ref(row),
        payload={"methodology_id": str(row.id), "name": row.name, "definition": definition},
    )
    await audit.record(
        session,
        actor=actor,
        action="credit.methodology.create",
        entity_type="credit_methodology",
        entity_id=row.id,
        region_code=association.region_code,
        after={"code": code, "version": row.version, "hash": row.definition_hash},
    )
    return row
