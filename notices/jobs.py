"""Periodic work of enforcement notices."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from notices import service
from portal.outbox import service as outbox
from portal.outbox.service import JobContext


# The job keeps the name it had in the search domain: its topic (periodic.<name>) and the slots
# already scheduled in deployed outboxes stay valid.
@outbox.periodic("search-expire-notices", every=timedelta(hours=1))
async def expire_notices(
    session: AsyncSession, payload: dict[str, Any], context: JobContext
) -> None:
    """Hourly, so a notice leaves public view within the hour after its last display day, and
    one published ahead enters the search within the hour of its first."""
    await service.expire_notices(session)
    await service.show_notices(session)
