"""The bureau's 双随机 desk in the back office: its region's campaigns with how far each has got
(committed, drawn, inspections done, results published), what the create form offers (the
districts of the region, the catalogue), and the region's regulator accounts with the 执法证号
tied to each. Creating, drawing and tying stay in campaigns.py and inspections.py (the JSON API
the pages call)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from enforcement import campaigns
from enforcement.errors import RegionRequired
from enforcement.models import (
    CampaignStatus,
    Inspection,
    InspectionCampaign,
    InspectionStatus,
    Inspector,
)
from enforcement.scores import in_region
from portal import clock
from portal.accounts.models import Role, User
from portal.accounts.permissions import Action, authorize
from portal.regions.models import Region
from portal.regions.service import get_region, list_children

# A bureau runs a handful of campaigns a year; the desk shows the latest this many.
MAX_LISTED = 200
MAX_ACCOUNTS = 500


@dataclass(frozen=True)
class DeskCampaign:
    id: uuid.UUID
    title: str
    region_code: str
    status: str
    sample_size: int
    candidates: int
    created_at: datetime
    drawn_at: datetime | None
    inspections: int
    done: int
    published: int

    @property
    def stage(self) -> str:
        """Where the campaign stands, in the words of the desk's list."""
        if self.status == CampaignStatus.committed:
            return "committed"
        if self.inspections and self.published == self.inspections:
            return "published"
        if self.inspections and self.done == self.inspections:
            return "inspected"
        return "drawn"


STAGE_ZH = {
    "committed": "已公布承诺值，待抽取",
    "drawn": "已抽取，检查进行中",
    "inspected": "检查已全部完成，待公示",
    "published": "结果已全部公示",
}


@dataclass(frozen=True)
class Account:
    user_id: uuid.UUID
    display_name: str
    region_code: str
    region_name: str
    badge: str | None


def region_for(actor: User, asked: str | None) -> str:
    """The region the desk works on: the one asked for, else the actor's own; allowed or 403."""
    region = asked or actor.region_code
    if region is None:
        raise RegionRequired(
            "Choose a region.", detail_zh="请在地址中指定行政区划（region=六位代码）。"
        )
    authorize(actor, Action.inspection_manage, region_code=region)
    return region


async def region_campaigns(
    session: AsyncSession, *, actor: User, region: str
) -> list[DeskCampaign]:
    """The region's campaigns, newest first, each with its inspections counted by state."""
    authorize(actor, Action.inspection_manage, region_code=region)
    c = InspectionCampaign
    rows = (
        await session.execute(
            select(*campaigns.summary_columns())
            .where(in_region(col(c.region_code), region))
            .order_by(col(c.created_at).desc(), col(c.id))
            .limit(MAX_LISTED)
        )
    ).all()
    counted: dict[uuid.UUID, tuple[int, int, int]] = {}
    if rows:
        done = col(Inspection.status) == InspectionStatus.done
        public = and_(done, col(Inspection.publish_on) <= clock.today())
        found = await session.execute(
            select(
                col(Inspection.campaign_id),
                func.count(),
                func.sum(case((done, 1), else_=0)),
                func.sum(case((public, 1), else_=0)),
            )
            .where(col(Inspection.campaign_id).in_([r.id for r in rows]))
            .group_by(col(Inspection.campaign_id))
        )
        counted = {r[0]: (int(r[1]), int(r[2] or 0), int(r[3] or 0)) for r in found.all()}
    return [
        DeskCampaign(
            id=r.id,
            title=r.title,
            region_code=r.region_code,
            status=r.status.value,
            sample_size=int(r.parameters["sample_size"]),
            candidates=r.candidate_count,
            created_at=r.created_at,
            drawn_at=r.drawn_at,
            inspections=counted.get(r.id, (0, 0, 0))[0],
            done=counted.get(r.id, (0, 0, 0))[1],
            published=counted.get(r.id, (0, 0, 0))[2],
        )
        for r in rows
    ]


async def campaign(
    session: AsyncSession, campaign_id: uuid.UUID, *, actor: User
) -> InspectionCampaign:
    """One campaign for its region's bureau (another region's: 403, as the API answers)."""
    found = await campaigns.get(session, campaign_id)
    authorize(actor, Action.inspection_manage, region_code=found.region_code)
    return found


async def districts(session: AsyncSession, region: str) -> list[Region]:
    """The divisions below the region (a city's districts), or the region itself if it has none."""
    found = await list_children(session, region)
    return found or [await get_region(session, region)]


async def region_accounts(session: AsyncSession, *, actor: User, region: str) -> list[Account]:
    """The regulator accounts of the region and below, with the 执法证号 tied to each."""
    authorize(actor, Action.inspection_manage, region_code=region)
    rows = await session.execute(
        select(
            col(User.id),
            col(User.display_name),
            col(User.region_code),
            col(Region.name),
            col(Inspector.badge),
        )
        .join(Region, col(Region.code) == col(User.region_code))
        .outerjoin(Inspector, col(Inspector.user_id) == col(User.id))
        .where(
            col(User.role) == Role.regulator,
            col(User.is_active).is_(True),
            in_region(col(User.region_code), region),
        )
        .order_by(col(User.region_code), col(User.display_name), col(User.id))
        .limit(MAX_ACCOUNTS)
    )
    return [
        Account(user_id=r[0], display_name=r[1], region_code=r[2], region_name=r[3], badge=r[4])
        for r in rows.all()
    ]
