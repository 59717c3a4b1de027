"""What risk-based enforcement tells others (portal/facts.py): failed inspections, whose repeat
is an input of the next risk score (scores.py asks for them through portal/facts.py like every
other input, so a score's inputs have one path whoever holds them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from enforcement.models import Inspection, InspectionStatus
from enforcement.scores import in_region
from portal.facts import InspectionFindingFact


async def inspection_finding_facts(
    session: AsyncSession, *, since: datetime, region: str | None = None
) -> list[InspectionFindingFact]:
    stmt = select(
        col(Inspection.id),
        col(Inspection.site_id),
        col(Inspection.inspected_at),
        col(Inspection.follow_up),
    ).where(
        col(Inspection.status) == InspectionStatus.done,
        col(Inspection.outcome) == "failed",
        col(Inspection.inspected_at) >= since,
    )
    if region is not None:
        stmt = stmt.where(in_region(col(Inspection.district), region))
    rows = await session.execute(stmt.order_by(col(Inspection.inspected_at), col(Inspection.id)))
    return [
        InspectionFindingFact(inspection_id=r[0], owner_id=r[1], inspected_at=r[2], follow_up=r[3])
        for r in rows.all()
    ]
