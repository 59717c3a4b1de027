"""Index jobs take turns across workers (search/jobs.py ``take_index_turn``), so a job that
loaded a document before it was withdrawn cannot write it back after a later job deleted it."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.db import Database
from search.jobs import INDEX_LOCK_KEY, take_index_turn


async def _try_turn(database: Database) -> bool:
    async with database.transaction() as other_worker:
        taken = await other_worker.scalar(select(func.pg_try_advisory_xact_lock(INDEX_LOCK_KEY)))
    return bool(taken)


async def test_a_second_worker_waits_until_the_first_job_ends(database: Database) -> None:
    async with database.transaction() as session:
        await take_index_turn(session)
        if database.is_sqlite:  # one writer: nothing to take turns on
            return
        assert not await _try_turn(database)  # the first job holds the turn
    assert await _try_turn(database)  # its transaction ended: the turn is free
