"""The outbox worker: claims due events with a lease, runs their handlers, retries with backoff.

Runs inside the server by default (``GONGZHI_RUN_WORKER_IN_PROCESS``) and as ``gongzhi worker`` in
production, where several may run at once: claims use ``FOR UPDATE SKIP LOCKED`` on PostgreSQL and
a lease (``locked_until``) everywhere, so an event held by a worker that died is picked up again
once its lease runs out.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from types import SimpleNamespace

import structlog
from sqlalchemy import or_, update
from sqlmodel import col, select

from portal.db import Database, utcnow
from portal.outbox import service
from portal.outbox.models import OutboxEvent
from portal.settings import get_settings

log = structlog.get_logger(__name__)

LEASE = timedelta(seconds=120)
MAX_BACKOFF = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """2 s, 4 s, 8 s … capped at an hour."""
    return min(timedelta(seconds=2**attempts), MAX_BACKOFF)


class OutboxWorker:
    def __init__(
        self,
        database: Database,
        *,
        max_attempts: int = 12,
        batch_size: int = 20,
        lease: timedelta = LEASE,
        context: service.JobContext | None = None,
    ) -> None:
        self.database = database
        self.context = context or service.JobContext(
            settings=database.settings or get_settings(), state=SimpleNamespace()
        )
        self.lease = lease
        self.max_attempts = max_attempts
        self.batch_size = batch_size

    async def schedule_periodic(self) -> int:
        """Enqueue the current slot of every periodic job that has not been enqueued yet."""
        created = 0
        now = utcnow()
        async with self.database.transaction() as session:
            for job in service.periodic_jobs():
                event = await service.enqueue(
                    session, job.topic, dict(job.payload), dedupe_key=service.slot_key(job, now)
                )
                created += event is not None
        return created

    async def _claim(self) -> list[uuid.UUID]:
        now = utcnow()
        async with self.database.transaction() as session:
            stmt = (
                select(OutboxEvent.id)
                .where(
                    col(OutboxEvent.processed_at).is_(None),
                    col(OutboxEvent.failed_at).is_(None),
                    col(OutboxEvent.available_at) <= now,
                    or_(
                        col(OutboxEvent.locked_until).is_(None),
                        col(OutboxEvent.locked_until) < now,
                    ),
                )
                .order_by(col(OutboxEvent.available_at))
                .limit(self.batch_size)
            )
            if not self.database.is_sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            ids = list((await session.scalars(stmt)).all())
            if ids:
                await session.execute(
                    update(OutboxEvent)
                    .where(col(OutboxEvent.id).in_(ids))
                    .values(locked_until=now + self.lease)
                )
            return ids

    async def _process(self, event_id: uuid.UUID) -> bool:
        try:
            async with self.database.transaction() as session:
                event = await session.get(OutboxEvent, event_id)
                if event is None or event.processed_at is not None:
                    return True
                fn = service.get_handler(event.topic)
                if fn is None:
                    raise LookupError(f"no handler for outbox topic {event.topic!r}")
                await fn(session, dict(event.payload), self.context)
                event.processed_at = utcnow()
                event.locked_until = None
                event.attempts += 1
            return True
        except Exception as exc:  # any handler failure is retried later; the worker goes on
            log.warning("outbox_event_failed", event_id=str(event_id), error=repr(exc)[:500])
            async with self.database.transaction() as session:
                event = await session.get(OutboxEvent, event_id)
                if event is not None:
                    event.attempts += 1
                    event.last_error = repr(exc)[:2000]
                    event.locked_until = None
                    event.available_at = utcnow() + backoff(event.attempts)
                    if event.attempts >= self.max_attempts:
                        event.failed_at = utcnow()
            return False

    async def run_once(self) -> int:
        """Process every event that is due now; returns how many succeeded."""
        done = 0
        while True:
            ids = await self._claim()
            if not ids:
                return done
            for event_id in ids:
                done += await self._process(event_id)

    async def run_forever(self, stop: asyncio.Event, *, poll_seconds: float = 1.0) -> None:
        log.info("outbox_worker_started")
        while not stop.is_set():
            try:
                await self.schedule_periodic()
                await self.run_once()
            except Exception as exc:  # database down: keep the worker alive and try again
                log.warning("outbox_worker_error", error=repr(exc)[:500])
            try:
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)
            except TimeoutError:
                pass
        log.info("outbox_worker_stopped")


async def backlog(database: Database) -> dict[str, int]:
    """Pending and failed event counts, for /readyz and operators."""
    from sqlalchemy import func

    async with database.sessionmaker() as session:
        pending = await session.scalar(
            select(func.count()).where(
                col(OutboxEvent.processed_at).is_(None),
                col(OutboxEvent.failed_at).is_(None),
            )
        )
        failed = await session.scalar(
            select(func.count()).where(col(OutboxEvent.failed_at).is_not(None))
        )
    return {"pending": int(pending or 0), "failed": int(failed or 0)}


async def backlog_state(database: Database) -> dict[str, float]:
    """``backlog`` and how long the oldest due pending event has waited (0 when none is due), in
    seconds: the outbox's lag; and the same for the search index's events alone (how long the
    oldest change not yet searchable has waited), for /metrics."""
    from sqlalchemy import func

    from portal.facts import INDEX_TOPIC

    now = utcnow()
    async with database.sessionmaker() as session:
        oldest = await session.scalar(
            select(func.min(OutboxEvent.available_at)).where(
                col(OutboxEvent.processed_at).is_(None),
                col(OutboxEvent.failed_at).is_(None),
                col(OutboxEvent.available_at) <= now,
            )
        )
        # The search index's lag: changes announced with enqueue_index not yet applied (the
        # handler returns once the engine has applied its task), and the oldest one's age.
        index_pending, index_oldest = (
            await session.execute(
                select(func.count(), func.min(OutboxEvent.created_at)).where(
                    OutboxEvent.topic == INDEX_TOPIC,
                    col(OutboxEvent.processed_at).is_(None),
                    col(OutboxEvent.failed_at).is_(None),
                )
            )
        ).one()
        index_failed = await session.scalar(
            select(func.count()).where(
                OutboxEvent.topic == INDEX_TOPIC, col(OutboxEvent.failed_at).is_not(None)
            )
        )
    counts = await backlog(database)
    waited = (now - oldest).total_seconds() if oldest is not None else 0.0
    behind = (now - index_oldest).total_seconds() if index_oldest is not None else 0.0
    return {
        **counts,
        "oldest_due_age_seconds": max(0.0, waited),
        "search_index_pending": float(index_pending or 0),
        "search_index_failed": float(index_failed or 0),
        "search_index_lag_seconds": max(0.0, behind),
    }
