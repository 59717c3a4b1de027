"""Owners' reminders before a due day (every six hours, each due day once: reminders.py), and,
hourly, registrations that fell due enter the certificate registry, so that a never-verified
instrument counts in its region's overdue list (and the daily overdue scan's warnings) from its
due day. Hourly rather than daily so the day's entries come before that day's scan. Daily, the
bureaus are told of due registrations still awaiting their confirmation (reminders.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.instruments.reminders import send_reminders, send_unconfirmed_due_digest
from api.instruments.review import enter_due_registrations
from api.instruments.settings import InstrumentsSettings
from portal import clock
from portal.outbox import service as outbox
from portal.outbox.service import JobContext


@outbox.periodic("instruments-enter-due", every=timedelta(hours=1))
async def enter_due(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
    await enter_due_registrations(session, today=clock.today())


@outbox.periodic("instruments-reminders", every=timedelta(hours=6))
async def reminders(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
    await send_reminders(
        session, settings=context.settings.of(InstrumentsSettings), today=clock.today()
    )


@outbox.periodic("instruments-unconfirmed-due", every=timedelta(days=1))
async def unconfirmed_due(
    session: AsyncSession, payload: dict[str, Any], context: JobContext
) -> None:
    await send_unconfirmed_due_digest(
        session, settings=context.settings.of(InstrumentsSettings), today=clock.today()
    )
