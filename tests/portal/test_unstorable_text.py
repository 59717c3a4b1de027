"""A NUL character is refused before any write, on SQLite as on PostgreSQL (portal/db.py).

PostgreSQL cannot hold one in text or JSON and refuses the statement; SQLite would store it, so
the same request was accepted on one database and refused on the other (attack review)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from enforcement.models import RiskModel
from portal.accounts.models import Organization
from portal.db import Database
from portal.errors import UnstorableValue
from tests.support import MakeOrg


async def _add(database: Database, *rows: object) -> None:
    async with database.transaction() as session:
        session.add_all(rows)


async def _change(database: Database, organization_id: uuid.UUID, **values: str) -> None:
    async with database.transaction() as session:
        stored = await session.get(Organization, organization_id)
        assert stored is not None
        for name, value in values.items():
            setattr(stored, name, value)


async def test_a_new_row_with_a_nul_in_text_is_refused_and_nothing_is_written(
    database: Database, make_org: MakeOrg
) -> None:
    known = await make_org()
    with pytest.raises(UnstorableValue):
        await _add(
            database,
            RiskModel(version=99, parameters={"weights": [1, 2]}),
            Organization(
                kind=known.kind, code="NUL-TEST", name="测试\x00机构", region_code=known.region_code
            ),
        )
    async with database.transaction() as session:
        assert (
            await session.scalar(select(Organization).where(Organization.code == "NUL-TEST"))
            is None
        )
        assert await session.get(RiskModel, 99) is None  # the whole flush, not only the bad row


async def test_a_nul_inside_json_is_refused(database: Database) -> None:
    with pytest.raises(UnstorableValue):
        await _add(database, RiskModel(version=98, parameters={"notes": ["好", "坏\x00"]}))
    with pytest.raises(UnstorableValue):
        await _add(database, RiskModel(version=97, parameters={"键\x00": 1}))


async def test_changing_a_row_checks_only_the_values_written(
    database: Database, make_org: MakeOrg
) -> None:
    organization = await make_org(name="原名称")
    with pytest.raises(UnstorableValue):
        await _change(database, organization.id, address="西安市\x00雁塔区")
    await _change(database, organization.id, name="新名称")  # a plain change goes through
    async with database.transaction() as session:
        stored = await session.get(Organization, organization.id)
    assert stored is not None
    assert stored.name == "新名称"
    assert stored.address is None
