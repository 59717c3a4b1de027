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

from api.certificates.service import SHANGHAI, C, E, I, _aware, compute_status
from portal import clock
from portal.facts import InstrumentFact
from portal.settings import get_settings

_CHUNK = 500


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
    expiring_days = get_settings().certificate_expiring_days
    owner = I.c.owner_uscc.is_not(None) if usccs is None else I.c.owner_uscc.in_(usccs)
    revoked = (
        select(E.c.at)
        .where(E.c.certificate_id == C.c.id, E.c.kind == "revoked")
        .limit(1)
        .scalar_subquery()
        .label("revoked_at")
    )
    rows = (
        await session.execute(
            select(
                I.c.id,
                I.c.owner_uscc,
                I.c.region_code,
                I.c.category_code,
                I.c.created_at,
                C.c.number,
                C.c.kind,
                C.c.verified_on,
                C.c.valid_until,
                revoked,
            )
            .select_from(I.outerjoin(C, C.c.id == I.c.current_certificate_id))
            .where(owner)
        )
    ).all()
    since = clock.add_months(as_of, -24)
    counts: dict[uuid.UUID, tuple[int, int]] = {
        r.instrument_id: (int(r.total), int(r.failures))
        for r in (
            await session.execute(
                select(
                    C.c.instrument_id,
                    func.count().label("total"),
                    func.sum(case((C.c.kind == "notice", 1), else_=0)).label("failures"),
                )
                .select_from(C.join(I, I.c.id == C.c.instrument_id))
                .where(owner, C.c.verified_on > since, C.c.verified_on <= as_of)
                .group_by(C.c.instrument_id)
            )
        ).all()
    }
    facts = []
    for row in rows:
        revoked_on = _aware(row.revoked_at).astimezone(SHANGHAI).date() if row.revoked_at else None
        if row.number is None:
            status = "none"
            registered = _aware(row.created_at).astimezone(SHANGHAI).date()
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
