"""Demo enforcement notices for 咸阳: three enterprises, one individual (shown masked), and the
demo taxi company (an owner site of the registration demo) entered in the serious dishonesty list
(严重违法失信名单), so its risk score shows the listing factor. Dates count back from
``clock.today()`` when the demo is loaded (portal/clock.py: the one clock)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from notices import service
from notices.models import EnforcementNotice, PartyKind
from notices.schemas import EnforcementNoticeCreate
from notices.settings import NoticeSettings
from portal import clock
from portal.settings import Settings


def notices(today: date) -> list[EnforcementNoticeCreate]:
    return [
        EnforcementNoticeCreate(
            title="咸阳市某加油站使用作弊装置案",
            decision_number="咸市监处罚〔2026〕15号",
            party_name="咸阳渭城区顺达加油站有限公司",
            party_uscc="91610404MA6XYK4Q78",
            violation="在加油机主板上加装作弊装置，致使加油量少于显示量约 1.8%。",
            legal_basis="《中华人民共和国计量法实施细则》第五十一条、《陕西省计量监督管理条例》",
            penalty_kind="没收违法所得；罚款",
            penalty_amount=Decimal("50000"),
            authority="咸阳市市场监督管理局",
            region_code="610400",
            decision_date=today - timedelta(days=40),
        ),
        EnforcementNoticeCreate(
            title="秦都区某超市使用未经检定电子计价秤案",
            decision_number="咸秦市监处罚〔2026〕8号",
            party_name="咸阳秦都惠民生鲜超市有限公司",
            party_uscc="91610402MA6XN3EX15",
            violation="使用未经检定的电子计价秤 3 台用于贸易结算。",
            legal_basis="《中华人民共和国计量法》第九条、第二十六条",
            penalty_kind="罚款",
            penalty_amount=Decimal("2000"),
            authority="咸阳市秦都区市场监督管理局",
            region_code="610402",
            decision_date=today - timedelta(days=20),
        ),
        EnforcementNoticeCreate(
            title="兴平市某出租汽车公司计价器超期未检案",
            decision_number="兴市监处罚〔2026〕21号",
            party_name="兴平市安达出租汽车有限公司",
            party_uscc="91610481MA6XP2T092",
            violation="所属 12 辆出租汽车计价器超过检定周期仍继续使用。",
            legal_basis="《中华人民共和国计量法实施细则》第四十三条",
            penalty_kind="警告；罚款",
            penalty_amount=Decimal("6000"),
            authority="兴平市市场监督管理局",
            region_code="610481",
            decision_date=today - timedelta(days=10),
        ),
        EnforcementNoticeCreate(
            title="渭城区某农贸市场摊位缺斤短两案",
            decision_number="咸渭市监处罚〔2026〕5号",
            party_name="王某某",
            party_kind=PartyKind.individual,
            violation="经营者使用计量器具短斤缺两，损害消费者利益。",
            legal_basis="《中华人民共和国计量法实施细则》第五十一条",
            penalty_kind="通报批评",
            authority="咸阳市渭城区市场监督管理局",
            region_code="610404",
            decision_date=today - timedelta(days=5),
        ),
        EnforcementNoticeCreate(
            title="咸阳市秦都出租汽车有限公司列入严重违法失信名单",
            decision_number="咸市监信列〔2026〕2号",
            party_name="咸阳市秦都出租汽车有限公司",
            party_uscc="91610402MA6XY00036",
            violation="所属出租汽车两年内三次被查实改装计价器多收费用，"
            "因同一违法行为再次受到较重行政处罚。",
            legal_basis="《市场监督管理严重违法失信名单管理办法》第二条",
            penalty_kind="列入严重违法失信名单",
            authority="咸阳市市场监督管理局",
            region_code="610402",
            decision_date=today - timedelta(days=30),
        ),
    ]


async def load(session: AsyncSession, settings: Settings) -> bool:
    if await session.scalar(select(EnforcementNotice.id).limit(1)) is not None:
        return False
    for notice in notices(clock.today()):
        published = notice.decision_date + timedelta(days=3)
        await service.create_notice(
            session,
            notice.model_copy(update={"published_on": published}),
            actor=None,
            settings=settings.of(NoticeSettings),
        )
    return True
