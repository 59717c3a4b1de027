"""一公开: the results of a campaign's inspections as anyone reads them, each from its
``publish_on`` day (set at the inspection: GONGZHI_ENFORCEMENT_PUBLISH_WORKING_DAYS working days
later, portal/workdays). Nothing is published by a job: the day is stored, and a result is
public once the one clock's date reaches it, so it is never late because a worker was down."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from enforcement import campaigns
from enforcement.models import Inspection, InspectionStatus
from portal import clock
from portal.pagination import PageRequest


def _published(campaign_id: uuid.UUID) -> list[Any]:
    return [
        col(Inspection.campaign_id) == campaign_id,
        col(Inspection.status) == InspectionStatus.done,
        col(Inspection.publish_on) <= clock.today(),
    ]


async def published(
    session: AsyncSession, campaign_id: uuid.UUID, *, page: PageRequest
) -> tuple[Sequence[Inspection], int]:
    """The campaign's published results, the latest inspection first."""
    await campaigns.get(session, campaign_id)
    where = _published(campaign_id)
    total = (
        await session.execute(select(func.count()).select_from(Inspection).where(*where))
    ).scalar_one()
    rows = await session.execute(
        select(Inspection)
        .where(*where)
        .order_by(col(Inspection.inspected_at).desc(), col(Inspection.id))
        .offset(page.offset)
        .limit(page.limit)
    )
    return list(rows.scalars().all()), int(total)


async def counts(session: AsyncSession, campaign_id: uuid.UUID) -> tuple[int, int]:
    """How many of the campaign's inspections are done, and how many of those are public."""
    done = (
        await session.execute(
            select(func.count())
            .select_from(Inspection)
            .where(
                col(Inspection.campaign_id) == campaign_id,
                col(Inspection.status) == InspectionStatus.done,
            )
        )
    ).scalar_one()
    public = (
        await session.execute(
            select(func.count()).select_from(Inspection).where(*_published(campaign_id))
        )
    ).scalar_one()
    return int(done), int(public)
