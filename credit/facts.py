"""What the credit evaluation tells others (portal/facts.py): the current grades associations
published, for risk-based enforcement (enforcement/, issue 17)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from credit.models import Rating, RatingStatus
from portal.facts import CreditGradeFact


async def credit_grade_facts(
    session: AsyncSession, *, as_of: date, usccs: Sequence[str] | None = None
) -> list[CreditGradeFact]:
    stmt = select(
        col(Rating.uscc), col(Rating.grade), col(Rating.association_id), col(Rating.valid_until)
    ).where(col(Rating.status) == RatingStatus.active, col(Rating.valid_until) >= as_of)
    if usccs is not None:
        stmt = stmt.where(col(Rating.uscc).in_(sorted({u.upper() for u in usccs})))
    rows = await session.execute(stmt)
    return [
        CreditGradeFact(uscc=r[0], grade=r[1], association_id=r[2], valid_until=r[3])
        for r in rows.all()
    ]
