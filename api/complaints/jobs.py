"""Outbox handlers and periodic jobs of the complaint domain."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from api.complaints import service
from portal import clock
from portal.outbox.service import JobContext, handler, periodic

log = structlog.get_logger(__name__)


@handler("complaints.notify")
async def notify(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
    await service.send_notification(session, context.settings, payload)


@periodic("complaints.flag_overdue", every=timedelta(days=1))
async def flag_overdue(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
    flagged = await service.flag_overdue(session, today=clock.today())
    log.info("complaints_overdue_flagged", newly_overdue=flagged)


@periodic("complaints.cleanup_media", every=timedelta(hours=1))
async def cleanup_media(
    session: AsyncSession, payload: dict[str, Any], context: JobContext
) -> None:
    result = await service.cleanup_orphan_media(session, context.settings)
    log.info("complaints_media_cleanup", **result)
