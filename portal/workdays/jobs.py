"""The ``calendar.changed`` event: this worker reloads the calendar, then every domain that keeps
dates counted in working days recomputes them.

The outbox gives a topic one handler, so the domains do not subscribe to the topic themselves: a
domain that depends on the calendar defines, in its own ``jobs.py``,

    async def on_calendar_changed(session, payload, context) -> None

(``payload`` is ``{"years": [2027]}``, the years whose notice was imported or removed). The hooks
run in this event's transaction after the reload, so they count with the new days; like every
handler they must be idempotent (an event may run again).
"""

from __future__ import annotations

import sys
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from portal import domains, workdays
from portal.outbox.service import JobContext, handler
from portal.workdays import service


@handler(service.TOPIC_CHANGED)
async def calendar_changed(
    session: AsyncSession, payload: dict[str, Any], context: JobContext
) -> None:
    workdays.install(await service.load(session))
    this = sys.modules[__name__]
    for _, module in domains.modules("jobs"):
        hook = getattr(module, "on_calendar_changed", None)
        if module is not this and hook is not None:
            await hook(session, payload, context)
