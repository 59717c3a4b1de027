"""Facts about enterprises' instruments for the credit evaluation (portal/facts.py), and what the
owners' registrations (api/instruments) need from the registry and the catalogue.

Two set-based queries per chunk of enterprises, whatever their number of instruments: the
instruments with their current certificate, and the verification counts of the last 24 months.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Select, case, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates.catalogue import AttributeProblem, catalogue
from api.certificates.lookup import find_instrument_ref
from api.certificates.queries import aware, certificates, compute_status, events, instruments
from api.certificates.settings import CertificatesSettings
from api.certificates.store import new_sticker_token
from portal import clock
from portal.clock import SHANGHAI
from portal.facts import (
    CategoryChoice,
    CurrentCertificates,
    CycleFact,
    CycleProblem,
    InstrumentFact,
    RegistryEntry,
    RegistryState,
)
from portal.settings import get_settings

_CHUNK = 500


# What a citizen scanned or typed, for the complaint intake (portal/facts.py).
scanned_instrument = find_instrument_ref


async def instrument_facts(
    session: AsyncSession, *, as_of: date, usccs: Sequence[str] | None = None
) -> list[InstrumentFact]:
    if usccs is None:
        return await _facts(session, as_of=as_of, usccs=None)
    wanted = sorted({u.strip().upper() for u in usccs if u})
    found: list[InstrumentFact] = []
    for start in range(0, len(wanted), _CHUNK):
        found.extend(await _facts(session, as_of=as_of, usccs=wanted[start : start + _CHUNK]))
    return found


async def _facts(
    session: AsyncSession, *, as_of: date, usccs: Sequence[str] | None
) -> list[InstrumentFact]:
    expiring_days = get_settings().of(CertificatesSettings).certificate_expiring_days
    owner = (
        instruments.c.owner_uscc.is_not(None)
        if usccs is None
        else instruments.c.owner_uscc.in_(usccs)
    )
    revoked = (
        select(events.c.at)
        .where(events.c.certificate_id == certificates.c.id, events.c.kind == "revoked")
        .limit(1)
        .scalar_subquery()
        .label("revoked_at")
    )
    rows = (
        await session.execute(
            select(
                instruments.c.id,
                instruments.c.owner_uscc,
                instruments.c.region_code,
                instruments.c.category_code,
                instruments.c.created_at,
                certificates.c.number,
                certificates.c.kind,
                certificates.c.verified_on,
                certificates.c.valid_until,
                revoked,
            )
            .select_from(
                instruments.outerjoin(
                    certificates, certificates.c.id == instruments.c.current_certificate_id
                )
            )
            .where(owner)
        )
    ).all()
    since = clock.add_months(as_of, -24)
    counts: dict[uuid.UUID, tuple[int, int]] = {
        r.instrument_id: (int(r.total), int(r.failures))
        for r in (
            await session.execute(
                select(
                    certificates.c.instrument_id,
                    func.count().label("total"),
                    func.sum(case((certificates.c.kind == "notice", 1), else_=0)).label("failures"),
                )
                .select_from(
                    certificates.join(instruments, instruments.c.id == certificates.c.instrument_id)
                )
                .where(
                    owner, certificates.c.verified_on > since, certificates.c.verified_on <= as_of
                )
                .group_by(certificates.c.instrument_id)
            )
        ).all()
    }
    facts = []
    for row in rows:
        revoked_on = aware(row.revoked_at).astimezone(SHANGHAI).date() if row.revoked_at else None
        if row.number is None:
            status = "none"
            registered = aware(row.created_at).astimezone(SHANGHAI).date()
            overdue = max((as_of - registered).days, 0)
        else:
            computed, _ = compute_status(
                kind=row.kind,
                valid_until=row.valid_until,
                revoked=revoked_on is not None and revoked_on <= as_of,
                superseded=False,
                today=as_of,
                expiring_days=expiring_days,
            )
            status = computed.value
            if status == "revoked" and revoked_on is not None:
                overdue = max((as_of - revoked_on).days, 0)
            elif status == "failed":
                overdue = max((as_of - row.verified_on).days, 0)
            elif row.valid_until is not None:
                overdue = max((as_of - row.valid_until).days, 0)
            else:
                overdue = 0
        total, failures = counts.get(row.id, (0, 0))
        facts.append(
            InstrumentFact(
                instrument_id=row.id,
                owner_uscc=row.owner_uscc,
                region_code=row.region_code,
                category_code=row.category_code,
                status=status,  # type: ignore[arg-type]
                certificate_number=row.number,
                valid_until=row.valid_until,
                overdue_days=overdue,
                failures_24m=failures,
                verifications_24m=total,
            )
        )
    return facts


# --- for the owners' registrations (api/instruments) ----------------------------------------


def instrument_cycle(
    *, category_code: str, on: date, attributes: dict[str, object] | None
) -> CycleFact:
    entry = catalogue().find(category_code)
    if entry is None:
        raise CycleProblem(
            "category_code",
            "unknown_category",
            f"unknown instrument category {category_code!r}; see /api/v1/instrument-categories",
            f"器具类别 {category_code} 不在强制管理目录中",
        )
    try:
        checked = entry.checked_attributes(attributes)
        rule = entry.cycle(on, checked)
    except AttributeProblem as problem:
        raise CycleProblem(problem.name, problem.code, str(problem), problem.message_zh) from None
    return CycleFact(
        category_code=entry.code,
        category_name=entry.name,
        verification_form=rule.form,
        months=rule.months,
        regulation=entry.regulation_on(on).code,
        usage_areas=entry.usage,
        attributes=checked,
    )


_REVOKED = (
    select(events.c.at)
    .where(events.c.certificate_id == certificates.c.id, events.c.kind == "revoked")
    .limit(1)
    .scalar_subquery()
    .label("revoked_at")
)
_STATE_COLUMNS = (
    instruments.c.id,
    instruments.c.sticker_token,
    instruments.c.owner_uscc,
    instruments.c.category_code,
    instruments.c.serial,
    instruments.c.manufacturer,
    certificates.c.number,
    certificates.c.kind,
    certificates.c.verified_on,
    certificates.c.valid_until,
    _REVOKED,
)
_STATE_FROM = instruments.outerjoin(
    certificates, certificates.c.id == instruments.c.current_certificate_id
)


def _state(row: Any, as_of: date, expiring_days: int) -> RegistryState:
    status = "none"
    if row.number is not None:
        computed, _ = compute_status(
            kind=row.kind,
            valid_until=row.valid_until,
            revoked=row.revoked_at is not None,
            superseded=False,
            today=as_of,
            expiring_days=expiring_days,
        )
        status = computed.value
    return RegistryState(
        instrument_id=row.id,
        sticker_token=row.sticker_token,
        owner_uscc=row.owner_uscc,
        status=status,  # type: ignore[arg-type]
        certificate_number=row.number,
        verified_on=row.verified_on,
        valid_until=row.valid_until,
    )


async def find_in_registry(
    session: AsyncSession, keys: Sequence[tuple[str, str, str]]
) -> dict[tuple[str, str, str], RegistryState]:
    found: dict[tuple[str, str, str], RegistryState] = {}
    expiring_days = get_settings().of(CertificatesSettings).certificate_expiring_days
    today = clock.today()
    wanted = list(dict.fromkeys(keys))
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        rows = await session.execute(
            select(*_STATE_COLUMNS)
            .select_from(_STATE_FROM)
            .where(instruments.c.serial.in_({k[1] for k in chunk}))
            # A key the bureau split (variant > 0): the original instrument answers.
            .order_by(instruments.c.variant.desc())
        )
        keyset = set(chunk)
        for row in rows.all():
            key = (row.category_code, row.serial, row.manufacturer)
            if key in keyset:
                found[key] = _state(row, today, expiring_days)
    return found


async def enter_in_registry(session: AsyncSession, entry: RegistryEntry) -> RegistryState:
    key = (entry.category_code, entry.serial, entry.manufacturer)
    existing = (await find_in_registry(session, [key])).get(key)
    if existing is not None:
        return existing
    instrument_id = uuid.uuid4()
    token = new_sticker_token()
    await session.execute(
        insert(instruments).values(
            id=instrument_id,
            sticker_token=token,
            category_code=entry.category_code,
            model=entry.model,
            serial=entry.serial,
            manufacturer=entry.manufacturer,
            owner_name=entry.owner_name,
            owner_type="enterprise",
            owner_uscc=entry.owner_uscc,
            address=entry.address,
            region_code=entry.region_code,
            created_at=entry.since,
        )
    )
    return RegistryState(
        instrument_id=instrument_id,
        sticker_token=token,
        owner_uscc=entry.owner_uscc,
        status="none",
        certificate_number=None,
        verified_on=None,
        valid_until=None,
    )


async def registry_states(
    session: AsyncSession, ids: Sequence[uuid.UUID], *, as_of: date
) -> dict[uuid.UUID, RegistryState]:
    expiring_days = get_settings().of(CertificatesSettings).certificate_expiring_days
    found: dict[uuid.UUID, RegistryState] = {}
    wanted = list(dict.fromkeys(ids))
    for start in range(0, len(wanted), _CHUNK):
        rows = await session.execute(
            select(*_STATE_COLUMNS)
            .select_from(_STATE_FROM)
            .where(instruments.c.id.in_(wanted[start : start + _CHUNK]))
        )
        for row in rows.all():
            found[row.id] = _state(row, as_of, expiring_days)
    return found


def instrument_categories() -> list[CategoryChoice]:
    return [
        CategoryChoice(
            code=e.code,
            name=e.name,
            group_name=e.group,
            usage_areas=e.usage,
            attributes=tuple((a.name, a.label, a.choices) for a in e.attributes),
        )
        for e in catalogue().entries
        if e.verification_form != "none"
    ]


def current_certificates() -> CurrentCertificates:
    """Each registry instrument with its current certificate, as columns (portal/facts.py): the
    status rule of ``compute_status`` in SQL form, for statistics that count by status. A
    certificate has at most one revocation, so the outer join adds no rows."""
    revoked = (
        select(events.c.certificate_id).where(events.c.kind == "revoked").subquery("revocation")
    )
    return CurrentCertificates(
        query=select(
            instruments.c.id.label("instrument_id"),
            certificates.c.kind,
            certificates.c.verified_on,
            certificates.c.valid_until,
            revoked.c.certificate_id.label("revoked_id"),
        ).select_from(
            instruments.outerjoin(
                certificates, certificates.c.id == instruments.c.current_certificate_id
            ).outerjoin(revoked, revoked.c.certificate_id == certificates.c.id)
        ),
        expiring_days=get_settings().of(CertificatesSettings).certificate_expiring_days,
    )


def registry_verifications() -> Select[Any]:
    return select(
        certificates.c.id.label("certificate_id"),
        certificates.c.instrument_id,
        certificates.c.kind,
        certificates.c.verified_on,
    )
