"""Verification plans (检定计划): for an owner, or a designated institution, the instruments that
fall due in the next N months by their cycle — when each must be re-verified (a certificate's
validity ends), verified for the first time, or replaced — oldest first, as a list and a CSV."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.instruments.models import (
    ApplicationItem,
    RegisteredInstrument,
    RegistrationStatus,
    VerificationApplication,
)
from api.instruments.review import FIRST_ONLY_FORMS, read_models
from api.instruments.schemas import InstrumentRegistrationRead
from portal import clock
from portal.accounts.models import Role, User
from portal.accounts.permissions import Action, authorize

# Beyond this many instruments a plan is cut (and says so); a utility with more plans by region.
PLAN_LIMIT = 20_000


@dataclass(frozen=True)
class PlanItem:
    due_on: date
    action: str  # "reverify", "first", "replace"
    registration: InstrumentRegistrationRead


ACTION_ZH = {"reverify": "周期检定", "first": "首次检定", "replace": "到期更换"}


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
        # The institution's plan: the instruments its owners have applied to it for.
        applied = (
            select(col(ApplicationItem.registration_id))
            .join(
                VerificationApplication,
                col(VerificationApplication.id) == col(ApplicationItem.application_id),
            )
            .where(col(VerificationApplication.institution_id) == actor.organization_id)
        )
        stmt = stmt.where(col(RegisteredInstrument.id).in_(applied))
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
