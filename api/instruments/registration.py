"""Registering instruments (登记): who acts for which owner, checking one instrument against the
catalogue (category, attributes the cycle needs, dates), the day it falls due, and entering due
instruments in the certificate registry through portal/facts.py."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.instruments.current import refresh_current
from api.instruments.errors import InvalidRegistration, NotAnOwner, RegistrationExists
from api.instruments.models import (
    RegisteredInstrument,
    RegistrationEvent,
    RegistrationEventKind,
    RegistrationStatus,
)
from api.instruments.schemas import InstrumentRegistrationCreate
from portal import clock, facts
from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.accounts.permissions import Action, authorize
from portal.accounts.service import get_organization_by_code
from portal.audit import service as audit

USAGE_AREAS = ("贸易结算", "安全防护", "医疗卫生", "环境监测")
# Nothing registered here was put in use before the 1985 Metrology Law (a typing slip otherwise).
EARLIEST_USE = date(1985, 1, 1)


@dataclass(frozen=True)
class FieldProblem:
    column: str
    code: str
    reason: str
    reason_zh: str

    def as_dict(self) -> dict[str, str]:
        return {
            "field": self.column,
            "type": self.code,
            "message": self.reason,
            "message_zh": self.reason_zh,
        }


@dataclass(frozen=True)
class Checked:
    """One instrument that passed every check, with its cycle and due day."""

    category_code: str
    model: str
    serial: str
    manufacturer: str
    location: str
    usage_area: str
    attributes: dict[str, str | int]
    in_use_since: date
    last_verified_on: date | None
    verification_form: str
    cycle_months: int | None
    due_on: date | None


async def acting_owner(session: AsyncSession, actor: User, code: str | None = None) -> Organization:
    """The owner organisation the actor works for (administrators name one with ``code``)."""
    if actor.role == Role.admin:
        if not code:
            raise NotAnOwner(
                "Administrators must name the owner.", detail_zh="管理员须指定使用单位代码。"
            )
        org = await get_organization_by_code(session, code)
    else:
        authorize(actor, Action.instrument_register)
        found = (
            await session.get(Organization, actor.organization_id)
            if actor.organization_id
            else None
        )
        if found is None:
            raise NotAnOwner()
        org = found
    if org.kind != OrganizationKind.owner:
        raise NotAnOwner(detail_zh=f"{org.name} 不是使用单位。")
    authorize(actor, Action.instrument_register, organization_id=org.id)
    return org


def due_day(
    *, in_use_since: date, last_verified_on: date | None, months: int | None, form: str
) -> date | None:
    """When the instrument must be (re)verified or replaced. Never verified: the day it is put
    in use (计量法 第九条: 未按照规定申请检定或者检定不合格的，不得使用). Verified: a cycle (or service life) later;
    an instrument verified once and scrapped when inaccurate (失准报废) has no due day."""
    if last_verified_on is None:
        return in_use_since if form != "none" else None
    if months is None:
        return None
    return clock.add_months(last_verified_on, months)


# The text fields an owner types, each checked for characters no serial or place holds.
TEXT_FIELDS = ("serial", "model", "manufacturer", "location")


def unprintable(text: str) -> bool:
    """Control characters (NUL, escape …; not tab or line breaks, which a spreadsheet cell may
    hold) and invisible format characters (a right-to-left override that shows a serial
    reversed, a zero-width space that makes two serials differ)."""
    return any(
        (category := unicodedata.category(ch)) == "Cf" or (category == "Cc" and ch not in "\t\r\n")
        for ch in text
    )


def check_instrument(
    data: InstrumentRegistrationCreate, *, today: date
) -> Checked | list[FieldProblem]:
    # A NUL was stored on SQLite and failed the whole request (or a whole import, without
    # saying which row) on PostgreSQL; a zero-width or bidi character registered a "different"
    # serial that no certificate would match.
    problems = [
        FieldProblem(
            name,
            "invalid_character",
            f"{name} contains a control or invisible character",
            "含有控制字符或不可见字符，请重新输入",
        )
        for name in TEXT_FIELDS
        if unprintable(getattr(data, name))
    ]
    serial = data.serial.strip()
    if not serial:
        problems.append(
            FieldProblem("serial", "required", "required value is missing", "必填项为空")
        )
    in_use = data.in_use_since or today
    if in_use < EARLIEST_USE or in_use > today + timedelta(days=366):
        problems.append(
            FieldProblem(
                "in_use_since",
                "date_out_of_range",
                "in_use_since before 1985 or more than a year ahead",
                "启用日期早于 1985 年或晚于一年之后",
            )
        )
    last = data.last_verified_on
    if last is not None and (last < EARLIEST_USE or last > today):
        problems.append(
            FieldProblem(
                "last_verified_on",
                "date_out_of_range",
                "last_verified_on before 1985 or in the future",
                "上次检定日期早于 1985 年或晚于今天",
            )
        )
    cycle: facts.CycleFact | None = None
    try:
        cycle = facts.instrument_cycle(
            category_code=data.category_code.strip(),
            on=last or in_use,
            attributes=dict(data.attributes),
        )
    except facts.CycleProblem as problem:
        column = (
            problem.field if problem.field == "category_code" else f"attributes.{problem.field}"
        )
        problems.append(FieldProblem(column, problem.code, str(problem), problem.message_zh))
    if cycle is not None and cycle.verification_form == "none":
        problems.append(
            FieldProblem(
                "category_code",
                "not_compulsory",
                f"{cycle.category_name} is under type approval only, not compulsory verification",
                f"{cycle.category_name}只实施型式批准，不实施强制检定，无需登记",
            )
        )
    if cycle is not None and cycle.usage_areas and data.usage_area not in cycle.usage_areas:
        problems.append(
            FieldProblem(
                "usage_area",
                "usage_not_compulsory",
                f"{cycle.category_name} is compulsory only for {', '.join(cycle.usage_areas)}",
                f"{cycle.category_name}仅在{'、'.join(cycle.usage_areas)}中实施强制检定",
            )
        )
    if problems or cycle is None:
        return problems
    return Checked(
        category_code=cycle.category_code,
        model=data.model.strip(),
        serial=serial,
        manufacturer=data.manufacturer.strip(),
        location=data.location.strip(),
        usage_area=data.usage_area,
        attributes=cycle.attributes,
        in_use_since=in_use,
        last_verified_on=last,
        verification_form=cycle.verification_form,
        cycle_months=cycle.months,
        due_on=due_day(
            in_use_since=in_use,
            last_verified_on=last,
            months=cycle.months,
            form=cycle.verification_form,
        ),
    )


async def existing_keys(
    session: AsyncSession, owner_id: uuid.UUID, serials: set[str]
) -> dict[tuple[str, str, str], uuid.UUID]:
    columns = (
        col(RegisteredInstrument.category_code),
        col(RegisteredInstrument.serial),
        col(RegisteredInstrument.manufacturer),
        col(RegisteredInstrument.id),
    )
    mine = col(RegisteredInstrument.owner_id) == owner_id
    found: dict[tuple[str, str, str], uuid.UUID] = {}
    if len(serials) > 1000:
        # A whole file: one pass over the owner's registrations beats many long IN lists (a
        # planner without statistics scans the table once per list).
        rows = await session.execute(select(*columns).where(mine))
        return {(r[0], r[1], r[2]): r[3] for r in rows.all() if r[1] in serials}
    wanted = sorted(serials)
    for start in range(0, len(wanted), 500):
        rows = await session.execute(
            select(*columns).where(
                mine, col(RegisteredInstrument.serial).in_(wanted[start : start + 500])
            )
        )
        found.update({(r[0], r[1], r[2]): r[3] for r in rows.all()})
    return found


async def add_registration(
    session: AsyncSession,
    checked: Checked,
    *,
    owner: Organization,
    actor: User,
    replaces: uuid.UUID | None = None,
) -> RegisteredInstrument:
    """The registration and its first event (a bulk import writes both with Core statements:
    api/instruments/imports.py)."""
    registration = RegisteredInstrument(
        owner_id=owner.id,
        category_code=checked.category_code,
        model=checked.model,
        serial=checked.serial,
        manufacturer=checked.manufacturer,
        location=checked.location,
        usage_area=checked.usage_area,
        attributes=dict(checked.attributes),
        region_code=owner.region_code,
        address=owner.address or "",
        in_use_since=checked.in_use_since,
        last_verified_on=checked.last_verified_on,
        verification_form=checked.verification_form,
        cycle_months=checked.cycle_months,
        due_on=checked.due_on,
        created_by=actor.id,
        replaces_id=replaces,
    )
    session.add(registration)
    await session.flush()  # before its event: no ORM relationship orders the two inserts
    session.add(registered_event(registration, actor))
    await session.flush()
    return registration


def registered_event(registration: RegisteredInstrument, actor: User) -> RegistrationEvent:
    return RegistrationEvent(
        registration_id=registration.id,
        kind=RegistrationEventKind.registered,
        actor_id=actor.id,
        data={"serial": registration.serial, "category_code": registration.category_code},
    )


async def register_instrument(
    session: AsyncSession,
    data: InstrumentRegistrationCreate,
    *,
    actor: User,
    owner_code: str | None = None,
) -> RegisteredInstrument:
    owner = await acting_owner(session, actor, owner_code)
    checked = check_instrument(data, today=clock.today())
    if isinstance(checked, list):
        raise InvalidRegistration(
            f"{len(checked)} field(s) are not valid.",
            detail_zh=f"有 {len(checked)} 项内容不符合要求。",
            errors=[p.as_dict() for p in checked],
        )
    key = (checked.category_code, checked.serial, checked.manufacturer)
    if key in await existing_keys(session, owner.id, {checked.serial}):
        raise RegistrationExists(detail_zh=f"本单位已登记出厂编号为 {checked.serial} 的同类器具。")
    registration = await add_registration(session, checked, owner=owner, actor=actor)
    await enter_when_due(session, [registration], owners={owner.id: owner}, today=clock.today())
    await audit.record(
        session,
        actor=actor,
        action="instrument.register",
        entity_type="registered_instrument",
        entity_id=registration.id,
        region_code=registration.region_code,
        after={"serial": registration.serial, "category_code": registration.category_code},
    )
    return registration


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=clock.SHANGHAI)


async def enter_when_due(
    session: AsyncSession,
    registrations: list[RegisteredInstrument],
    *,
    owners: dict[uuid.UUID, Organization],
    today: date,
) -> int:
    """Link each registration to the registry's instrument: at once when the registry already
    knows it (an institution certified it); else, once the bureau confirmed it and it is due,
    enter it there, so that a never-verified instrument counts in its region's overdue list from
    its due day, not before, and a registration the bureau rejects never reaches the registry."""
    waiting = [
        r
        for r in registrations
        if r.registry_instrument_id is None
        and r.status in (RegistrationStatus.pending, RegistrationStatus.confirmed)
    ]
    if not waiting:
        return 0
    known = await facts.find_in_registry(
        session, [(r.category_code, r.serial, r.manufacturer) for r in waiting]
    )
    entered = 0
    linked: list[uuid.UUID] = []
    for r in waiting:
        state = known.get((r.category_code, r.serial, r.manufacturer))
        if state is None:
            if r.status != RegistrationStatus.confirmed or r.due_on is None or r.due_on > today:
                continue
            owner = owners[r.owner_id]
            state = await facts.enter_in_registry(
                session,
                facts.RegistryEntry(
                    category_code=r.category_code,
                    serial=r.serial,
                    manufacturer=r.manufacturer,
                    model=r.model,
                    owner_name=owner.name,
                    owner_uscc=owner.uscc or "",
                    address=" ".join(p for p in (owner.address or "", r.location) if p),
                    region_code=r.region_code,
                    since=_start_of(r.due_on),
                ),
            )
        r.registry_instrument_id = state.instrument_id
        linked.append(state.instrument_id)
        data: dict[str, Any] = {"sticker_token": state.sticker_token}
        owner_uscc = owners[r.owner_id].uscc
        if state.owner_uscc and owner_uscc and state.owner_uscc != owner_uscc:
            # Certified earlier for another owner: linked, and the bureau sees it; the registry
            # keeps its owner until an institution's newer certificate says otherwise.
            data["registry_owner_uscc"] = state.owner_uscc
        session.add(
            RegistrationEvent(registration_id=r.id, kind=RegistrationEventKind.entered, data=data)
        )
        entered += 1
    await session.flush()
    await refresh_current(session, linked)  # its current certificate, for the statistics
    return entered
