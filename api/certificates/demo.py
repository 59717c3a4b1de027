"""Demo certificates for 咸阳: every status (valid, expiring, expired, failed, revoked,
superseded), enterprises with valid unified social credit codes and a few individual stall holders,
one instrument never verified, and one certificate held for the bureau (待核对, review_queue.py).
Dates are relative to the day the demo is loaded so the statuses hold; instrument sticker tokens
are fixed so the README can link to them."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col
from stdnum.cn import uscc

from api.certificates import registry
from api.certificates.import_rows import CertRow, validate_row
from api.certificates.models import InstitutionAuthorisation
from api.certificates.queries import certificates, instruments, reviews, today_local
from api.certificates.schemas import CertificateCreate, CertificateHeld
from api.certificates.settings import CertificatesSettings
from api.certificates.store import store_rows
from portal import facts
from portal.accounts.models import Organization, User
from portal.db import utcnow
from portal.settings import Settings


def _uscc(base17: str) -> str:
    code = base17 + uscc.calc_check_digit(base17)
    assert uscc.is_valid(code), code
    return code


MARKET = ("咸阳市秦都区人民路农贸市场有限公司", _uscc("91610402MA6XY0001"))
SINOPEC = ("中国石化销售股份有限公司陕西咸阳石油分公司", _uscc("91610400MA6XY0002"))
TAXI = ("咸阳市秦都出租汽车有限公司", _uscc("91610402MA6XY0003"))
HOSPITAL = ("咸阳市中心医院", _uscc("12610400MB2970004"))
OPTICS = ("咸阳明视眼镜有限公司", _uscc("91610404MA6XY0005"))
WATER = ("兴平市自来水有限公司", _uscc("91610481MA6XY0006"))
GRID = ("国网陕西省电力有限公司咸阳供电公司", _uscc("91610400MA6XY0007"))
GAS = ("咸阳新奥燃气有限公司", _uscc("91610404MA6XY0008"))
POLICE = ("咸阳市公安局交通警察支队", _uscc("11610400MB2970009"))

# number, institution, token, category, model, serial, manufacturer, owner, address, region,
# verified (days ago), valid until (days from today; None: cycle default), conclusion
ROWS: list[tuple[Any, ...]] = [
    (
        "XYJC2026-0001",
        "XYJC",
        "DEMO-SCALE-VALID",
        "scale-pc",
        "ACS-15",
        "XS2301001",
        "上海友声衡器有限公司",
        MARKET,
        "人民路农贸市场 公平秤",
        "610402",
        60,
        305,
        "合格",
    ),
    (
        "XYJC2026-0002",
        "XYJC",
        "DEMO-SCALE-EXPIRING",
        "scale-pc",
        "ACS-30",
        "DH2201877",
        "凯丰集团有限公司",
        ("张建国", None),
        "人民路农贸市场 12号摊位",
        "610402",
        345,
        20,
        "合格",
    ),
    (
        "XYJC2026-0003",
        "XYJC",
        "DEMO-SCALE-EXPIRED",
        "scale-pc",
        "ACS-30",
        "DH2101233",
        "凯丰集团有限公司",
        ("李秀兰", None),
        "人民路农贸市场 27号摊位",
        "610402",
        400,
        -35,
        "合格",
    ),
    (
        "XYJC2026-0004",
        "XYJC",
        "DEMO-SCALE-FAILED",
        "scale-pc",
        "TCS-150",
        "TC1905550",
        "永康市华鹰衡器有限公司",
        ("刘德福", None),
        "渭城区渭阳西路早市 3号摊位",
        "610404",
        12,
        None,
        "不合格（示值误差超差）",
    ),
    (
        "XYJC2026-0005",
        "XYJC",
        "DEMO-FUEL-VALID",
        "fuel-dispenser",
        "CS46",
        "TQ2305012",
        "托肯恒山科技（广州）有限公司",
        SINOPEC,
        "渭城区渭阳西路加油站 3号枪",
        "610404",
        30,
        None,
        "合格",
    ),
    (
        "XYJC2026-0006",
        "XYJC",
        "DEMO-FUEL-REVOKED",
        "fuel-dispenser",
        "CS46",
        "TQ2305013",
        "托肯恒山科技（广州）有限公司",
        SINOPEC,
        "渭城区渭阳西路加油站 4号枪",
        "610404",
        40,
        None,
        "合格",
    ),
    (
        "XYJC2026-0007",
        "XYJC",
        "DEMO-TAXI",
        "taximeter",
        "JD-6",
        "JD21800456",
        "西安嘉德电子科技有限公司",
        TAXI,
        "陕D·T1234",
        "610402",
        90,
        None,
        "合格",
    ),
    (
        "XYJC2026-0009",
        "XYJC",
        "DEMO-TRUCK-SCALE",
        "scale-truck",
        "SCS-100",
        "YH1800231",
        "梅特勒-托利多（常州）称重设备系统有限公司",
        MARKET,
        "人民路农贸市场 进货地磅",
        "610402",
        200,
        None,
        "合格",
    ),
    (
        "XYJC2026-0010",
        "XYJC",
        "DEMO-SCALE-INDIV",
        "scale-pc",
        "ACS-15",
        "XS2301777",
        "上海友声衡器有限公司",
        ("王秀英", None),
        "三原县城关镇北街 5号摊位",
        "610422",
        100,
        None,
        "合格",
    ),
    (
        "SXJL2026-0101",
        "SXJL",
        "DEMO-BP-VALID",
        "sphygmomanometer",
        "HEM-7136",
        "OM20231188",
        "欧姆龙（大连）有限公司",
        HOSPITAL,
        "人民东路78号 门诊二楼",
        "610402",
        50,
        None,
        "合格",
    ),
    (
        "SXJL2026-0102",
        "SXJL",
        "DEMO-PUMP",
        "syringe-pump",
        "SP-500",
        "SP1900321",
        "深圳迈瑞生物医疗电子股份有限公司",
        HOSPITAL,
        "人民东路78号 ICU",
        "610402",
        350,
        15,
        "合格",
    ),
    (
        "SXJL2026-0103",
        "SXJL",
        "DEMO-RADAR",
        "speed-radar",
        "CSR-IV",
        "RD2000018",
        "四川川大智胜软件股份有限公司",
        POLICE,
        "G70福银高速 咸阳段 K1123",
        "610404",
        70,
        None,
        "合格",
    ),
    (
        "SXJL2026-0104",
        "SXJL",
        "DEMO-LENSMETER",
        "lensmeter",
        "NL-8",
        "LM2105566",
        "上海新缘光学仪器有限公司",
        OPTICS,
        "渭城区中山街12号",
        "610404",
        200,
        None,
        "合格",
    ),
    (
        "SXJL2026-0105",
        "SXJL",
        "DEMO-WATER",
        "water-meter",
        "LXS-20",
        "WM2300998",
        "宁波水表（集团）股份有限公司",
        WATER,
        "兴平市东城街道 1号楼",
        "610481",
        500,
        None,
        "合格",
    ),
    (
        "SXJL2026-0106",
        "SXJL",
        "DEMO-ELECTRICITY",
        "electricity-meter",
        "DDZY285",
        "EM2201234",
        "威胜集团有限公司",
        GRID,
        "彬州市城关街道",
        "610482",
        700,
        None,
        "合格",
    ),
    (
        "SXJL2026-0107",
        "SXJL",
        "DEMO-GAS",
        "gas-meter",
        "G2.5",
        "GM2107789",
        "浙江苍南仪表集团股份有限公司",
        GAS,
        "渭城区文汇路",
        "610404",
        900,
        None,
        "合格",
    ),
]


# The re-verification, after repair, of the scale that failed (XYJC2026-0004): the institution
# names the stall holder as on the first certificate, while his shop has since registered the scale
# under its business licence (api/instruments/demo.py, 刘德福水果店). The registry cannot tell
# whether 刘德福 and 刘德福水果店 are one owner, so the certificate is held for 咸阳市's bureau.
HELD = {
    "number": "XYJC2026-0011",
    "category_code": "scale-pc",
    "model": "TCS-150",
    "serial": "TC1905550",
    "manufacturer": "永康市华鹰衡器有限公司",
    "owner_name": "刘德福",
    "address": "渭城区渭阳西路早市 3号摊位",
    "region_code": "610404",
    "conclusion": "合格",
    "verifier": "陈工",
}


async def load(session: AsyncSession, settings: Settings) -> bool:
    created = await _registry(session, settings)
    return await _held(session, settings) or created


async def _held(session: AsyncSession, settings: Settings) -> bool:
    """The held certificate, issued as an institution issues one (scope, audit and all), once the
    owners' registrations are there: on the loaders' second pass (portal/demo.py), since the
    registrations' domain loads its demo after this one."""
    key = (HELD["category_code"], HELD["serial"], HELD["manufacturer"])
    if await session.scalar(select(reviews.c.id).where(reviews.c.number == HELD["number"])):
        return False
    if not (await facts.registered_claims(session, [key])).get(key):
        return False
    actor = await session.scalar(select(User).where(col(User.email) == "institution@gongzhi.demo"))
    if actor is None:
        return False
    answer, created = await registry.issue_certificate(
        session,
        CertificateCreate(**HELD, verified_on=today_local() - timedelta(days=2)),
        actor=actor,
        settings=settings.of(CertificatesSettings),
    )
    assert isinstance(answer, CertificateHeld), answer
    return created


async def _registry(session: AsyncSession, settings: Settings) -> bool:
    if await session.scalar(select(certificates.c.id).where(certificates.c.number == ROWS[0][0])):
        return False
    today = today_local()
    ctx = await registry.validation_context(session, settings.of(CertificatesSettings))
    orgs = {
        org.code: org
        for org in (
            await session.scalars(
                select(Organization).where(col(Organization.code).in_(["XYJC", "SXJL"]))
            )  # type: ignore[attr-defined]
        ).all()
    }
    users = {
        u.email: u
        for u in (
            await session.scalars(
                select(User).where(
                    col(User.email).in_(["institution@gongzhi.demo", "sxjl@gongzhi.demo"])
                )
            )
        ).all()
    }
    if set(orgs) != {"XYJC", "SXJL"} or len(users) != 2:
        return False  # the foundation's demo accounts are missing; nothing to attach to
    xyjc_user = users["institution@gongzhi.demo"]
    for (
        number,
        inst,
        token,
        category,
        model,
        serial,
        maker,
        owner,
        address,
        region,
        ago,
        until,
        conclusion,
    ) in ROWS:
        verified = today - timedelta(days=ago)
        raw = {
            "number": number,
            "category_code": category,
            "model": model,
            "serial": serial,
            "manufacturer": maker,
            "owner_name": owner[0],
            "owner_uscc": owner[1] or "",
            "address": address,
            "region_code": region,
            "conclusion": conclusion,
            "verified_on": verified.isoformat(),
            "valid_until": (today + timedelta(days=until)).isoformat() if until is not None else "",
            "verifier": "陈工" if inst == "XYJC" else "周工",
        }
        row = validate_row(raw, ctx)
        assert isinstance(row, CertRow), (number, row)
        await store_rows(
            session,
            institution_id=orgs[inst].id,
            rows=[(1, row)],
            actor_id=users[
                "institution@gongzhi.demo" if inst == "XYJC" else "sxjl@gongzhi.demo"
            ].id,
            scope=None,  # the demo's certificates predate its authorisation (recorded below)
        )
        await session.execute(
            update(instruments)
            .where(instruments.c.serial == serial, instruments.c.category_code == category)
            .values(sticker_token=token)
        )

    await registry.revoke_certificate(
        session,
        "XYJC2026-0006",
        reason="复查发现加油机铅封被破坏，检定结果作废",
        actor=xyjc_user,
        settings=settings.of(CertificatesSettings),
    )
    correction = CertificateCreate(
        number="XYJC2026-0008",
        category_code="taximeter",
        model="JD-6",
        serial="JD21800456",
        manufacturer="西安嘉德电子科技有限公司",
        owner_name=TAXI[0],
        owner_uscc=TAXI[1],
        address="陕D·T1234",
        region_code="610402",
        conclusion="合格",
        verified_on=today - timedelta(days=90),
        verifier="陈工、赵工",
    )
    await registry.correct_certificate(
        session,
        "XYJC2026-0007",
        correction,
        reason="更正检定员姓名",
        actor=xyjc_user,
        settings=settings.of(CertificatesSettings),
    )
    # 咸阳市计量检定测试所's 授权证书 (api/certificates/scope.py): from now on it issues only for
    # these items in 咸阳市. Recorded after its certificates above, as a bureau entering it would.
    xyjc_categories = sorted({row[3] for row in ROWS if row[1] == "XYJC"} | {"water-meter"})
    session.add(
        InstitutionAuthorisation(
            institution_id=orgs["XYJC"].id,
            certificate_number="(陕)法计(2024)61040001号",
            issuer_name="咸阳市市场监督管理局",
            issuer_region_code="610400",
            categories=xyjc_categories,
            regions=["610400"],
            valid_from=date(2024, 3, 1),
            valid_until=date(2029, 2, 28),
        )
    )
    # A scale the market registered this season that no institution has verified yet.
    await session.execute(
        instruments.insert().values(
            id=uuid.uuid4(),
            sticker_token="DEMO-SCALE-NEVER",
            category_code="scale-pc",
            model="ACS-6",
            serial="XS2409999",
            manufacturer="上海友声衡器有限公司",
            owner_name=MARKET[0],
            owner_type="enterprise",
            owner_uscc=MARKET[1],
            address="人民路农贸市场 新增摊位",
            region_code="610402",
            created_at=utcnow() - timedelta(days=45),
        )
    )
    return True
