"""What risk-based enforcement tells others (portal/facts.py): failed inspections, whose repeat
is an input of the next risk score (scores.py asks for them through portal/facts.py like every
other input, so a score's inputs have one path whoever holds them), and, once published, an
input of the enterprise's credit evaluation (credit/scoring.py, ``inspection_findings``); and
the follow-ups those findings left unresolved (follow_ups.py), overdue or not, for the risk
score's repeat-findings evidence."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from enforcement import follow_ups
from enforcement.models import Inspection, InspectionStatus
from enforcement.scores import in_region
from portal import clock
from portal.accounts.models import Organization
from portal.clock import SHANGHAI
from portal.facts import FollowUpFact, InspectionFact, InspectionFindingFact


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


async def inspection_facts(
    session: AsyncSession, *, since: date, as_of: date, usccs: Sequence[str] | None = None
) -> list[InspectionFact]:
    """Failed inspections of enterprises (the inspected owner site's USCC), made from ``since``
    and public by ``as_of``. Only a published result counts (一公开, ``publish_on``), the rule
    the credit evaluation applies to penalties (counted only while published): a public grade
    never moves on a finding the public cannot read yet, and by then the inspected party has
    signed or refused the record on site and had the working days before publication. An owner
    without a USCC (an individual) is no enterprise and has no credit grade. One query."""
    start = datetime.combine(since, time(0), SHANGHAI).astimezone(UTC)
    end = datetime.combine(as_of + timedelta(days=1), time(0), SHANGHAI).astimezone(UTC)
    stmt = (
        select(
            col(Inspection.id),
            col(Organization.uscc),
            col(Inspection.site_name),
            col(Inspection.inspected_at),
            col(Inspection.publish_on),
            col(Inspection.follow_up),
        )
        .join(Organization, col(Organization.id) == col(Inspection.site_id))
        .where(
            col(Inspection.status) == InspectionStatus.done,
            col(Inspection.outcome) == "failed",
            col(Inspection.inspected_at) >= start,
            col(Inspection.inspected_at) < end,
            col(Inspection.publish_on) <= as_of,
            col(Organization.uscc).is_not(None),
        )
    )
    if usccs is not None:
        wanted = sorted({u.upper() for u in usccs})
        if not wanted:
            return []
        stmt = stmt.where(col(Organization.uscc).in_(wanted))
    rows = await session.execute(stmt.order_by(col(Inspection.inspected_at), col(Inspection.id)))
    return [
        InspectionFact(
            inspection_id=r[0],
            uscc=r[1],
            site_name=r[2],
            inspected_on=clock.local_date(r[3]),
            published_on=r[4],
            follow_up=r[5],
        )
        for r in rows.all()
    ]


async def follow_up_facts(
    session: AsyncSession, *, as_of: date, region: str | None = None
) -> list[FollowUpFact]:
    """The follow-ups not resolved on ``as_of`` (follow_ups.py), overdue or not."""
    return [
        FollowUpFact(
            follow_up_id=f.id,
            inspection_id=f.inspection_id,
            owner_id=f.site_id,
            kind=f.kind.value,
            status=f.status.value,
            ordered_on=f.ordered_on,
            deadline=f.deadline,
            overdue=follow_ups.is_overdue(f, as_of),
            overdue_days=max(0, (as_of - f.deadline).days)
            if follow_ups.is_overdue(f, as_of)
            else 0,
        )
        for f in await follow_ups.unresolved(session, as_of=as_of, region=region)
    ]
