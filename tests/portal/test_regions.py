from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlmodel import select

from portal.db import Database
from portal.regions.models import Region
from portal.regions.service import code_bounds, prefix_bounds, significant_prefix
from tests.support import assert_problem


async def test_regions_come_from_gb2260_data(client: httpx.AsyncClient) -> None:
    provinces = (await client.get("/api/v1/regions")).json()
    assert len(provinces) >= 31
    shaanxi = next(p for p in provinces if p["code"] == "610000")
    assert shaanxi["name"] == "陕西省"
    cities = (await client.get("/api/v1/regions", params={"parent": "610000"})).json()
    xianyang = next(c for c in cities if c["code"] == "610400")
    assert xianyang["name"] == "咸阳市"
    districts = (await client.get("/api/v1/regions", params={"parent": "610400"})).json()
    names = {d["name"] for d in districts}
    assert {"秦都区", "渭城区", "兴平市", "彬州市"} <= names
    qindu = (await client.get("/api/v1/regions/610402")).json()
    assert qindu == {
        "code": "610402",
        "name": "秦都区",
        "level": 3,
        "parent_code": "610400",
        "full_name": "陕西省咸阳市秦都区",
    }


async def test_unknown_region_is_problem(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/regions/999999"), 404, "region_not_found")
    assert_problem(await client.get("/api/v1/regions", params={"parent": "999999"}), 404)
    assert_problem(await client.get("/api/v1/regions/61"), 422, "validation_error")


def test_a_prefixs_bounds_are_digits_and_end_at_the_next_prefix() -> None:
    assert prefix_bounds("6109") == ("6109", "6110")
    assert prefix_bounds("610429") == ("610429", "610430")
    assert prefix_bounds("61") == ("61", "62")
    assert prefix_bounds("6199") == ("6199", "6200")
    assert prefix_bounds("99") == ("99", "9999999")  # above every six-digit code
    assert code_bounds("610900") == ("6109", "6110")
    assert code_bounds("610000") == ("61", "62")
    assert code_bounds("610429") == ("610429", "610430")


async def test_every_divisions_range_finds_exactly_its_codes_under_any_collation(
    database: Database,
) -> None:
    """The range a region filter or a staff scope becomes finds the codes that start with the
    prefix, on SQLite and on PostgreSQL, also under a collation that ignores punctuation (ICU:
    what a database created with a zh_CN or en_US locale compares like). A bound of "610:" after
    6109 was below every code of 安康 there."""
    async with database.sessionmaker() as session:
        codes = list((await session.scalars(select(Region.code))).all())
        postgresql = session.get_bind().dialect.name == "postgresql"
        collations = ['"C"', '"und-x-icu"'] if postgresql else ["BINARY"]
        prefixes = sorted(
            {significant_prefix(c) for c in codes if c.isdigit()} | {"6109", "610429", "99"}
        )
        assert any(p.endswith("9") for p in prefixes if len(p) == 4)
        for collation in collations:
            for prefix in prefixes:
                low, high = prefix_bounds(prefix)
                found = await session.scalar(
                    text(
                        f"SELECT count(*) FROM region WHERE code COLLATE {collation} >= :low"
                        f" AND code COLLATE {collation} < :high"
                    ),
                    {"low": low, "high": high},
                )
                expected = sum(1 for c in codes if c.startswith(prefix))
                assert found == expected, (collation, prefix, found, expected)
