"""The outbox: written with the change, processed once, retried with backoff, deduplicated."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from portal.audit.models import AuditEntry
from portal.db import Database, utcnow
from portal.outbox import service as outbox
from portal.outbox.models import OutboxEvent
from portal.outbox.service import JobContext
from portal.outbox.worker import OutboxWorker, backlog

calls: list[dict[str, Any]] = []
failures_left = {"count": 0}


@outbox.handler("test.record")
async def _record(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
    # A database effect in the handler's transaction: exactly once with the processed mark.
    session.add(AuditEntry(action="test.record", entity_type="test", entity_id=payload["n"]))
    calls.append(payload)


@outbox.handler("test.flaky")
async def _flaky(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
    if failures_left["count"] > 0:
        failures_left["count"] -= 1
        raise ConnectionError("search engine down")
    calls.append(payload)


@outbox.periodic("test-daily", every=timedelta(days=1))
async def _daily(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
    calls.append({"daily": True})


async def _events(database: Database) -> list[OutboxEvent]:
    async with database.sessionmaker() as session:
        return list((await session.scalars(select(OutboxEvent))).all())


async def test_event_is_written_only_if_the_transaction_commits(
    client: httpx.AsyncClient, database: Database
) -> None:
    try:
        async with database.transaction() as session:
            await outbox.enqueue(session, "test.record", {"n": "rolled-back"})
            raise RuntimeError("the business change failed")
    except RuntimeError:
        pass
    assert await _events(database) == []
    async with database.transaction() as session:
        await outbox.enqueue(session, "test.record", {"n": "kept"})
    assert len(await _events(database)) == 1


async def test_worker_processes_once(client: httpx.AsyncClient, database: Database) -> None:
    calls.clear()
    async with database.transaction() as session:
        await outbox.enqueue(session, "test.record", {"n": "1"})
        await outbox.enqueue(session, "test.record", {"n": "2"})
    worker = OutboxWorker(database)
    assert await worker.run_once() == 2
    assert await worker.run_once() == 0
    assert sorted(c["n"] for c in calls) == ["1", "2"]
    async with database.sessionmaker() as session:
        audit = (await session.scalars(select(AuditEntry))).all()
    assert len(audit) == 2
    assert await backlog(database) == {"pending": 0, "failed": 0}


async def test_failures_are_retried_with_backoff_then_marked_failed(
    client: httpx.AsyncClient, database: Database
) -> None:
    calls.clear()
    failures_left["count"] = 1
    async with database.transaction() as session:
        await outbox.enqueue(session, "test.flaky", {"n": "x"})
    worker = OutboxWorker(database, max_attempts=3)
    assert await worker.run_once() == 0
    [event] = await _events(database)
    assert event.attempts == 1
    assert "search engine down" in (event.last_error or "")
    assert event.available_at > utcnow()  # backing off: not due again yet
    assert await worker.run_once() == 0
    # Time passes: make it due and it succeeds.
    async with database.transaction() as session:
        stored = await session.get(OutboxEvent, event.id)
        assert stored is not None
        stored.available_at = utcnow() - timedelta(seconds=1)
    assert await worker.run_once() == 1
    assert calls == [{"n": "x"}]

    failures_left["count"] = 10
    async with database.transaction() as session:
        await outbox.enqueue(session, "test.flaky", {"n": "never"})
    for _ in range(3):
        async with database.transaction() as session:
            for pending in (await session.scalars(select(OutboxEvent))).all():
                pending.available_at = utcnow() - timedelta(seconds=1)
        await worker.run_once()
    assert (await backlog(database))["failed"] == 1
    failures_left["count"] = 0


async def test_an_expired_lease_is_picked_up_again(
    client: httpx.AsyncClient, database: Database
) -> None:
    """A worker that died mid-job leaves a lease; once it expires the job runs, once."""
    calls.clear()
    async with database.transaction() as session:
        event = await outbox.enqueue(session, "test.record", {"n": "orphan"})
        assert event is not None
        event.locked_until = utcnow() + timedelta(minutes=1)
    worker = OutboxWorker(database)
    assert await worker.run_once() == 0  # still leased by the dead worker
    async with database.transaction() as session:
        stored = await session.get(OutboxEvent, event.id)
        assert stored is not None
        stored.locked_until = utcnow() - timedelta(seconds=1)
    assert await worker.run_once() == 1
    assert await worker.run_once() == 0
    assert calls == [{"n": "orphan"}]


async def test_dedupe_key_and_periodic_jobs_are_idempotent(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with database.transaction() as session:
        assert await outbox.enqueue(session, "test.record", {"n": "a"}, dedupe_key="k1")
        assert await outbox.enqueue(session, "test.record", {"n": "b"}, dedupe_key="k1") is None
    worker = OutboxWorker(database)
    assert await worker.schedule_periodic() >= 1
    assert await worker.schedule_periodic() == 0  # same day: nothing new
    events = await _events(database)
    assert sum(e.topic == "periodic.test-daily" for e in events) == 1
    calls.clear()
    await worker.run_once()
    assert {"daily": True} in calls


async def test_unknown_topic_is_retried_not_lost(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with database.transaction() as session:
        await outbox.enqueue(session, "test.nobody-handles-this", {})
    assert await OutboxWorker(database).run_once() == 0
    [event] = await _events(database)
    assert event.processed_at is None
    assert "no handler" in (event.last_error or "")


async def test_deduplicated_event_rolls_back_with_its_transaction(
    client: httpx.AsyncClient, database: Database
) -> None:
    """The first statement of a transaction is a deduplicated enqueue; when the transaction
    fails, the event must go with it (a SQLite savepoint would have committed it early)."""
    try:
        async with database.transaction() as session:
            assert await outbox.enqueue(session, "test.record", {"n": "x"}, dedupe_key="first")
            raise RuntimeError("the business change failed")
    except RuntimeError:
        pass
    assert await _events(database) == []
