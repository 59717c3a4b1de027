"""/readyz: the search engine and the index backlog in the outbox."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from sqlalchemy import func
from sqlmodel import col, select

from portal.facts import INDEX_TOPIC
from portal.outbox.models import OutboxEvent
from search.engine import engine_for


async def check(app: FastAPI) -> dict[str, Any]:
    engine = engine_for(app.state, app.state.settings)
    report: dict[str, Any] = await engine.health()
    async with app.state.database.sessionmaker() as session:
        pending = await session.scalar(
            select(func.count()).where(
                OutboxEvent.topic == INDEX_TOPIC,
                col(OutboxEvent.processed_at).is_(None),
                col(OutboxEvent.failed_at).is_(None),
            )
        )
        failed = await session.scalar(
            select(func.count()).where(
                OutboxEvent.topic == INDEX_TOPIC, col(OutboxEvent.failed_at).is_not(None)
            )
        )
    report["backlog"] = {"pending": int(pending or 0), "failed": int(failed or 0)}
    return {"search": report}
