"""Outbox handlers: the index follows the database.

``search.index`` carries a kind and ids, never the content: the handler loads the current rows,
indexes those the public may see and deletes the rest, so it is idempotent and order does not
matter. An engine that is down makes the handler raise; the worker retries with backoff and the
engine catches up when it is back.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from portal.outbox import service as outbox
from portal.outbox.service import JobContext
from search import engine as engines
from search import service


def _engine_for(session: AsyncSession) -> engines.SearchEngine:
    bind = session.bind
    url = bind.engine.url if isinstance(bind, AsyncConnection) else bind.url
    return engines.for_database_url(url.render_as_string(hide_password=False))


@outbox.handler(service.INDEX_TOPIC)
async def apply_index(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
    documents, deleted = await service.load_documents(session, payload["kind"], payload["ids"])
    engine = _engine_for(session)
    await engine.index(documents)
    await engine.delete(deleted)


@outbox.periodic("search-expire-notices", every=timedelta(hours=1))
async def expire_notices(
    session: AsyncSession, payload: dict[str, Any], context: JobContext
) -> None:
    """Hourly, so a notice leaves public view within the hour after its last display day."""
    await service.expire_notices(session)
