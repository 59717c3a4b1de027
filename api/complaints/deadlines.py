"""Deadlines of a case on the Chinese working-day calendar, and the daily overdue flag."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from api.complaints.models import OPEN_STATUSES, Case, CaseEvent, CaseKind, CaseStatus
from api.complaints.schemas import Deadlines
from portal import clock, workdays


def deadlines_of(case: Case) -> Deadlines:
    start = clock.local_date(case.received_at)
    dues = [d for d in (case.acceptance_due, case.handling_due) if d is not None]
    calendar = (
        "chinese-calendar"
        if all(workdays.basis_for(start, d) == "chinese-calendar" for d in dues)
        else "weekends-only"
    )
    return Deadlines(
        acceptance_due=case.acceptance_due,
        handling_due=case.handling_due,
        handling_basis="mediation" if case.kind is CaseKind.complaint else "verification",
        calendar=calendar,
        extended=case.extended,
        overdue=case.overdue,
    )


def is_overdue(case: Case, today: date) -> bool:
    if case.status is CaseStatus.received:
        due = case.acceptance_due if case.kind is CaseKind.complaint else case.handling_due
        return due is not None and today > due
    if case.status in (CaseStatus.accepted, CaseStatus.mediating):
        return case.handling_due is not None and today > case.handling_due
    return False


async def flag_overdue(session: AsyncSession, *, today: date) -> int:
    """Set ``overdue`` on open cases past their current deadline (and clear it where no longer
    true); write an internal event the first time a case becomes overdue. Returns newly flagged."""
    rows = await session.scalars(
        select(Case).where(col(Case.status).in_([s.value for s in OPEN_STATUSES]))
    )
    flagged = 0
    for case in rows:
        due = is_overdue(case, today)
        if due and not case.overdue:
            flagged += 1
            session.add(
                CaseEvent(
                    case_id=case.id, type="overdue", public=False, data={"on": today.isoformat()}
                )
            )
        case.overdue = due
    await session.flush()
    return flagged
