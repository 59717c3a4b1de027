"""What the registration domain tells others (portal/facts.py): which owners registered an
instrument, so that the certificate registry can tell an ambiguous certificate from a plain one;
which registry instruments are out of use because their owners retired them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from api.instruments.current import refresh_current
from api.instruments.models import (
    RegisteredInstrument,
    RegistrationEvent,
    RegistrationEventKind,
    RegistrationStatus,
)
from api.instruments.statistics import status_expression
from portal import facts
from portal.accounts.models import Organization
from portal.db import one_of
from portal.facts import RegisteredClaim, SiteInstrument, SiteInstrumentFact, UnconfirmedDue
from portal.regions.service import code_bounds

_CHUNK = 500
_ACTIVE = (RegistrationStatus.pending, RegistrationStatus.confirmed)


def withdrawn_from_use() -> Select[Any]:
    """Registry instruments linked to a retired registration the bureau had confirmed and to no
    pending or confirmed one (an instrument sold on and registered by its new owner is still in
    use). A rejected
    registration says nothing about use and is not counted either way. Starts from the retired
    registrations (few) and looks each one's instrument up by the index on the link."""
    retired = aliased(RegisteredInstrument)
    active = aliased(RegisteredInstrument)
    linked = col(retired.registry_instrument_id)
    still_used = (
        select(col(active.id))
        .where(
            col(active.registry_instrument_id) == linked,
            col(active.status).in_(_ACTIVE),
        )
        .exists()
    )
    return select(linked).where(
        col(retired.status) == RegistrationStatus.retired,
        # Confirmed by the bureau before it was retired: a registration is linked to the
        # registry's instrument as soon as its key matches, whoever registers it, so an
        # unconfirmed one retired at once would let anyone take another owner's overdue
        # instrument off the bureau's list. (A rejected registration cannot be retired, so a
        # reviewed retired one was confirmed.)
        col(retired.reviewed_at).is_not(None),
        linked.is_not(None),
        ~still_used,
    )


async def unconfirmed_due(
    session: AsyncSession, *, region: str, today: date, limit: int, offset: int
) -> tuple[int, list[UnconfirmedDue]]:
    """Registrations awaiting the bureau's confirmation that are due (the statistics count them
    未检定 or 已过期 from that day) and not linked to the registry's instrument (a linked one is
    in the registry's overdue list already): the overdue list shows them, marked 待确认."""
    r = RegisteredInstrument
    low, high = code_bounds(region)
    where = (
        col(r.status) == RegistrationStatus.pending,
        col(r.registry_instrument_id).is_(None),
        col(r.due_on).is_not(None),
        col(r.due_on) <= today,
        col(r.region_code) >= low,
        col(r.region_code) < high,
    )
    total = await session.scalar(select(func.count()).select_from(r).where(*where)) or 0
    if not total or limit <= 0:
        return int(total), []
    rows = await session.execute(
        select(r, col(Organization.name), col(Organization.uscc))
        .join(Organization, col(Organization.id) == col(r.owner_id))
        .where(*where)
        .order_by(col(r.due_on), col(r.id))
        .limit(limit)
        .offset(offset)
    )
    items = []
    for registration, name, uscc in rows.all():
        assert registration.due_on is not None
        # The registry's words: a first-only meter past its life is 已过期 there too.
        status = "none" if registration.last_verified_on is None else "expired"
        items.append(
            UnconfirmedDue(
                registration_id=registration.id,
                category_code=registration.category_code,
                model=registration.model,
                serial=registration.serial,
                owner_name=name,
                owner_uscc=uscc,
                address=" ".join(p for p in (registration.address, registration.location) if p),
                region_code=registration.region_code,
                due_on=registration.due_on,
                status=status,
            )
        )
    return int(total), items


async def unconfirmed_instruments(
    session: AsyncSession, instrument_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    r = RegisteredInstrument
    found: dict[uuid.UUID, set[RegistrationStatus]] = {}
    ids = list(instrument_ids)
    for start in range(0, len(ids), _CHUNK):
        rows = await session.execute(
            select(col(r.registry_instrument_id), col(r.status)).where(
                col(r.registry_instrument_id).in_(ids[start : start + _CHUNK]),
                col(r.status).in_(_ACTIVE),
            )
        )
        for instrument_id, status in rows.all():
            found.setdefault(instrument_id, set()).add(status)
    return {i for i, states in found.items() if RegistrationStatus.confirmed not in states}


async def registered_claims(
    session: AsyncSession, keys: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], list[RegisteredClaim]]:
    found: dict[tuple[str, str, str], list[RegisteredClaim]] = {}
    wanted = set(keys)
    serials = sorted({k[1] for k in wanted})
    for start in range(0, len(serials), _CHUNK):
        rows = await session.execute(
            select(
                col(RegisteredInstrument.id),
                col(RegisteredInstrument.category_code),
                col(RegisteredInstrument.serial),
                col(RegisteredInstrument.manufacturer),
                col(RegisteredInstrument.region_code),
                col(RegisteredInstrument.registry_instrument_id),
                col(Organization.name),
                col(Organization.uscc),
            )
            .join(Organization, col(Organization.id) == col(RegisteredInstrument.owner_id))
            .where(
                one_of(col(RegisteredInstrument.serial), serials[start : start + _CHUNK], session),
                col(RegisteredInstrument.status).in_(
                    [RegistrationStatus.pending, RegistrationStatus.confirmed]
                ),
            )
            .order_by(col(RegisteredInstrument.created_at), col(RegisteredInstrument.id))
        )
        for r in rows.all():
            key = (r.category_code, r.serial, r.manufacturer)
            if key in wanted:
                found.setdefault(key, []).append(
                    RegisteredClaim(
                        registration_id=r.id,
                        owner_name=r.name,
                        owner_uscc=r.uscc,
                        region_code=r.region_code,
                        registry_instrument_id=r.registry_instrument_id,
                    )
                )
    return found


async def link_registration(
    session: AsyncSession,
    registration_id: uuid.UUID,
    instrument_id: uuid.UUID,
    *,
    actor_id: uuid.UUID | None,
    data: dict[str, Any],
) -> None:
    registration = await session.get(RegisteredInstrument, registration_id)
    if registration is None:
        return
    # A registration linked elsewhere before leaves that instrument's copy too.
    before = registration.registry_instrument_id
    registration.registry_instrument_id = instrument_id
    session.add(
        RegistrationEvent(
            registration_id=registration.id,
            kind=RegistrationEventKind.entered,
            actor_id=actor_id,
            data=data,
        )
    )
    await refresh_current(session, [instrument_id] if before is None else [instrument_id, before])
    await session.flush()


async def registry_changed(session: AsyncSession, instrument_ids: Sequence[uuid.UUID]) -> None:
    """The registry changed these instruments' current certificates: refresh the copy on the
    registrations linked to them (current.py)."""
    await refresh_current(session, instrument_ids)


# The detailed states of statistics.status_expression, as risk-based enforcement counts them.
_SITE_STATE = {
    "expired": "overdue",
    "replace": "overdue",
    "none": "never_verified",
    "failed": "failed",
    "revoked": "failed",
}


async def site_instrument_facts(
    session: AsyncSession, *, as_of: date, region: str | None = None
) -> list[SiteInstrumentFact]:
    """One GROUP BY over the active registrations (the same status rule as the regional
    statistics, from each registration's copy of its current certificate), by owner, category,
    usage area and state."""
    r = RegisteredInstrument
    expiring_days = facts.current_certificates().expiring_days
    state = status_expression(today=as_of, expiring_days=expiring_days).label("state")
    keys = (
        col(Organization.id),
        col(Organization.name),
        col(Organization.uscc),
        col(Organization.region_code),
        col(r.category_code),
        col(r.usage_area),
        state,
    )
    stmt = (
        select(*keys, func.count())
        .select_from(
            RegisteredInstrument.__table__.join(  # type: ignore[attr-defined]
                Organization.__table__,  # type: ignore[attr-defined]
                col(Organization.id) == col(r.owner_id),
            )
        )
        .where(col(r.status).in_(_ACTIVE))
        .group_by(*keys)
    )
    if region is not None:
        low, high = code_bounds(region)
        stmt = stmt.where(
            col(Organization.region_code) >= low, col(Organization.region_code) < high
        )
    rows = await session.execute(stmt)
    return [
        SiteInstrumentFact(
            owner_id=row[0],
            owner_name=row[1],
            owner_uscc=row[2],
            region_code=row[3],
            category_code=row[4],
            usage_area=row[5],
            state=_SITE_STATE.get(row[6], "ok"),  # type: ignore[arg-type]
            count=int(row[7]),
        )
        for row in rows.all()
    ]


async def site_instruments(
    session: AsyncSession, *, owner_id: uuid.UUID, as_of: date
) -> list[SiteInstrument]:
    """The owner's active registrations with their state on ``as_of`` (the statistics' rule),
    for an inspector's check form; an owner site has tens of instruments, not thousands."""
    r = RegisteredInstrument
    expiring_days = facts.current_certificates().expiring_days
    state = status_expression(today=as_of, expiring_days=expiring_days)
    rows = await session.execute(
        select(
            col(r.id),
            col(r.registry_instrument_id),
            col(r.category_code),
            col(r.serial),
            col(r.location),
            col(r.usage_area),
            state,
        )
        .where(col(r.owner_id) == owner_id, col(r.status).in_(_ACTIVE))
        .order_by(col(r.category_code), col(r.serial), col(r.id))
        .limit(500)
    )
    return [
        SiteInstrument(
            registration_id=row[0],
            registry_instrument_id=row[1],
            category_code=row[2],
            serial=row[3],
            location=row[4],
            usage_area=row[5],
            state=str(row[6]),
        )
        for row in rows.all()
    ]
