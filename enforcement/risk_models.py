"""Versions of the risk model: version 1 is the built-in default, stored on first use; each new
version is a new row (an administrator publishes it), never an edit of an old one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from enforcement.errors import RiskModelNotFound
from enforcement.models import RiskModel
from enforcement.risk_model import DEFAULT_PARAMETERS, RiskParameters
from portal import clock
from portal.accounts.models import User
from portal.audit import service as audit


async def ensure_default(session: AsyncSession) -> None:
    """Store version 1 unless it is there (INSERT … ON CONFLICT: two first runs at once agree)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        insert(RiskModel)
        .values(
            version=1,
            parameters=DEFAULT_PARAMETERS,
            note="默认模型（第 1 版）",
            created_at=clock.now(),
        )
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
