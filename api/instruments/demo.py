"""Demo owners of several kinds (a market, a fuel station, a hospital, a water utility, a taxi
company, a sole trader) with registered instruments in every registration status (待确认, 已确认,
已退回, 已注销) and every verification status (合格有效, 即将到期, 已过期, 到期更换, 不合格, 证书已注销,
未检定, 未到检定期). Several match the certificate registry's demo instruments (same category,
serial and manufacturer: api/certificates/demo.py runs first), so their certificates attach;
verification applications in every state (已申请, 已预约, 已拒绝, 已撤回, 已完成 — the completed
one within the promised time)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.instruments.applications import (
    accept_application,
    cancel_application,
    complete_application,
    refuse_application,
    submit_application,
)
from api.instruments.models import (
    ApplicationStatus,
    RegisteredInstrument,
    RegistrationEvent,
    RegistrationEventKind,
)
from api.instruments.registration import register_instrument
from api.instruments.review import change_registration, review_registration
from api.instruments.schemas import (
    ApplicationCreate,
    AppointmentRequest,
    InstrumentRegistrationCreate,
    RegistrationChange,
)
from api.instruments.settings import InstrumentsSettings
from portal import clock
from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.accounts.schemas import OrganizationCreate, StaffUserCreate
from portal.accounts.service import create_organization, create_staff_user
from portal.demo import DEMO_PASSWORD
from portal.settings import Settings

# code, name, kind of business, region, USCC, address, demo user
OWNERS = [
    ("RMLSC", "咸阳市秦都区人民路农贸市场有限公司", "集贸市场", "610402", "91610402MA6XY00010",
     "秦都区人民路 18 号", "owner@gongzhi.demo"),
    ("SHRMZ", "中国石化销售股份有限公司陕西咸阳石油分公司", "加油站", "610404", "91610400MA6XY00026",
     "渭城区文汇路 66 号", "station@gongzhi.demo"),
    ("XYZXYY", "咸阳市中心医院", "医院", "610402", "12610400MB29700045",
     "秦都区人民东路 78 号", "hospital@gongzhi.demo"),
    ("XPZLS", "兴平市自来水有限公司", "供水", "610481", "91610481MA6XY0006W",
     "兴平市东城路 3 号", "water@gongzhi.demo"),
    ("QDCZ", "咸阳市秦都出租汽车有限公司", "出租汽车", "610402", "91610402MA6XY00036",
     "秦都区玉泉路 9 号", "taxi@gongzhi.demo"),
    ("LDFSG", "咸阳市渭城区刘德福水果店", "个体工商户", "610404", "92610404MA6XY0101F",
     "渭城区文汇路 12 号", "fruit@gongzhi.demo"),
]  # fmt: skip

SCALE, TRUCK = "上海友声衡器有限公司", "梅特勒-托利多（常州）称重设备系统有限公司"
# owner code, registration, then what happens to it: ("confirm",), ("reject", reason), ("replace",
# serial), ("retire", reason) or ("move", place)
REGISTRATIONS: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("RMLSC", {"category_code": "scale-pc", "serial": "XS2301001", "manufacturer": SCALE,
               "model": "ACS-15", "location": "公平秤"}, ("confirm",)),
    ("RMLSC", {"category_code": "scale-truck", "serial": "YH1800231", "manufacturer": TRUCK,
               "model": "SCS-100", "location": "北门地磅"}, ("confirm",)),
    ("RMLSC", {"category_code": "scale-pc", "serial": "XS2409999", "manufacturer": SCALE,
               "model": "ACS-6", "location": "新增摊位"}, ()),
    ("RMLSC", {"category_code": "scale-pc", "serial": "XS2200456", "manufacturer": SCALE,
               "model": "ACS-15", "location": "8 号摊位"},
     ("reject", "铭牌出厂编号为 XS2200465，与登记不符，请核对后重新登记")),
    ("RMLSC", {"category_code": "scale-pc", "serial": "XS1900001", "manufacturer": SCALE,
               "model": "ACS-15", "location": "3 号摊位", "last_verified_days": 200},
     ("replace", "XS2411002")),
    ("RMLSC", {"category_code": "scale-platform", "serial": "TC2300777", "manufacturer": SCALE,
               "model": "TCS-150", "location": "冷库", "last_verified_days": 100},
     ("move", "冷库二号门")),
    ("SHRMZ", {"category_code": "fuel-dispenser", "serial": "TQ2305012",
               "manufacturer": "托肯恒山科技（广州）有限公司", "model": "TQJ-4",
               "location": "1 号加油岛"}, ("confirm",)),
    ("SHRMZ", {"category_code": "fuel-dispenser", "serial": "TQ2305013",
               "manufacturer": "托肯恒山科技（广州）有限公司", "model": "TQJ-4",
               "location": "2 号加油岛"}, ("confirm",)),
    ("XYZXYY", {"category_code": "sphygmomanometer", "serial": "OM20231188",
                "manufacturer": "欧姆龙（大连）有限公司", "usage_area": "医疗卫生",
                "location": "门诊二楼"}, ("confirm",)),
    ("XYZXYY", {"category_code": "syringe-pump", "serial": "SP1900321",
                "manufacturer": "深圳迈瑞生物医疗电子股份有限公司", "usage_area": "医疗卫生",
                "location": "ICU 3 床"}, ("confirm",)),
    ("XYZXYY", {"category_code": "thermometer-glass", "serial": "TW2024-0001",
                "manufacturer": "江苏玉环医疗器械有限公司", "usage_area": "医疗卫生",
                "location": "发热门诊", "last_verified_days": 90}, ()),
    ("XPZLS", {"category_code": "water-meter", "serial": "WM2300998",
               "manufacturer": "宁波水表（集团）股份有限公司", "attributes": {"dn": 20},
               "location": "东城小区 3 号楼"}, ("confirm",)),
    ("XPZLS", {"category_code": "water-meter", "serial": "WM1700120",
               "manufacturer": "宁波水表（集团）股份有限公司", "attributes": {"dn": 15},
               "location": "东城小区 5 号楼", "last_verified_days": 2300}, ("confirm",)),
    ("XPZLS", {"category_code": "water-meter", "serial": "WM2209080",
               "manufacturer": "宁波水表（集团）股份有限公司", "attributes": {"dn": 80},
               "location": "水厂出水总表", "last_verified_days": 900}, ("confirm",)),
    ("XPZLS", {"category_code": "water-meter", "serial": "WM1500033",
               "manufacturer": "宁波水表（集团）股份有限公司", "attributes": {"dn": 25},
               "location": "旧城区泵站", "last_verified_days": 1500},
     ("retire", "泵站拆除，水表停用")),
    ("QDCZ", {"category_code": "taximeter", "serial": "JD21800456",
              "manufacturer": "西安嘉德电子科技有限公司", "location": "陕D·T1234"}, ("confirm",)),
    ("QDCZ", {"category_code": "taximeter", "serial": "JD22900001",
              "manufacturer": "西安嘉德电子科技有限公司", "location": "陕D·T5678",
              "in_use_days": -10}, ()),
    ("LDFSG", {"category_code": "scale-pc", "serial": "TC1905550",
               "manufacturer": "永康市华鹰衡器有限公司", "location": "店内"}, ()),
]  # fmt: skip


# Days before the demo is loaded that each owner registered the instrument, across the last 12
# months (at most 320 days: the statistics' window begins at least 334 days back, whatever the
# day), so that the trend by month shows registrations, confirmations and retirements through
# the year; the replacement scale is registered when its predecessor is replaced.
REGISTERED_DAYS_AGO = {
    "XS2301001": 320, "YH1800231": 300, "XS1900001": 290, "TC2300777": 260, "WM1500033": 250,
    "TQ2305012": 230, "TQ2305013": 228, "OM20231188": 200, "SP1900321": 170, "WM2300998": 140,
    "WM1700120": 110, "WM2209080": 95, "JD21800456": 60, "XS2200456": 40, "TC1905550": 25,
    "TW2024-0001": 15, "JD22900001": 8, "XS2409999": 3,
}  # fmt: skip


async def _date_registrations(session: AsyncSession, owners: list[uuid.UUID]) -> None:
    """Each demo registration dated REGISTERED_DAYS_AGO before now (portal.clock), its events
    spread in order between then and now (a retirement months after the registration), the
    bureau's review at its event; a replacement registered at its predecessor's replacement."""
    now = clock.now()
    registrations = list(
        (
            await session.scalars(
                select(RegisteredInstrument).where(col(RegisteredInstrument.owner_id).in_(owners))
            )
        ).all()
    )
    events = (
        await session.scalars(
            select(RegistrationEvent)
            .where(col(RegistrationEvent.registration_id).in_([r.id for r in registrations]))
            .order_by(col(RegistrationEvent.at), col(RegistrationEvent.id))
        )
    ).all()
    history: dict[uuid.UUID, list[RegistrationEvent]] = {}
    for event in events:
        history.setdefault(event.registration_id, []).append(event)
    # Predecessors first: a replacement takes the moment of its predecessor's replacement.
    registrations.sort(key=lambda r: r.replaces_id is not None)
    replaced_at: dict[uuid.UUID, datetime] = {}
    for r in registrations:
        if r.replaces_id is not None and r.replaces_id in replaced_at:
            start = replaced_at[r.replaces_id]
        else:
            start = now - timedelta(days=REGISTERED_DAYS_AGO.get(r.serial, 0))
        r.created_at = start
        steps = history.get(r.id, [])
        for i, event in enumerate(steps):
            event.at = start + (now - start) * i / len(steps)
            if event.kind in (RegistrationEventKind.confirmed, RegistrationEventKind.rejected):
                r.reviewed_at = event.at
            if event.kind == RegistrationEventKind.replaced:
                replaced_at[r.id] = event.at
    await session.flush()


async def _accounts(session: AsyncSession) -> dict[str, User]:
    users: dict[str, User] = {}
    for code, name, business, region, uscc, address, email in OWNERS:
        org = await create_organization(
            session,
            OrganizationCreate(
                kind=OrganizationKind.owner,
                code=code,
                name=name,
                region_code=region,
                industry=business,
                uscc=uscc,
                address=address,
            ),
            actor=None,
        )
        users[code] = await create_staff_user(
            session,
            StaffUserCreate(
                email=email,
                password=DEMO_PASSWORD,
                role=Role.owner,
                region_code=org.region_code,
                organization_code=code,
                display_name=f"{name} 计量管理员",
            ),
            actor=None,
        )
    return users


async def load(session: AsyncSession, settings: Settings) -> bool:
    if await session.scalar(select(col(Organization.id)).where(col(Organization.code) == "RMLSC")):
        return False
    bureaus = {
        u.region_code: u
        for u in (
            await session.scalars(
                select(User).where(
                    User.email.in_(["qindu@gongzhi.demo", "regulator@gongzhi.demo"])  # type: ignore[attr-defined]
                )
            )
        ).all()
    }
    if set(bureaus) != {"610402", "610400"}:
        return False  # the foundation's demo regulators are missing
    users = await _accounts(session)
    today = clock.today()
    for code, raw, then in REGISTRATIONS:
        data = dict(raw)
        last = data.pop("last_verified_days", None)
        in_use = data.pop("in_use_days", None)
        body = InstrumentRegistrationCreate(
            usage_area=data.pop("usage_area", "贸易结算"),
            last_verified_on=today - timedelta(days=last) if last is not None else None,
            in_use_since=today - timedelta(days=in_use) if in_use is not None else None,
            **data,
        )
        owner = users[code]
        registration = await register_instrument(session, body, actor=owner)
        bureau = bureaus["610402"] if registration.region_code == "610402" else bureaus["610400"]
        if not then:
            continue
        if then[0] == "confirm":
            await review_registration(session, registration.id, actor=bureau, confirm=True)
        elif then[0] == "reject":
            await review_registration(
                session, registration.id, actor=bureau, confirm=False, reason=then[1]
            )
        elif then[0] == "replace":
            replacement = body.model_copy(
                update={"serial": then[1], "last_verified_on": None, "in_use_since": None}
            )
            await change_registration(
                session,
                registration.id,
                RegistrationChange(
                    kind="replaced", reason="秤盘变形，更换新秤", replacement=replacement
                ),
                actor=owner,
            )
        elif then[0] == "retire":
            await change_registration(
                session,
                registration.id,
                RegistrationChange(kind="retired", reason=then[1]),
                actor=owner,
            )
        else:
            await change_registration(
                session,
                registration.id,
                RegistrationChange(kind="moved", location=then[1], reason="场地调整"),
                actor=owner,
            )
    await _date_registrations(
        session, [u.organization_id for u in users.values() if u.organization_id]
    )
    await _applications(session, users, settings)
    return True


# owner, institution, serials, days ago it was made, then: "submitted", "accept", "refuse",
# "cancel" or "complete"
APPLICATIONS = [
    # The truck scale verified 200 days ago (api/certificates/demo.py): applied for five days
    # before, completed the day after, within the promised time.
    ("RMLSC", "XYJC", ["YH1800231"], 205, "complete"),
    ("XYZXYY", "SXJL", ["OM20231188", "SP1900321"], 5, "accept"),
    ("QDCZ", "XYJC", ["JD21800456"], 2, "submitted"),
    ("XPZLS", "XYJC", ["WM2209080"], 10, "refuse"),
    ("SHRMZ", "XYJC", ["TQ2305012"], 3, "cancel"),
]


async def _applications(session: AsyncSession, users: dict[str, User], settings: Settings) -> None:
    labs = {
        u.email: u
        for u in (
            await session.scalars(
                select(User).where(
                    col(User.email).in_(["institution@gongzhi.demo", "sxjl@gongzhi.demo"])
                )
            )
        ).all()
    }
    lab_of = {"XYJC": labs.get("institution@gongzhi.demo"), "SXJL": labs.get("sxjl@gongzhi.demo")}
    config = settings.of(InstrumentsSettings)
    today = clock.today()
    for owner_code, lab_code, serials, ago, then in APPLICATIONS:
        lab = lab_of[lab_code]
        if lab is None:
            continue
        owner = users[owner_code]
        ids = list(
            (
                await session.scalars(
                    select(col(RegisteredInstrument.id)).where(
                        col(RegisteredInstrument.owner_id) == owner.organization_id,
                        col(RegisteredInstrument.serial).in_(serials),
                    )
                )
            ).all()
        )
        application = await submit_application(
            session,
            ApplicationCreate(
                institution_code=lab_code,
                registration_ids=ids,
                preferred_on=today + timedelta(days=7),
                mode="in_lab" if lab_code == "SXJL" else "on_site",
                note="请提前一天电话联系",
            ),
            actor=owner,
            settings=config,
        )
        application.created_at = clock.now() - timedelta(days=ago)
        application.preferred_on = today - timedelta(days=ago) + timedelta(days=7)
        if then == "accept":
            await accept_application(
                session, application.id,
                AppointmentRequest(appointment_on=today + timedelta(days=3), staff="周工、吴工"),
                actor=lab,
            )  # fmt: skip
        elif then == "refuse":
            await refuse_application(
                session, application.id, "DN80 及以上水表请向供水计量检定站申请", actor=lab
            )
        elif then == "cancel":
            await cancel_application(session, application.id, actor=owner)
        elif then == "complete":
            application.status = ApplicationStatus.accepted
            application.appointment_on = today - timedelta(days=ago - 5)
            application.appointment_address = "人民路农贸市场"
            application.staff = "陈工"
            await complete_application(session, application.id, actor=lab)
            # Completed then, not on the day the demo is loaded: the time to result is the
            # institution's, and the statistics count it in its month.
            application.completed_at = clock.now() - timedelta(days=ago - 6)
