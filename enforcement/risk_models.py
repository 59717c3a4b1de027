"""Versions of the risk model: versions 1 and 2 are built in (risk_model.BUILT_IN_VERSIONS: 2 adds
the serious dishonesty list), stored on first use; each new version is a new row (an
administrator publishes it), never an edit of an old one, so a score keeps the version it was
computed under."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from enforcement.errors import RiskModelNotFound
from enforcement.models import RiskModel
from enforcement.risk_model import BUILT_IN_VERSIONS, RiskParameters
from portal import clock
from portal.accounts.models import User
from portal.audit import service as audit


async def ensure_default(session: AsyncSession) -> None:
    """Store each built-in version unless its number is taken (INSERT … ON CONFLICT: two first
    runs at once agree). A deployment that had published its own version 2 before version 2 was
    built in keeps it; its administrator publishes a version with ``listing_points``."""
    newest = (await session.execute(select(func.max(col(RiskModel.version))))).scalar_one()
    if newest is not None and newest >= max(BUILT_IN_VERSIONS):
        return
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    now = clock.now()
    for version, (parameters, note) in sorted(BUILT_IN_VERSIONS.items()):
        if newest is not None and version <= newest:
            continue
        await session.execute(
            insert(RiskModel)
            .values(version=version, parameters=parameters, note=note, created_at=now)
            .on_conflict_do_nothing(index_elements=["version"])
        )


async def current(session: AsyncSession) -> tuple[RiskModel, RiskParameters]:
    """The newest version and its parameters."""
    await ensure_default(session)
    model = (
        await session.execute(select(RiskModel).order_by(col(RiskModel.version).desc()).limit(1))
    ).scalar_one()
    return model, RiskParameters.model_validate(model.parameters)


async def get(session: AsyncSession, version: int) -> RiskModel:
    await ensure_default(session)
    model = await session.get(RiskModel, version)
    if model is None:
        raise RiskModelNotFound()
    return model


async def list_versions(session: AsyncSession) -> list[RiskModel]:
    await ensure_default(session)
    return list(
        (await session.execute(select(RiskModel).order_by(col(RiskModel.version).desc())))
        .scalars()
        .all()
    )


async def publish(
    session: AsyncSession, *, parameters: RiskParameters, note: str, actor: User
) -> RiskModel:
    """A new version after the newest; scores computed before keep theirs."""
    await ensure_default(session)
    newest = (await session.execute(select(func.max(col(RiskModel.version))))).scalar_one()
    stored: dict[str, Any] = parameters.model_dump(mode="json")
    model = RiskModel(
        version=int(newest or 0) + 1,
        parameters=stored,
        note=note,
        created_by=actor.id,
        created_at=clock.now(),
    )
    session.add(model)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="enforcement.risk_model.publish",
        entity_type="risk_model",
        entity_id=model.version,
        after={"parameters": stored, "note": note},
    )
    return model
