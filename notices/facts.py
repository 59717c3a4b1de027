"""Enterprise facts for credit evaluation: penalties still on public display (portal/facts.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from notices.models import EnforcementNotice, NoticeStatus
from portal.facts import PenaltyFact


async def penalty_facts(
    session: AsyncSession, *, as_of: date, usccs: Sequence[str] | None = None
) -> list[PenaltyFact]:
    """Notices about enterprises (with a credit code) within their display period on ``as_of``.
    Expired notices count if ``as_of`` lies in their period (a re-run for a past date); withdrawn
    ones never do (a withdrawal means the decision was revoked or corrected)."""
    stmt = select(EnforcementNotice).where(
        col(EnforcementNotice.status).in_([NoticeStatus.published, NoticeStatus.expired]),
        col(EnforcementNotice.party_uscc).is_not(None),
        col(EnforcementNotice.published_on) <= as_of,
        col(EnforcementNotice.display_until) >= as_of,
    )
    if usccs is not None:
        stmt = stmt.where(col(EnforcementNotice.party_uscc).in_([u.upper() for u in usccs]))
    rows = await session.scalars(stmt.order_by(col(EnforcementNotice.decision_date)))
    return [
        PenaltyFact(
            notice_id=n.id,
            decision_number=n.decision_number,
            party_uscc=n.party_uscc or "",
            penalty_kind=n.penalty_kind,
            amount=n.penalty_amount,
            decided_on=n.decision_date,
            display_until=n.display_until,
        )
        for n in rows
    ]
