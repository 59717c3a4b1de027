"""Enterprise facts for credit evaluation (portal/facts.py): cases concluded as substantiated."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from api.complaints.models import Case, CaseStatus, Finding
from portal.facts import ComplaintFact


async def complaint_facts(
    session: AsyncSession, *, since: datetime, usccs: Sequence[str] | None = None
) -> list[ComplaintFact]:
    """Complaints and reports about an enterprise that staff concluded as substantiated (属实),
    since ``since``. A case reopened later no longer counts (its finding is cleared); a case
    closed after its conclusion still does. Partly substantiated (部分属实) is not included. A
    complaint filed together with a report about the same matter counts once."""
    stmt = select(  # type: ignore[call-overload]
        Case.id,
        Case.tracking_number,
        Case.business_uscc,
        Case.category,
        Case.concluded_at,
        Case.linked_case_id,
    ).where(
        col(Case.finding) == Finding.substantiated.value,
        col(Case.status).in_([CaseStatus.concluded.value, CaseStatus.closed.value]),
        col(Case.business_uscc).is_not(None),
        col(Case.concluded_at) >= since,
    )
    if usccs is not None:
        wanted = sorted({u.upper() for u in usccs})
        if not wanted:
            return []
        stmt = stmt.where(col(Case.business_uscc).in_(wanted))
    rows = await session.execute(stmt.order_by(col(Case.concluded_at), col(Case.id)))
    found: list[ComplaintFact] = []
    counted: set[object] = set()
    for row in rows.all():
        # One submission that is both a complaint and a report is two linked cases about one
        # matter: it counts once, as the first of the two concluded (issue 16).
        if row[5] is not None and row[5] in counted:
            continue
        counted.add(row[0])
        found.append(
            ComplaintFact(
                case_id=row[0],
                tracking_number=row[1],
                business_uscc=row[2],
                category=row[3],
                concluded_at=row[4],
            )
        )
    return found
