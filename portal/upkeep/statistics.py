"""The query planner's statistics on SQLite, kept current as the data grows (issue 13).

SQLite chooses each statement's plan from ``sqlite_stat1``, which only ``ANALYZE`` writes. Stale
statistics are worse than none: a database analysed when it held the demo data (12 grades) and
grown since to 100,000 rated enterprises had the credit list's word filter walk every grade by
the validity index instead of looking up the dozen enterprises the words found — 70 ms a request
instead of 9 (bench/pages.py ``--scale``). SQLite's own advice for long-running applications is
to analyse periodically with ``analysis_limit`` set, so that each index is sampled, not read
whole: on the benchmark's database (1,000,000 certificates, 100,000 grades) that takes about
15 ms. The certificate import analyses its own two tables after each bulk load
(api/certificates/imports.py); this job does every table, hourly, in the worker.

PostgreSQL keeps its statistics itself (autovacuum's automatic ANALYZE): nothing is done there."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# Rows sampled per index (SQLite's documentation suggests a few hundred to a thousand).
ANALYSIS_LIMIT = 1000
STATEMENTS = (f"PRAGMA analysis_limit={ANALYSIS_LIMIT}", "ANALYZE")


async def refresh(session: AsyncSession) -> bool:
    """Rewrite the planner's statistics of every table; False where the database keeps its own."""
    if session.get_bind().dialect.name != "sqlite":
        return False
    for statement in STATEMENTS:
        await session.execute(text(statement))
    return True
