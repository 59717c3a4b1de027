from __future__ import annotations

import httpx

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
