"""Deadlines of a case on the Chinese working-day calendar, and the daily overdue flag."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from api.complaints.models import OPEN_STATUSES, Case, CaseEvent, CaseKind, CaseStatus
from api.complaints.schemas import Deadlines
from api.complaints.settings import ComplaintsSettings
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
        paused_since=case.paused_on,
    )


def is_overdue(case: Case, today: date) -> bool:
    if (
        case.dispute_due is not None
        and case.dispute_escalated_to is None
        and today > case.dispute_due
    ):
        return (
            True  # 暂行办法 第三十条: not settled in time, to be escalated to the common superior
        )
    if case.paused_on is not None:
        return False  # the period does not count while the instrument is tested
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


# The events that start a period counted in working days (intake.py, workflow.py).
_STARTS_ACCEPTANCE = ("submitted", "reopened", "transferred", "dispatched", "designated")
_STARTS_MEDIATION = ("accepted", "reopened")


def _current_dues(
    case: Case, events: list[CaseEvent], config: ComplaintsSettings
) -> tuple[date | None, date | None]:
    """The case's open deadlines counted again on the calendar now installed, from the events that
    started them and the configured numbers of working days, as intake and workflow count them."""

    def last_day(types: tuple[str, ...]) -> date | None:
        found = [e.at for e in events if e.type in types]
        return clock.local_date(max(found)) if found else None

    acceptance_due, handling_due = case.acceptance_due, case.handling_due
    started = last_day(_STARTS_ACCEPTANCE)
    if case.kind is CaseKind.complaint:
        if case.status is CaseStatus.received and started is not None:
            acceptance_due = workdays.add_working_days(
                started, config.complaint_acceptance_working_days
            )
        mediation_start = last_day(_STARTS_MEDIATION)
        if case.status is not CaseStatus.received and mediation_start is not None:
            handling_due = workdays.add_working_days(
                mediation_start, config.complaint_mediation_working_days
            )
    elif started is not None:
        handling_due = workdays.add_working_days(started, config.report_verification_working_days)
        extended = [e for e in events if e.type == "extended" and clock.local_date(e.at) >= started]
        if extended:
            handling_due = workdays.add_working_days(
                handling_due, config.report_extension_working_days
            )
    period_start = started if case.kind is CaseKind.report else last_day(_STARTS_MEDIATION)
    if handling_due is not None and period_start is not None:
        # Pauses for testing within the current period, counted again on this calendar.
        paused = sum(
            workdays.working_days_between(
                date.fromisoformat(e.data["from"]), date.fromisoformat(e.data["to"])
            )
            for e in events
            if e.type == "resumed" and clock.local_date(e.at) >= period_start
        )
        handling_due = workdays.add_working_days(handling_due, paused)
    return acceptance_due, handling_due


def _dispute_due(case: Case, events: list[CaseEvent], config: ComplaintsSettings) -> date | None:
    """An open dispute's settling day (第三十条), counted again from the day it was raised."""
    raised = [e.at for e in events if e.type == "disputed"]
    if case.dispute_region is None or not raised:
        return case.dispute_due
    return workdays.add_working_days(
        clock.local_date(max(raised)), config.jurisdiction_dispute_working_days
    )


async def recompute_open_deadlines(
    session: AsyncSession, *, years: list[int], config: ComplaintsSettings, today: date
) -> int:
    """After a year's holidays are imported or removed (docs/calendar.md), count again every
    open case's deadline that reaches into one of those years, so a deadline counted on weekends
    alone before the State Council's notice was known moves to the real working day. A change is
    kept as an internal event with the old and new dates. Returns the cases changed."""
    if not years:
        return 0
    first = date(min(years), 1, 1)
    cases = list(
        await session.scalars(
            select(Case).where(
                col(Case.status).in_([s.value for s in OPEN_STATUSES]),
                (col(Case.acceptance_due) >= first)
                | (col(Case.handling_due) >= first)
                | (col(Case.dispute_due) >= first),
            )
        )
    )
    changed = 0
    for case in cases:
        events = list(
            await session.scalars(
                select(CaseEvent)
                .where(col(CaseEvent.case_id) == case.id)
                .order_by(col(CaseEvent.at))
            )
        )
        acceptance_due, handling_due = _current_dues(case, events, config)
        dispute_due = _dispute_due(case, events, config)
        if (acceptance_due, handling_due, dispute_due) == (
            case.acceptance_due,
            case.handling_due,
            case.dispute_due,
        ):
            continue
        changes = {
            "acceptance_due": [_iso(case.acceptance_due), _iso(acceptance_due)],
            "handling_due": [_iso(case.handling_due), _iso(handling_due)],
        }
        if dispute_due != case.dispute_due:
            changes["dispute_due"] = [_iso(case.dispute_due), _iso(dispute_due)]
        session.add(
            CaseEvent(
                case_id=case.id,
                type="deadline_recomputed",
                public=False,
                data={"years": years, **changes},
            )
        )
        case.acceptance_due, case.handling_due = acceptance_due, handling_due
        case.dispute_due = dispute_due
        case.overdue = is_overdue(case, today)
        changed += 1
    await session.flush()
    return changed


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None
