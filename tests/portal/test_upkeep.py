"""The query planner's statistics are rewritten by the worker's hourly job (portal/upkeep)."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import col, select

from portal.db import Database
from portal.outbox.models import OutboxEvent
from portal.outbox.worker import OutboxWorker
from portal.upkeep import statistics


async def _rows_seen(database: Database, index: str) -> int | None:
    async with database.sessionmaker() as session:
        stat = await session.scalar(
            text("SELECT stat FROM sqlite_stat1 WHERE idx = :index"), {"index": index}
        )
    return None if stat is None else int(stat.split()[0])


async def test_the_hourly_job_rewrites_statistics_that_a_grown_table_made_stale(
    database: Database,
) -> None:
    async with database.transaction() as session:
        if not await statistics.refresh(session):
            # PostgreSQL: autovacuum analyses; the job leaves its statistics alone.
            assert session.get_bind().dialect.name == "postgresql"
            return
        await session.execute(text("DELETE FROM sqlite_stat1 WHERE tbl = 'audit_entry'"))
    # Analysed while nearly empty, then grown: what the planner believed stays behind.
    async with database.transaction() as session:
        await session.execute(text("ANALYZE audit_entry"))
    stale = await _rows_seen(database, "ix_audit_entry_action")
    async with database.transaction() as session:
        await session.execute(
            text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) "
                "INSERT INTO audit_entry (id, at, action, entity_type, entity_id) "
                "SELECT lower(hex(randomblob(16))), '2026-01-01 00:00:00', 'grown', 'test', i "
                "FROM n"
            )
        )
    assert await _rows_seen(database, "ix_audit_entry_action") == stale
    worker = OutboxWorker(database)
    await worker.schedule_periodic()
    async with database.sessionmaker() as session:
        jobs = await session.scalars(
            select(OutboxEvent.topic).where(col(OutboxEvent.processed_at).is_(None))
        )
        assert "periodic.upkeep.planner_statistics" in set(jobs)
    while await worker.run_once():
        pass
    seen = await _rows_seen(database, "ix_audit_entry_action")
    assert seen is not None
    # analysis_limit samples each index, so the count is an estimate: thousands, not a few.
    assert seen > 1000
    assert stale is None or stale < 100
