"""The test harness itself: a test that writes through ``database`` alone (no ``client``) leaves
no rows behind for the next test (issue 11, shell clean-up). The two tests run in this order."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.accounts.models import Organization
from portal.db import Database
from tests.support import MakeOrg


async def test_a_test_that_uses_only_the_database_writes_a_row(
    database: Database, make_org: MakeOrg
) -> None:
    await make_org(code="LEAKCHECK")
    async with database.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Organization)) == 1


async def test_the_next_test_starts_from_empty_tables(database: Database) -> None:
    async with database.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Organization)) == 0
