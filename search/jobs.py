"""Outbox handlers: the index follows the database.

``search.index`` carries a kind and ids, never the content: the handler loads the current rows,
indexes those the public may see and deletes the rest, so it is idempotent and order does not
matter. An engine that is down makes the handler raise; the worker retries with backoff and the
engine catches up when it is back. The engine is the one kept on the worker's state
(``JobContext.state``: the app's state inside the server, a separate worker's own otherwise).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from portal import facts
from portal.outbox import service as outbox
from portal.outbox.service import JobContext
from search import documents
from search.engine import engine_for


@outbox.handler(facts.INDEX_TOPIC)
async def apply_index(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
    found, deleted = await documents.load_documents(session, payload["kind"], payload["ids"])
    engine = engine_for(context.state, context.settings)
    await engine.index(found)
    await engine.delete(deleted)
