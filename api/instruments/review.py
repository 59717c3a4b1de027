"""Reading registrations (the owner its own, the bureau its region and below), the bureau's
confirmation or rejection, and the owner's changes (moved, retired, replaced), each an event."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.instruments.errors import (
    InvalidRegistration,
    RegistrationNotFound,
    RegistrationNotPending,
    RegistrationRetired,
)
from api.instruments.models import (
    RegisteredInstrument,
    RegistrationEvent,
    RegistrationEventKind,
    RegistrationStatus,
)
from api.instruments.registration import (
    acting_owner,
    add_registration,
    check_instrument,
    enter_when_due,
    existing_keys,
)
from api.instruments.schemas import (
    REGISTRATION_STATUS_ZH,
    VERIFICATION_STATUS_ZH,
    InstrumentRegistrationRead,
    RegistrationChange,
    RegistrationEventRead,
)
from portal import clock, facts
from portal.accounts.models import Organization, Role, User
from portal.accounts.permissions import Action, authorize
from portal.audit import service as audit
from portal.errors import Forbidden, InvalidInput
from portal.pagination import PageRequest
from portal.regions.service import code_bounds, get_region

FIRST_ONLY_FORMS = ("initial_rotation", "initial_scrap")
# What an owner may still move, retire or replace (not retired, not rejected).
CHANGEABLE = (RegistrationStatus.pending, RegistrationStatus.confirmed)


def verification_status(
    registration: RegisteredInstrument, state: facts.RegistryState | None, today: date
) -> str:
    """The instrument's state: the registry's certificate status once it is there, with a
    first-only instrument past its life 到期更换 rather than 已过期; before that 未到检定期."""
    if registration.status == RegistrationStatus.retired:
        return "retired"
    if registration.status == RegistrationStatus.rejected:
        return "rejected"
    if state is None or state.status == "none":
        # No certificate in the registry: the owner's declaration decides.
        due = registration.due_on
        if due is None or due > today:
            return "not_due" if registration.last_verified_on is None else "valid"
        if registration.last_verified_on is None:
            return "none"
        return "replace" if registration.verification_form in FIRST_ONLY_FORMS else "expired"
    if state.status == "expired" and registration.verification_form in FIRST_ONLY_FORMS:
        return "replace"
    if state.status == "superseded":
        return "valid"
    return state.status


async def read_models(
    session: AsyncSession,
    registrations: Sequence[RegisteredInstrument],
    *,
    with_events: bool = False,
) -> list[InstrumentRegistrationRead]:
    today = clock.today()
    owner_ids = {r.owner_id for r in registrations}
    owners = {
        o.id: o
        for o in (
            await session.scalars(
                select(Organization).where(Organization.id.in_(owner_ids))  # type: ignore[attr-defined]
            )
        ).all()
    }
    states = await facts.registry_states(
        session,
        [r.registry_instrument_id for r in registrations if r.registry_instrument_id],
        as_of=today,
    )
    events: dict[uuid.UUID, list[RegistrationEventRead]] = {}
    if with_events:
        for e in (
            await session.scalars(
                select(RegistrationEvent)
                .where(RegistrationEvent.registration_id.in_([r.id for r in registrations]))  # type: ignore[attr-defined]
                .order_by(RegistrationEvent.at, RegistrationEvent.id)  # type: ignore[arg-type]
            )
        ).all():
            events.setdefault(e.registration_id, []).append(
                RegistrationEventRead(kind=e.kind.value, at=e.at, reason=e.reason, data=e.data)
            )
    result = []
    for r in registrations:
        owner = owners[r.owner_id]
        state = states.get(r.registry_instrument_id) if r.registry_instrument_id else None
        status = verification_status(r, state, today)
        try:
            name = facts.instrument_cycle(
                category_code=r.category_code, on=today, attributes=r.attributes
            ).category_name
        except facts.CycleProblem:
            name = r.category_code
        result.append(
            InstrumentRegistrationRead(
                id=r.id,
                owner_code=owner.code,
                owner_name=owner.name,
                owner_uscc=owner.uscc,
                category_code=r.category_code,
                category_name=name,
                model=r.model,
                serial=r.serial,
                manufacturer=r.manufacturer,
                location=r.location,
                usage_area=r.usage_area,
                attributes=r.attributes,
                region_code=r.region_code,
                address=r.address,
                in_use_since=r.in_use_since,
                last_verified_on=r.last_verified_on,
                verification_form=r.verification_form,
                cycle_months=r.cycle_months,
                due_on=r.due_on,
                status=r.status.value,
                status_name=REGISTRATION_STATUS_ZH[r.status.value],
                review_reason=r.review_reason,
                reviewed_at=r.reviewed_at,
                replaces_id=r.replaces_id,
                verification_status=status,
                verification_status_name=VERIFICATION_STATUS_ZH[status],
                sticker_token=state.sticker_token if state else None,
                certificate_number=state.certificate_number if state else None,
                valid_until=state.valid_until if state else None,
                events=events.get(r.id, []),
            )
        )
    return result


def _check_read(actor: User, registration: RegisteredInstrument) -> None:
    """The owner's staff read their own; the bureau its region and below."""
    if actor.role == Role.owner:
        authorize(actor, Action.instrument_register, organization_id=registration.owner_id)
    else:
        authorize(actor, Action.instrument_review, region_code=registration.region_code)


async def get_registration(
    session: AsyncSession, registration_id: uuid.UUID, *, actor: User
) -> RegisteredInstrument:
    # A role that never reads registrations is refused before anything is looked up.
    authorize(
        actor, Action.instrument_register if actor.role == Role.owner else Action.instrument_review
    )
    registration = await session.get(RegisteredInstrument, registration_id)
    if registration is None:
        raise RegistrationNotFound()
    try:
        _check_read(actor, registration)
    except Forbidden:
        if actor.role in (Role.owner, Role.regulator):
            raise RegistrationNotFound() from None  # another owner's or region's: not revealed
        raise
    return registration


async def claim(
    session: AsyncSession,
    registration: RegisteredInstrument,
    allowed: Sequence[RegistrationStatus],
) -> bool:
    """Hold the registration for this change if its status is still one of ``allowed``, and
    read it afresh (what another move left, for instance); False if another change took it
    out of them since it was read.

    Two officers confirming and rejecting at once, or the owner's retire and replace sent
    together, each read the status they expected and all were applied: confirmed, then
    rejected, an event each. This update holds the row (PostgreSQL: the other waits, then
    finds the new status) or the database (SQLite) until the action commits."""
    claimed = await session.execute(
        update(RegisteredInstrument)
        .where(
            col(RegisteredInstrument.id) == registration.id,
            col(RegisteredInstrument.status).in_(list(allowed)),
        )
        .values(status=RegisteredInstrument.status)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(registration)
    return getattr(claimed, "rowcount", 1) == 1


async def list_registrations(
    session: AsyncSession,
    *,
    actor: User,
    page: PageRequest,
    status: RegistrationStatus | None = None,
    region: str | None = None,
) -> tuple[list[RegisteredInstrument], int]:
    stmt = select(RegisteredInstrument)
    if actor.role == Role.owner:
        authorize(actor, Action.instrument_register)
        stmt = stmt.where(RegisteredInstrument.owner_id == actor.organization_id)  # type: ignore[arg-type]
    else:
        code = region or actor.region_code or ""
        await get_region(session, code)
        authorize(actor, Action.instrument_review, region_code=code)
        low, high = code_bounds(code)
        stmt = stmt.where(
            col(RegisteredInstrument.region_code) >= low,
            col(RegisteredInstrument.region_code) < high,
        )
    if status is not None:
        stmt = stmt.where(RegisteredInstrument.status == status)  # type: ignore[arg-type]
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = await session.scalars(
        stmt.order_by(col(RegisteredInstrument.created_at).desc(), col(RegisteredInstrument.id))
        .limit(page.limit)
        .offset(page.offset)
    )
    return list(rows.all()), total


async def review_registration(
    session: AsyncSession,
    registration_id: uuid.UUID,
    *,
    actor: User,
    confirm: bool,
    reason: str = "",
) -> RegisteredInstrument:
    """The bureau confirms a registration, or rejects it with its reasons (the owner corrects
    and registers again)."""
    registration = await session.get(RegisteredInstrument, registration_id)
    if registration is None:
        raise RegistrationNotFound()
    try:
        authorize(actor, Action.instrument_review, region_code=registration.region_code)
    except Forbidden:
        if actor.role == Role.regulator:
            raise RegistrationNotFound() from None
        raise
    if registration.status != RegistrationStatus.pending:
        raise RegistrationNotPending()
    if not await claim(session, registration, (RegistrationStatus.pending,)):
        raise RegistrationNotPending()
    before = registration.status.value
    registration.status = RegistrationStatus.confirmed if confirm else RegistrationStatus.rejected
    registration.review_reason = reason
    registration.reviewed_by = actor.id
    registration.reviewed_at = clock.now()
    session.add(
        RegistrationEvent(
            registration_id=registration.id,
            kind=RegistrationEventKind.confirmed if confirm else RegistrationEventKind.rejected,
            actor_id=actor.id,
            reason=reason,
        )
    )
    await session.flush()
    if confirm:
        owner = await session.get(Organization, registration.owner_id)
        assert owner is not None
        await enter_when_due(session, [registration], owners={owner.id: owner}, today=clock.today())
    await audit.record(
        session,
        actor=actor,
        action="instrument.confirm" if confirm else "instrument.reject",
        entity_type="registered_instrument",
        entity_id=registration.id,
        region_code=registration.region_code,
        before={"status": before},
        after={"status": registration.status.value, "reason": reason},
    )
    return registration


async def change_registration(
    session: AsyncSession,
    registration_id: uuid.UUID,
    change: RegistrationChange,
    *,
    actor: User,
) -> RegisteredInstrument:
    """The owner's change: moved within its site, retired (scrapped or out of compulsory use), or
    replaced by another instrument, which is registered in the same step."""
    registration = await get_registration(session, registration_id, actor=actor)
    owner = await acting_owner(
        session,
        actor,
        None if actor.role != Role.admin else await _owner_code(session, registration),
    )
    if registration.owner_id != owner.id:
        raise RegistrationNotFound()
    if registration.status not in CHANGEABLE:
        raise RegistrationRetired()
    if not await claim(session, registration, CHANGEABLE):
        raise RegistrationRetired()
    data: dict[str, object] = {}
    if change.kind == "moved":
        if not change.location or not change.location.strip():
            raise InvalidInput(
                "A move names the new location.", detail_zh="变更位置须填写新的安装位置。"
            )
        data = {"from": registration.location, "to": change.location.strip()}
        registration.location = change.location.strip()
        kind = RegistrationEventKind.moved
    elif change.kind == "retired":
        registration.status = RegistrationStatus.retired
        kind = RegistrationEventKind.retired
    else:
        if change.replacement is None:
            raise InvalidInput(
                "A replacement names the new instrument.", detail_zh="更换须填写新器具的信息。"
            )
        checked = check_instrument(change.replacement, today=clock.today())
        if isinstance(checked, list):
            raise InvalidRegistration(
                f"{len(checked)} field(s) of the replacement are not valid.",
                detail_zh=f"新器具有 {len(checked)} 项内容不符合要求。",
                errors=[p.as_dict() for p in checked],
            )
        if (checked.category_code, checked.serial, checked.manufacturer) in await existing_keys(
            session, owner.id, {checked.serial}
        ):
            raise InvalidInput(
                "The replacement is already registered.", detail_zh="新器具已登记过。"
            )
        successor = await add_registration(
            session, checked, owner=owner, actor=actor, replaces=registration.id
        )
        await enter_when_due(session, [successor], owners={owner.id: owner}, today=clock.today())
        registration.status = RegistrationStatus.retired
        data = {"replacement_id": str(successor.id), "serial": successor.serial}
        kind = RegistrationEventKind.replaced
    session.add(
        RegistrationEvent(
            registration_id=registration.id,
            kind=kind,
            actor_id=actor.id,
            reason=change.reason,
            data=data,
        )
    )
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action=f"instrument.{kind.value}",
        entity_type="registered_instrument",
        entity_id=registration.id,
        region_code=registration.region_code,
        after={**data, "reason": change.reason},
    )
    return registration


async def _owner_code(session: AsyncSession, registration: RegisteredInstrument) -> str:
    owner = await session.get(Organization, registration.owner_id)
    return owner.code if owner else ""


async def enter_due_registrations(session: AsyncSession, *, today: date, batch: int = 500) -> int:
    """The periodic step: registrations not yet linked are linked to the registry's instrument
    once an institution certified it, and confirmed ones that fell due enter the registry."""
    entered = 0
    last: uuid.UUID | None = None
    while True:
        stmt = (
            select(RegisteredInstrument)
            .where(
                RegisteredInstrument.registry_instrument_id.is_(None),  # type: ignore[union-attr]
                RegisteredInstrument.status.in_(  # type: ignore[attr-defined]
                    [RegistrationStatus.pending, RegistrationStatus.confirmed]
                ),
            )
            .order_by(RegisteredInstrument.id)  # type: ignore[arg-type]
            .limit(batch)
        )
        if last is not None:
            stmt = stmt.where(col(RegisteredInstrument.id) > last)
        chunk = list((await session.scalars(stmt)).all())
        if not chunk:
            return entered
        owners = {
            o.id: o
            for o in (
                await session.scalars(
                    select(Organization).where(
                        Organization.id.in_({r.owner_id for r in chunk})  # type: ignore[attr-defined]
                    )
                )
            ).all()
        }
        entered += await enter_when_due(session, chunk, owners=owners, today=today)
        last = chunk[-1].id
        if len(chunk) < batch:
            return entered
