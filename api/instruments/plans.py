"""Verification plans (检定计划): for an owner, or a designated institution, the instruments that
fall due in the next N months by their cycle — when each must be re-verified (a certificate's
validity ends), verified for the first time, or replaced — oldest first, as a list, a month
calendar, a CSV and an XLSX workbook."""

from __future__ import annotations

import calendar
import io
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from openpyxl import Workbook
from sqlalchemy import Select, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from api.instruments.models import (
    ApplicationItem,
    ApplicationStatus,
    RegisteredInstrument,
    RegistrationStatus,
    VerificationApplication,
)
from api.instruments.review import FIRST_ONLY_FORMS, read_models
from api.instruments.schemas import InstrumentRegistrationRead
from portal import clock
from portal.accounts.models import Role, User
from portal.accounts.permissions import Action, authorize
from portal.exports import safe_row

# Beyond this many instruments a plan is cut (and says so); a utility with more plans by region.
PLAN_LIMIT = 20_000


@dataclass(frozen=True)
class PlanItem:
    due_on: date
    action: str  # "reverify", "first", "replace"
    registration: InstrumentRegistrationRead


ACTION_ZH = {"reverify": "周期检定", "first": "首次检定", "replace": "到期更换"}


# An application that stands: the institution is, or was, verifying what it names.
LIVE = (ApplicationStatus.submitted, ApplicationStatus.accepted, ApplicationStatus.completed)


def applied_to(institution_id: uuid.UUID | None) -> Select[tuple[uuid.UUID]]:
    """The registrations whose latest standing application is to this institution: what its
    owners have applied to it for. Not one it refused or the owner withdrew, nor one the
    owner has since applied to another institution for (each showed there with its owner,
    serial, place and certificate for good)."""
    item, later_item = aliased(ApplicationItem), aliased(ApplicationItem)
    application, later = aliased(VerificationApplication), aliased(VerificationApplication)
    superseded = (
        select(literal(1))
        .select_from(later_item)
        .join(later, col(later.id) == col(later_item.application_id))
        .where(
            col(later_item.registration_id) == col(item.registration_id),
            col(later.status).in_(LIVE),
            tuple_(col(later.created_at), col(later.id))
            > tuple_(col(application.created_at), col(application.id)),
        )
        .exists()
    )
    return (
        select(col(item.registration_id))
        .join(application, col(application.id) == col(item.application_id))
        .where(
            col(application.institution_id) == institution_id,
            col(application.status).in_(LIVE),
            ~superseded,
        )
    )


async def plan(
    session: AsyncSession, *, actor: User, months: int
) -> tuple[date, list[PlanItem], bool]:
    """(until, items due by then, cut short)."""
    today = clock.today()
    until = clock.add_months(today, months)
    stmt = select(RegisteredInstrument).where(
        col(RegisteredInstrument.status).in_(
            [RegistrationStatus.pending, RegistrationStatus.confirmed]
        )
    )
    if actor.role == Role.owner:
        authorize(actor, Action.instrument_register)
        stmt = stmt.where(col(RegisteredInstrument.owner_id) == actor.organization_id)
    else:
        authorize(actor, Action.application_handle)
        stmt = stmt.where(col(RegisteredInstrument.id).in_(applied_to(actor.organization_id)))
    rows = list((await session.scalars(stmt.limit(PLAN_LIMIT + 1))).all())
    cut = len(rows) > PLAN_LIMIT
    items = []
    for read in await read_models(session, rows[:PLAN_LIMIT]):
        if read.valid_until is not None and read.verification_status not in ("failed", "revoked"):
            due = read.valid_until + timedelta(days=1)
            action = "replace" if read.verification_form in FIRST_ONLY_FORMS else "reverify"
        elif read.due_on is not None:
            due = read.due_on
            action = (
                "first"
                if read.last_verified_on is None
                else ("replace" if read.verification_form in FIRST_ONLY_FORMS else "reverify")
            )
        else:
            continue
        if read.verification_status in ("failed", "revoked"):
            due, action = today, "reverify"
        if due <= until:
            items.append(PlanItem(due_on=due, action=action, registration=read))
    items.sort(key=lambda i: (i.due_on, i.registration.serial))
    return until, items, cut


# -- exports and the calendar --------------------------------------------------------------------

EXPORT_HEADER = [
    "应检日期", "事项", "器具", "出厂编号", "制造单位", "安装位置", "使用单位", "状态", "证书编号",
]  # fmt: skip


def export_rows(items: list[PlanItem]) -> list[list[object]]:
    """The plan as spreadsheet rows (header first), the same in the CSV and the workbook; every
    cell is one a spreadsheet will not evaluate (portal/exports.py)."""
    rows: list[list[object]] = [list(EXPORT_HEADER)]
    for i in items:
        r = i.registration
        rows.append(
            safe_row(
                [i.due_on.isoformat(), ACTION_ZH[i.action], r.category_name, r.serial,
                 r.manufacturer, r.location, r.owner_name, r.verification_status_name,
                 r.certificate_number or ""]
            )
        )  # fmt: skip
    return rows


def to_xlsx(items: list[PlanItem], *, until: date) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(f"检定计划至{until.isoformat()}")
    for row in export_rows(items):
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@dataclass(frozen=True)
class CalendarDay:
    day: date | None  # None: a blank cell before the 1st or after the last day
    count: int = 0


@dataclass(frozen=True)
class CalendarMonth:
    year: int
    month: int
    weeks: list[list[CalendarDay]]
    total: int


def month_calendars(items: list[PlanItem], *, today: date, until: date) -> list[CalendarMonth]:
    """One grid a month (weeks from Monday, as Chinese calendars are laid out) from this month to
    the month of ``until``: how many instruments fall due on each day. What is already overdue
    is not drawn on past days (months of empty grids); the page counts it above the calendar."""
    counts: dict[date, int] = {}
    for item in items:
        counts[item.due_on] = counts.get(item.due_on, 0) + 1
    months: list[CalendarMonth] = []
    year, month = today.year, today.month
    while (year, month) <= (until.year, until.month):
        weeks = [
            [
                CalendarDay(d, counts.get(d, 0) if d >= today else 0)
                if d.month == month
                else CalendarDay(None)
                for d in week
            ]
            for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month)
        ]
        total = sum(
            n for d, n in counts.items() if (d.year, d.month) == (year, month) and d >= today
        )
        months.append(CalendarMonth(year, month, weeks, total))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months
