"""Demo data: every demo owner site scored with model version 1, and one drawn 双随机 campaign in
咸阳市 (its public page and JSON verify with scripts/verify_draw.py)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from enforcement import campaigns, scores
from enforcement.models import InspectionCampaign, RiskScore
from enforcement.schemas import CampaignCreate, InspectorIn
from enforcement.settings import EnforcementSettings
from portal.accounts.models import User
from portal.settings import Settings

REGULATOR = "regulator@gongzhi.demo"  # the foundation's 咸阳市 bureau account
INSPECTORS = [
    InspectorIn(id="SX-ZF-0401", name="王建军", district="610402"),
    InspectorIn(id="SX-ZF-0402", name="李红梅", district="610403"),
    InspectorIn(id="SX-ZF-0403", name="张志强", district="610404"),
    InspectorIn(id="SX-ZF-0404", name="刘洋", district="610481"),
    InspectorIn(id="SX-ZF-0405", name="陈静", district="610422"),
]


async def load(session: AsyncSession, settings: Settings) -> bool:
    if await session.scalar(select(func.count()).select_from(InspectionCampaign)):
        return False
    regulator = await session.scalar(select(User).where(col(User.email) == REGULATOR))
    if regulator is None:
        return False
    if not await session.scalar(select(func.count()).select_from(RiskScore)):
        await scores.recompute(session, region=None)
    in_scope = await session.scalar(
        select(func.count())
        .select_from(RiskScore)
        .where(
            col(RiskScore.current).is_(True), scores.in_region(col(RiskScore.region_code), "610400")
        )
    )
    if not in_scope:
        return True  # scores, but no site in 咸阳市 to draw from
    campaign = await campaigns.create(
        session,
        CampaignCreate(
            title="2026 年度咸阳市强检计量器具双随机抽查（演示）",
            region="610400",
            sample_size=min(3, int(in_scope)),
            weighting="risk_band",
            inspectors=INSPECTORS,
        ),
        actor=regulator,
        settings=settings.of(EnforcementSettings),
    )
    await campaigns.run_draw(session, campaign.id, actor=regulator)
    return True
