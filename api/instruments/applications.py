"""Verification applications (检定申请): the owner applies to a designated institution for some of
its confirmed instruments; the institution's queue accepts with an appointment, reschedules,
refuses with reasons, and completes once every instrument has its certificate or failure notice
(issued through the certificate registry, read here through portal/facts.py). The time from the
application to its results is measured against ``application_result_days``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.instruments.errors import (
    ApplicationNotFound,
    ApplicationResultsMissing,
    ApplicationStateConflict,
    InvalidApplication,
)
from api.instruments.models import (
    ApplicationEvent,
    ApplicationItem,
    ApplicationMode,
    ApplicationStatus,
    RegisteredInstrument,
    RegistrationStatus,
    VerificationApplication,
)
from api.instruments.registration import acting_owner, enter_when_due
from api.instruments.review import read_models
from api.instruments.schemas import (
    APPLICATION_STATUS_ZH,
    ApplicationCreate,
    ApplicationItemRead,
    ApplicationRead,
    AppointmentRequest,
    RegistrationEventRead,
)
from api.instruments.settings import InstrumentsSettings
from portal import clock, facts
from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.accounts.permissions import Action, authorize
from portal.accounts.service import get_organization_by_code
from portal.audit import service as audit
from portal.errors import Forbidden
from portal.pagination import PageRequest

OPEN = (ApplicationStatus.submitted, ApplicationStatus.accepted)
# How far ahead an owner may wish, or an institution appoint, a verification (days).
APPOINTMENT_DAYS_AHEAD = 366


def _event(
    application: VerificationApplication, kind: str, actor: User, **data: object
) -> ApplicationEvent:
    return ApplicationEvent(application_id=application.id, kind=kind, actor_id=actor.id, data=data)


async def _claim(
    session: AsyncSession,
    application: VerificationApplication,
    allowed: Sequence[ApplicationStatus],
) -> None:
    """Hold the application for this action if its status is still one of ``allowed`` (read
    afresh), or refuse with 409: an institution's accept and refusal, or the owner's withdrawal,
    sent at once each read "submitted" and were all applied, an event each. The update holds
    the row (PostgreSQL: the other waits, then finds the new status) or the database (SQLite)
    until the action commits."""
    claimed = await session.execute(
        update(VerificationApplication)
        .where(
            col(VerificationApplication.id) == application.id,
            col(VerificationApplication.status).in_(list(allowed)),
        )
        .values(status=VerificationApplication.status)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(application)
    if getattr(claimed, "rowcount", 1) != 1:
        raise ApplicationStateConflict(
            detail_zh=f"申请当前为“{APPLICATION_STATUS_ZH[application.status.value]}”，不能这样处理。"
        )


async def submit_application(
    session: AsyncSession, data: ApplicationCreate, *, actor: User, settings: InstrumentsSettings
) -> VerificationApplication:
    owner = await acting_owner(session, actor)
    institution = await get_organization_by_code(session, data.institution_code)
    if institution.kind != OrganizationKind.institution:
        raise InvalidApplication(detail_zh=f"{institution.name} 不是检定机构。")
    today = clock.today()
    if data.preferred_on < today or data.preferred_on > today + timedelta(
        days=APPOINTMENT_DAYS_AHEAD
    ):
        raise InvalidApplication(detail_zh="期望检定日期应在今天到一年之内。")
    wanted = list(dict.fromkeys(data.registration_ids))
    if len(wanted) > settings.application_max_instruments:
        raise InvalidApplication(
            detail_zh=f"一次最多申请 {settings.application_max_instruments} 台。"
        )
    # The owner's instruments are held until this transaction commits (rows on PostgreSQL, the
    # database on SQLite) before anything is checked: two submissions naming one instrument at
    # once both found no open application for it, and both were stored.
    await session.execute(
        update(RegisteredInstrument)
        .where(
            col(RegisteredInstrument.id).in_(sorted(wanted)),
            col(RegisteredInstrument.owner_id) == owner.id,
        )
        .values(status=RegisteredInstrument.status)
        .execution_options(synchronize_session=False)
    )
    found = {
        r.id: r
        for r in (
            await session.scalars(
                select(RegisteredInstrument)
                .where(col(RegisteredInstrument.id).in_(wanted))
                .execution_options(populate_existing=True)
            )
        ).all()
    }
    problems = []
    for registration_id in wanted:
        r = found.get(registration_id)
        if r is None or r.owner_id != owner.id:
            problems.append(
                {
                    "field": str(registration_id),
                    "type": "registration_not_found",
                    "message": "not a registration of this owner",
                    "message_zh": "不是本单位登记的器具",
                }
            )
        elif r.status != RegistrationStatus.confirmed:
            problems.append(
                {
                    "field": str(registration_id),
                    "type": "registration_not_confirmed",
                    "message": "the bureau has not confirmed this registration",
                    "message_zh": f"出厂编号 {r.serial} 的登记尚未经市场监管部门确认",
                }
            )
    # Only the owner's own: another owner's instrument named here is "not found", and must not
    # be told apart as already applied for (which also quoted its serial).
    mine = [i for i in wanted if (r := found.get(i)) is not None and r.owner_id == owner.id]
    open_items = set(
        (
            await session.scalars(
                select(col(ApplicationItem.registration_id))
                .join(
                    VerificationApplication,
                    col(VerificationApplication.id) == col(ApplicationItem.application_id),
                )
                .where(
                    col(ApplicationItem.registration_id).in_(mine),
                    col(VerificationApplication.status).in_(OPEN),
                )
            )
        ).all()
    )
    for registration_id in open_items:
        problems.append(
            {
                "field": str(registration_id),
                "type": "already_applied",
                "message": "an open application already names this instrument",
                "message_zh": f"出厂编号 {found[registration_id].serial} 已在另一份未办结的申请中",
            }
        )
    if problems:
        raise InvalidApplication(
            f"{len(problems)} instrument(s) cannot be applied for.",
            detail_zh=f"有 {len(problems)} 台器具不能申请。",
            errors=problems,
        )
    application = VerificationApplication(
        owner_id=owner.id,
        institution_id=institution.id,
        region_code=owner.region_code,
        mode=ApplicationMode(data.mode),
        preferred_on=data.preferred_on,
        note=data.note.strip(),
        created_by=actor.id,
    )
    session.add(application)
    await session.flush()  # the items and the event refer to it
    for registration_id in wanted:
        session.add(ApplicationItem(application_id=application.id, registration_id=registration_id))
    session.add(_event(application, "submitted", actor, instruments=len(wanted)))
    await session.flush()
    await audit.record(
        session, actor=actor, action="application.submit", entity_type="verification_application",
        entity_id=application.id, region_code=application.region_code,
        after={"institution": institution.code, "instruments": len(wanted)},
    )  # fmt: skip
    return application


def _check_read(actor: User, application: VerificationApplication) -> None:
    if actor.role == Role.owner:
        authorize(actor, Action.instrument_register, organization_id=application.owner_id)
    else:
        authorize(actor, Action.application_handle, organization_id=application.institution_id)


async def get_application(
    session: AsyncSession, application_id: uuid.UUID, *, actor: User
) -> VerificationApplication:
    # A role that never reads applications is refused before anything is looked up.
    authorize(
        actor, Action.instrument_register if actor.role == Role.owner else Action.application_handle
    )
    application = await session.get(VerificationApplication, application_id)
    if application is None:
        raise ApplicationNotFound()
    try:
        _check_read(actor, application)
    except Forbidden:
        if actor.role in (Role.owner, Role.institution):
            raise ApplicationNotFound() from None
        raise
    return application


async def list_applications(
    session: AsyncSession,
    *,
    actor: User,
    page: PageRequest,
    status: ApplicationStatus | None = None,
) -> tuple[list[VerificationApplication], int]:
    stmt = select(VerificationApplication)
    if actor.role == Role.owner:
        authorize(actor, Action.instrument_register)
        stmt = stmt.where(col(VerificationApplication.owner_id) == actor.organization_id)
    else:
        authorize(actor, Action.application_handle)
        if actor.role != Role.admin:
            stmt = stmt.where(col(VerificationApplication.institution_id) == actor.organization_id)
    if status is not None:
        stmt = stmt.where(col(VerificationApplication.status) == status)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = await session.scalars(
        stmt.order_by(col(VerificationApplication.preferred_on), col(VerificationApplication.id))
        .limit(page.limit)
        .offset(page.offset)
    )
    return list(rows.all()), total


async def _handled(
    session: AsyncSession,
    application_id: uuid.UUID,
    actor: User,
    allowed: Sequence[ApplicationStatus],
) -> VerificationApplication:
    application = await session.get(VerificationApplication, application_id)
    if application is None:
        raise ApplicationNotFound()
    try:
        authorize(actor, Action.application_handle, organization_id=application.institution_id)
    except Forbidden:
        if actor.role == Role.institution:
            raise ApplicationNotFound() from None
        raise
    if application.status not in allowed:
        raise ApplicationStateConflict(
            detail_zh=f"申请当前为“{APPLICATION_STATUS_ZH[application.status.value]}”，不能这样处理。"
        )
    await _claim(session, application, allowed)
    return application


async def accept_application(
    session: AsyncSession, application_id: uuid.UUID, data: AppointmentRequest, *, actor: User,
    reschedule: bool = False,
) -> VerificationApplication:  # fmt: skip
    """Accept with an appointment, or move an accepted one's appointment (reschedule)."""
    allowed = (ApplicationStatus.accepted,) if reschedule else (ApplicationStatus.submitted,)
    application = await _handled(session, application_id, actor, allowed)
    today = clock.today()
    if data.appointment_on < today:
        raise InvalidApplication(detail_zh="预约日期不能早于今天。")
    if data.appointment_on > today + timedelta(days=APPOINTMENT_DAYS_AHEAD):
        # An appointment on 9999-12-31 was accepted (a typing slip or a way to park an
        # application): the owner was shown 已预约 with a date nobody would keep.
        raise InvalidApplication(detail_zh="预约日期应在今天起一年之内。")
    if application.mode == ApplicationMode.on_site and not data.address.strip():
        raise InvalidApplication(detail_zh="现场检定须填写检定地点。")
    before = application.appointment_on
    application.status = ApplicationStatus.accepted
    application.appointment_on = data.appointment_on
    application.appointment_address = data.address.strip()
    application.staff = data.staff.strip()
    session.add(
        _event(application, "rescheduled" if reschedule else "accepted", actor,
               appointment_on=data.appointment_on.isoformat(), address=application.appointment_address,
               staff=application.staff, before=before.isoformat() if before else None)
    )  # fmt: skip
    await session.flush()
    return application


async def refuse_application(
    session: AsyncSession, application_id: uuid.UUID, reason: str, *, actor: User
) -> VerificationApplication:
    application = await _handled(session, application_id, actor, OPEN)
    application.status = ApplicationStatus.refused
    application.refuse_reason = reason.strip()
    session.add(_event(application, "refused", actor, reason=application.refuse_reason))
    await session.flush()
    return application


async def cancel_application(
    session: AsyncSession, application_id: uuid.UUID, *, actor: User
) -> VerificationApplication:
    application = await get_application(session, application_id, actor=actor)
    owner = await acting_owner(session, actor)
    if application.owner_id != owner.id:
        raise ApplicationNotFound()
    if application.status not in OPEN:
        raise ApplicationStateConflict()
    await _claim(session, application, OPEN)
    application.status = ApplicationStatus.cancelled
    session.add(_event(application, "cancelled", actor))
    await session.flush()
    return application


async def _items(
    session: AsyncSession, application_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[RegisteredInstrument]]:
    rows = await session.execute(
        select(col(ApplicationItem.application_id), RegisteredInstrument)
        .join(
            RegisteredInstrument,
            col(RegisteredInstrument.id) == col(ApplicationItem.registration_id),
        )
        .where(col(ApplicationItem.application_id).in_(application_ids))
        .order_by(col(RegisteredInstrument.serial))
    )
    found: dict[uuid.UUID, list[RegisteredInstrument]] = {}
    for application_id, registration in rows.all():
        found.setdefault(application_id, []).append(registration)
    return found


async def complete_application(
    session: AsyncSession, application_id: uuid.UUID, *, actor: User
) -> VerificationApplication:
    """Completed once every instrument has a certificate or failure notice verified on or after
    the application day (issued through the registry by this or any institution). An instrument
    its owner has retired since (scrapped, replaced) needs none: it stays in the application as
    已注销, and waiting for its result kept the application open for ever. One whose instruments
    are all retired is not completed (nothing was verified): the institution refuses it, or the
    owner withdraws it."""
    application = await _handled(session, application_id, actor, (ApplicationStatus.accepted,))
    registrations = [
        r
        for r in (await _items(session, [application.id])).get(application.id, [])
        if r.status != RegistrationStatus.retired
    ]
    if not registrations:
        raise ApplicationStateConflict(
            detail_zh="申请中的器具都已由使用单位注销，没有可出具结果的器具：请拒绝该申请，或由使用单位撤回。"
        )
    owner = await session.get(Organization, application.owner_id)
    assert owner is not None
    await enter_when_due(session, registrations, owners={owner.id: owner}, today=clock.today())
    states = await facts.registry_states(
        session, [r.registry_instrument_id for r in registrations if r.registry_instrument_id],
        as_of=clock.today(),
    )  # fmt: skip
    since = clock.local_date(application.created_at)
    missing = [
        r.serial
        for r in registrations
        if r.registry_instrument_id is None
        or (state := states.get(r.registry_instrument_id)) is None
        or state.verified_on is None
        or state.verified_on < since
    ]
    if missing:
        raise ApplicationResultsMissing(
            detail_zh="以下器具还没有检定结果：" + "、".join(missing[:20]),
            errors=[{"field": serial, "type": "result_missing", "message": "no result yet",
                     "message_zh": "尚无检定结果"} for serial in missing[:200]],
        )  # fmt: skip
    application.status = ApplicationStatus.completed
    application.completed_at = clock.now()
    session.add(_event(application, "completed", actor, instruments=len(registrations)))
    await session.flush()
    await audit.record(
        session, actor=actor, action="application.complete", entity_type="verification_application",
        entity_id=application.id, region_code=application.region_code,
        after={"instruments": len(registrations)},
    )  # fmt: skip
    return application


async def application_reads(
    session: AsyncSession,
    applications: Sequence[VerificationApplication],
    *,
    settings: InstrumentsSettings,
    with_events: bool = False,
) -> list[ApplicationRead]:
    if not applications:
        return []
    org_ids = {a.owner_id for a in applications} | {a.institution_id for a in applications}
    orgs = {
        o.id: o
        for o in (
            await session.scalars(select(Organization).where(col(Organization.id).in_(org_ids)))
        ).all()
    }
    items = await _items(session, [a.id for a in applications])
    every = [r for rs in items.values() for r in rs]
    reads = {r.id: r for r in await read_models(session, every)}
    events: dict[uuid.UUID, list[RegistrationEventRead]] = {}
    if with_events:
        for e in (
            await session.scalars(
                select(ApplicationEvent)
                .where(col(ApplicationEvent.application_id).in_([a.id for a in applications]))
                .order_by(col(ApplicationEvent.at), col(ApplicationEvent.id))
            )
        ).all():
            events.setdefault(e.application_id, []).append(
                RegistrationEventRead(
                    kind=e.kind, at=e.at, reason=str(e.data.get("reason", "")), data=e.data
                )
            )
    limit = settings.application_result_days
    result = []
    for a in applications:
        days: int | None = None
        if a.completed_at is not None:
            days = (clock.local_date(a.completed_at) - clock.local_date(a.created_at)).days
        result.append(
            ApplicationRead(
                id=a.id,
                owner_code=orgs[a.owner_id].code,
                owner_name=orgs[a.owner_id].name,
                institution_code=orgs[a.institution_id].code,
                institution_name=orgs[a.institution_id].name,
                region_code=a.region_code,
                mode=a.mode.value,
                preferred_on=a.preferred_on,
                note=a.note,
                status=a.status.value,
                status_name=APPLICATION_STATUS_ZH[a.status.value],
                appointment_on=a.appointment_on,
                appointment_address=a.appointment_address,
                staff=a.staff,
                refuse_reason=a.refuse_reason,
                created_at=a.created_at,
                completed_at=a.completed_at,
                days_to_result=days,
                result_limit_days=limit,
                within_limit=None if days is None else days <= limit,
                items=[
                    ApplicationItemRead(
                        registration_id=r.id,
                        category_name=reads[r.id].category_name,
                        serial=r.serial,
                        location=r.location,
                        verification_status=reads[r.id].verification_status,
                        verification_status_name=reads[r.id].verification_status_name,
                        certificate_number=reads[r.id].certificate_number,
                        valid_until=reads[r.id].valid_until,
                    )
                    for r in items.get(a.id, [])
                ],
                events=events.get(a.id, []),
            )
        )
    return result
