"""Enqueue background work, register handlers and periodic jobs.

- ``enqueue(session, topic, payload)`` inside the business transaction (never after it).
- ``@handler("topic")`` registers ``async def fn(session, payload, context)``; it runs in its own
  transaction
  together with marking the event processed, so database effects happen exactly once. Effects
  outside the database (a search engine, an SMS gateway) must be idempotent: an event may run again
  if a worker dies after the effect but before the commit.
- ``@periodic("name", every=timedelta(days=1))`` registers a job the worker enqueues once per slot;
  the slot's dedupe key means several workers never run the same day's job twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from portal.db import utcnow
from portal.outbox.models import OutboxEvent
from portal.settings import Settings


@dataclass(frozen=True)
class JobContext:
    """What a handler may use besides its session and payload: the settings the worker runs
    with (shell and domains, ``settings.of(...)``) and the state where domains keep their
    engines (the app's ``state`` when the worker runs in the server, its own otherwise). Time
    comes from ``portal.clock`` like everywhere else."""

    settings: Settings
    state: Any


Handler = Callable[[AsyncSession, dict[str, Any], JobContext], Awaitable[None]]

_handlers: dict[str, Handler] = {}


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    topic: str
    every: timedelta
    payload: dict[str, Any]


_periodic: dict[str, PeriodicJob] = {}


def handler(topic: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if topic in _handlers and _handlers[topic] is not fn:
            raise RuntimeError(f"outbox topic {topic!r} already has a handler")
        _handlers[topic] = fn
        return fn

    return register


def periodic(
    name: str, *, every: timedelta, payload: dict[str, Any] | None = None
) -> Callable[[Handler], Handler]:
    """Register ``fn`` as the handler of topic ``periodic.<name>`` and schedule it."""

    def register(fn: Handler) -> Handler:
        topic = f"periodic.{name}"
        handler(topic)(fn)
        _periodic[name] = PeriodicJob(name=name, topic=topic, every=every, payload=payload or {})
        return fn

    return register


def get_handler(topic: str) -> Handler | None:
    return _handlers.get(topic)


def periodic_jobs() -> list[PeriodicJob]:
    return list(_periodic.values())


async def enqueue(
    session: AsyncSession,
    topic: str,
    payload: dict[str, Any],
    *,
    dedupe_key: str | None = None,
    delay: timedelta | None = None,
) -> OutboxEvent | None:
    """Add an event to the current transaction. With ``dedupe_key``, an existing event with the
    same key wins and ``None`` is returned."""
    if dedupe_key is not None:
        existing = await session.scalar(
            select(OutboxEvent.id).where(OutboxEvent.dedupe_key == dedupe_key)
        )
        if existing is not None:
            return None
    now = utcnow()
    event = OutboxEvent(
        topic=topic,
        payload=payload,
        dedupe_key=dedupe_key,
        created_at=now,
        available_at=now + delay if delay else now,
    )
    if dedupe_key is None:
        session.add(event)
        await session.flush()
        return event
    # A concurrent writer may insert the same key between our check and our insert. INSERT … ON
    # CONFLICT DO NOTHING settles it in one statement (a savepoint would not do on SQLite, where
    # pysqlite commits a savepoint opened before the transaction's first write).
    values = {c.name: getattr(event, c.name) for c in OutboxEvent.__table__.columns}  # type: ignore[attr-defined]
    insert = sqlite_insert if session.bind.dialect.name == "sqlite" else postgresql_insert
    result = await session.execute(
        insert(OutboxEvent).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"])
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        return None
    return await session.get(OutboxEvent, event.id)


def slot_key(job: PeriodicJob, now: datetime) -> str:
    slot = int(now.timestamp() // job.every.total_seconds())
    return f"periodic:{job.name}:{slot}"
