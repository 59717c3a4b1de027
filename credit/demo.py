"""Demo data: 咸阳市成品油流通行业协会 (XYCPY) with twelve member fuel stations, a published batch,
and a batch in 公示 with an objection; 咸阳市农贸市场行业协会 (XYSC) with four markets and a batch
whose 公示 has ended, waiting to be published. Idempotent: skipped once XYCPY has a batch."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select
from stdnum.cn import uscc as uscc_number

from credit import members, objections, ratings, runs
from credit.models import ObjectorKind, Run
from credit.schemas import (
    EnterpriseCreate,
    IndicatorValues,
    ObjectionCreate,
    ObjectionDecision,
    RegistryEntry,
    ReplyCreate,
    RunCreate,
)
from portal import clock
from portal.accounts.models import User
from portal.accounts.schemas import StaffUserCreate
from portal.accounts.service import create_staff_user, get_organization_by_code
from portal.demo import DEMO_PASSWORD
from portal.settings import Settings

_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def make_uscc(region: str, serial: int, *, kind: str = "91") -> str:
    """A well-formed unified social credit code: registration kind, the 6-digit region, a
    GB 11714 organisation code (8 digits and its check character) and the GB 32100 check digit."""
    body = f"{serial % 10**8:08d}"
    remainder = 11 - sum(int(c) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    org_check = {10: "X", 11: "0"}.get(remainder, str(remainder))
    first17 = f"{kind}{region}{body}{org_check}"
    return first17 + uscc_number.calc_check_digit(first17)


FUEL_STATIONS = [
    ("610402", "中国石化销售股份有限公司陕西咸阳石油分公司人民中路加油站", "秦都区人民中路 56 号"),
    (
        "610402",
        "中国石油天然气股份有限公司陕西咸阳销售分公司世纪大道加油站",
        "秦都区世纪大道 88 号",
    ),
    ("610402", "咸阳市秦都区渭阳西路加油站有限公司", "秦都区渭阳西路 201 号"),
    ("610404", "陕西延长石油（集团）有限责任公司咸阳石油分公司渭城加油站", "渭城区渭城路 17 号"),
    ("610404", "咸阳市渭城区北塬加油站", "渭城区正阳街道北塬村"),
    ("610403", "杨凌示范区农科城加油站有限公司", "杨陵区神农路 9 号"),
    ("610481", "兴平市金城加油站", "兴平市金城路 118 号"),
    ("610422", "三原县清河加油站有限公司", "三原县城关镇清河路 3 号"),
    ("610423", "泾阳县泾干加油站", "泾阳县泾干镇东环路 45 号"),
    ("610424", "乾县梁山加油站", "乾县梁山镇 312 国道旁"),
    ("610425", "礼泉县昭陵加油站有限责任公司", "礼泉县昭陵路 66 号"),
    ("610431", "武功县普集加油站", "武功县普集镇 107 省道旁"),
]

# (self_commitment, metrology_officer, management_system) per station, in order
FUEL_INDICATORS = [
    (True, True, True),
    (True, True, True),
    (True, True, False),
    (True, True, True),
    (True, False, False),
    (True, True, True),
    (False, True, True),
    (True, True, True),
    (False, False, False),
    (True, False, True),
    (True, True, True),
    (True, True, False),
]

MARKETS = [
    ("610402", "咸阳市秦都区西兰路农贸市场有限公司", "秦都区西兰路 12 号"),
    ("610404", "咸阳市渭城区文汇路农贸市场", "渭城区文汇东路 30 号"),
    ("610481", "兴平市东城农贸市场管理有限公司", "兴平市东城路 77 号"),
    ("610422", "三原县城关农贸市场", "三原县北城街 5 号"),
]

MARKET_USER = "market@gongzhi.demo"


async def _user(session: AsyncSession, email: str) -> User:
    user: User | None = await session.scalar(select(User).where(User.email == email))
    assert user is not None, email
    return user


async def register_demo(
    session: AsyncSession, code: str, name: str, region: str, address: str
) -> None:
    """The demo's enterprises are in the registry under the names their associations use."""
    await members.register_enterprise(
        session,
        actor=None,
        uscc=code,
        data=RegistryEntry(name=name, region_code=region, address=address, source="demo"),
    )


async def load(session: AsyncSession, settings: Settings) -> bool:
    fuel = await get_organization_by_code(session, "XYCPY")
    if await session.scalar(select(Run.id).where(Run.association_id == fuel.id)):
        return False
    markets = await get_organization_by_code(session, "XYSC")
    if await session.scalar(select(User.id).where(User.email == MARKET_USER)) is None:
        await create_staff_user(
            session,
            StaffUserCreate(
                email=MARKET_USER,
                password=DEMO_PASSWORD,
                role="association",
                region_code="610400",
                organization_code="XYSC",
                display_name="农贸市场协会 秘书处",
            ),
            actor=None,
        )
    fuel_staff = await _user(session, "association@gongzhi.demo")
    market_staff = await _user(session, MARKET_USER)
    now = clock.now()
    year_ago = now - timedelta(days=400)

    stations = []
    for serial, ((region, name, address), flags) in enumerate(
        zip(FUEL_STATIONS, FUEL_INDICATORS, strict=True), start=1
    ):
        code = make_uscc(region, 61040000 + serial * 37)
        stations.append(code)
        await members.add_member(
            session,
            actor=fuel_staff,
            association=fuel,
            data=EnterpriseCreate(
                uscc=code,
                name=name,
                region_code=region,
                address=address,
                joined_on=(year_ago - timedelta(days=30)).date(),
            ),
            now=year_ago,
        )
        await register_demo(session, code, name, region, address)
        await members.set_indicators(
            session,
            actor=fuel_staff,
            association=fuel,
            uscc=code,
            data=IndicatorValues(
                values=dict(
                    zip(
                        ("self_commitment", "metrology_officer", "management_system"),
                        flags,
                        strict=True,
                    )
                ),
                note="2025 年度现场核查",
            ),
            now=year_ago,
        )

    # Last year's batch: 公示, one objection rejected with reasons, published.
    last = await runs.start_run(
        session,
        actor=fuel_staff,
        association=fuel,
        data=RunCreate(title="咸阳市成品油零售企业 2025 年度计量诚信评价"),
        settings=settings,
        now=year_ago,
    )
    await runs.open_notice(
        session, actor=fuel_staff, association=fuel, run_id=last.id, settings=settings, now=year_ago
    )
    old = await objections.lodge_objection(
        session,
        data=ObjectionCreate(
            batch_id=last.id,
            uscc=stations[8],
            objector_kind=ObjectorKind.enterprise,
            name="泾阳县泾干加油站 负责人",
            contact="13909100000",
            text="我站已于上月签署诚信计量自我承诺书，请协会核实后调整评分。",
        ),
        settings=settings,
        now=year_ago + timedelta(hours=2),
    )
    await objections.decide_objection(
        session,
        actor=fuel_staff,
        association=fuel,
        objection_id=old.id,
        data=ObjectionDecision(
            decision="rejected",
            reasons="经核查，承诺书签署日期晚于评价基准日，本年度不予采信，可在下一年度评价中计入。",
        ),
        settings=settings,
        now=year_ago + timedelta(days=2),
    )
    assert last.notice_closes_at is not None
    await runs.publish_run(
        session,
        actor=fuel_staff,
        association=fuel,
        run_id=last.id,
        settings=settings,
        now=last.notice_closes_at + timedelta(hours=1),
    )
    await ratings.publish_reply(
        session,
        actor=fuel_staff,
        association=fuel,
        uscc=stations[8],
        data=ReplyCreate(text="本站已签署诚信计量自我承诺并配备专职计量管理员，欢迎社会监督。"),
        settings=settings,
        now=last.notice_closes_at + timedelta(days=3),
    )

    # This year's batch, in 公示 now, with an objection from the public waiting for a decision.
    await members.set_indicators(
        session,
        actor=fuel_staff,
        association=fuel,
        uscc=stations[8],
        data=IndicatorValues(values={"self_commitment": True}, note="2026 年度核查：已签署承诺"),
        now=now - timedelta(hours=3),
    )
    current = await runs.start_run(
        session,
        actor=fuel_staff,
        association=fuel,
        data=RunCreate(title="咸阳市成品油零售企业 2026 年度计量诚信评价"),
        settings=settings,
        now=now - timedelta(hours=2),
    )
    await runs.open_notice(
        session,
        actor=fuel_staff,
        association=fuel,
        run_id=current.id,
        settings=settings,
        now=now - timedelta(hours=1),
    )
    await objections.lodge_objection(
        session,
        data=ObjectionCreate(
            batch_id=current.id,
            uscc=stations[2],
            objector_kind=ObjectorKind.public,
            name="王先生",
            contact="13800291234",
            text="3 月在该站加油 200 元，回家用量筒核对少了约 0.5 升，已向 12315 反映，评分是否考虑？",
        ),
        settings=settings,
        now=now - timedelta(minutes=30),
    )

    # The markets' batch: 公示 ended without objections, waiting for publication.
    for serial, (region, name, address) in enumerate(MARKETS, start=1):
        code = make_uscc(region, 61049000 + serial * 53)
        await members.add_member(
            session,
            actor=market_staff,
            association=markets,
            data=EnterpriseCreate(
                uscc=code,
                name=name,
                region_code=region,
                address=address,
                industry="农贸市场",
                joined_on=(now - timedelta(days=90)).date(),
            ),
            now=now - timedelta(days=90),
        )
        await register_demo(session, code, name, region, address)
        await members.set_indicators(
            session,
            actor=market_staff,
            association=markets,
            uscc=code,
            data=IndicatorValues(
                values={
                    "self_commitment": True,
                    "metrology_officer": serial != 3,
                    "management_system": serial % 2 == 1,
                },
                note="市场“五统一”现场检查",
            ),
            now=now - timedelta(days=30),
        )
    market_run = await runs.start_run(
        session,
        actor=market_staff,
        association=markets,
        data=RunCreate(title="咸阳市农贸市场 2026 年度计量诚信评价"),
        settings=settings,
        now=now - timedelta(days=25),
    )
    await runs.open_notice(
        session,
        actor=market_staff,
        association=markets,
        run_id=market_run.id,
        settings=settings,
        now=now - timedelta(days=25),
    )
    return True
