"""Outbox handlers and periodic jobs of the complaint domain."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from api.complaints.deadlines import flag_overdue as flag_overdue_cases
from api.complaints.deadlines import recompute_open_deadlines
from api.complaints.idempotency import expire_idempotency_records
from api.complaints.media import cleanup_orphan_media
from api.complaints.notifications import TOPIC, send_notification
from api.complaints.retention import erase_expired_personal_data
from api.complaints.settings import ComplaintsSettings
from portal import clock
from portal.outbox.service import JobContext, handler, periodic

log = structlog.get_logger(__name__)


@handler(TOPIC)
async def notify(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
    await send_notification(session, payload, settings=context.settings)


@periodic("complaints.flag_overdue", every=timedelta(days=1))
async def flag_overdue(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
    flagged = await flag_overdue_cases(session, today=clock.today())
    log.info("complaints_overdue_flagged", newly_overdue=flagged)


@periodic("complaints.erase_personal_data", every=timedelta(days=1))
async def erase_personal_data(
    session: AsyncSession, payload: dict[str, Any], context: JobContext
) -> None:
    config = context.settings.of(ComplaintsSettings)
    erased = await erase_expired_personal_data(
        session, now=clock.now(), retention_days=config.complaint_personal_data_retention_days
    )
    log.info("complaints_personal_data_erased", cases=erased)


@periodic("complaints.cleanup_media", every=timedelta(hours=1))
async def cleanup_media(
    session: AsyncSession, payload: dict[str, Any], context: JobContext
) -> None:
    result = await cleanup_orphan_media(session, settings=context.settings)
    await expire_idempotency_records(session, settings=context.settings)
    log.info("complaints_media_cleanup", **result)


async def on_calendar_changed(
    session: AsyncSession, payload: dict[str, Any], context: JobContext
) -> None:
    """A year's holidays were imported or removed (portal/workdays/jobs.py): open cases' deadlines
    in that year are counted again on the new calendar."""
    years = [int(y) for y in payload.get("years", [])]
    changed = await recompute_open_deadlines(
        session,
        years=years,
        config=context.settings.of(ComplaintsSettings),
        today=clock.today(),
    )
    log.info("complaints_deadlines_recomputed", years=years, cases=changed)
