"""Outbox handlers: the index follows the database.

``search.index`` carries a kind and ids, never the content: the handler loads the current rows,
indexes those the public may see and deletes the rest, so it is idempotent and order does not
matter. An engine that is down makes the handler raise; the worker retries with backoff and the
engine catches up when it is back. The engine is the one kept on the worker's state
(``JobContext.state``: the app's state inside the server, a separate worker's own otherwise).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from portal import facts
from portal.outbox import service as outbox
from portal.outbox.service import JobContext
from search import documents
from search.engine import engine_for

# The key of the PostgreSQL advisory lock that index jobs take in turn (any fixed 64-bit number).
INDEX_LOCK_KEY = 0x5EA4C4_1DE7


async def take_index_turn(session: AsyncSession) -> None:
    """Index jobs run one at a time across workers (PostgreSQL: a transaction-level advisory
    lock, released when the job's transaction ends). Without it, a worker that loaded a notice
    while it was public could write it to the engine after another worker, which loaded it
    withdrawn, had deleted it: the withdrawn notice stayed searchable. In turn, the later job
    loads after the earlier one has written, so the engine ends with the current state. SQLite
    has one writer and needs nothing."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(INDEX_LOCK_KEY)))


@outbox.handler(facts.INDEX_TOPIC)
async def apply_index(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
    await take_index_turn(session)
    found, deleted = await documents.load_documents(session, payload["kind"], payload["ids"])
    engine = engine_for(context.state, context.settings)
    await engine.index(found)
    await engine.delete(deleted)
