"""The upkeep's periodic job: the planner's statistics, hourly (statistics.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from portal.outbox.service import JobContext, periodic
from portal.upkeep import statistics


@periodic("upkeep.planner_statistics", every=timedelta(hours=1))
async def planner_statistics(
    session: AsyncSession, payload: dict[str, Any], context: JobContext
) -> None:
    await statistics.refresh(session)
