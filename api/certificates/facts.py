"""Facts about enterprises' instruments for the credit evaluation (portal/facts.py).

Two set-based queries per chunk of enterprises, whatever their number of instruments: the
instruments with their current certificate, and the verification counts of the last 24 months.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates.lookup import find_instrument_ref
from api.certificates.queries import aware, certificates, compute_status, events, instruments
from api.certificates.settings import CertificatesSettings
from portal import clock
from portal.clock import SHANGHAI
from portal.facts import InstrumentFact
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
