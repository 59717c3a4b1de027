"""双随机 campaigns through the API, on SQLite and PostgreSQL: the region's bureau commits to the
candidate and inspector lists, anyone reads the commitment and, after the draw, the seed and the
result, and the standalone verifier reproduces the draw from what was published."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from portal.accounts.models import Role, User
from tests.enforcement.support import Sites, campaign_body
from tests.support import assert_problem

Headers = Callable[[User], Awaitable[dict[str, str]]]
VERIFIER = Path(__file__).resolve().parents[2] / "scripts" / "verify_draw.py"


async def _verify(path: Path) -> tuple[int, str]:
    """Run the standalone verifier as a citizen would, on the published JSON."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(VERIFIER), str(path), stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_commit_then_draw_and_anyone_verifies(
    client: httpx.AsyncClient,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    tmp_path: Path,
    sites: Sites,
) -> None:
    bureau, qindu, weicheng = sites
    body = campaign_body(weicheng)
    assert (await client.post("/api/v1/enforcement/campaigns", json=body)).status_code == 401
    xian = await auth_headers(await make_user(Role.regulator, region="610100"))
    assert_problem(
        await client.post("/api/v1/enforcement/campaigns", json=body, headers=xian),
        403,
        "region_forbidden",
    )
    created = await client.post("/api/v1/enforcement/campaigns", json=body, headers=bureau)
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["status"] == "committed"
    assert campaign["seed"] is None
    assert campaign["result"] is None
    assert len(campaign["commitment"]) == 64
    assert [c["id"] for c in campaign["candidates"]] == sorted([qindu, weicheng])
    # An individual owner is published masked, an enterprise in full; inspectors masked.
    names = {c["id"]: c["name"] for c in campaign["candidates"]}
    assert names[qindu] == "咸阳市秦都区人民路农贸市场有限公司"
    assert {i["name"] for i in campaign["inspectors"]} == {"张**", "李*", "王*", "赵*"}
    assert "张建国" not in created.text

    public = await client.get(f"/api/v1/inspection-campaigns/{campaign['id']}")
    assert public.status_code == 200
    assert public.json()["commitment"] == campaign["commitment"]
    assert public.json()["seed"] is None
    listed = (await client.get("/api/v1/inspection-campaigns")).json()
    assert listed["items"][0]["candidates"] == 2
    page = await client.get(f"/inspections/{campaign['id']}")
    assert page.status_code == 200
    assert campaign["commitment"] in page.text
    assert "尚未抽取" in page.text

    assert_problem(
        await client.post(f"/api/v1/enforcement/campaigns/{campaign['id']}/draw", headers=xian),
        403,
        "region_forbidden",
    )
    drawn = await client.post(
        f"/api/v1/enforcement/campaigns/{campaign['id']}/draw", headers=bureau
    )
    assert drawn.status_code == 200, drawn.text
    result = drawn.json()
    assert result["status"] == "drawn"
    assert result["commitment"] == campaign["commitment"]
    assert len(result["seed"]) == 64
    assert len(result["result"]) == 1
    site = result["result"][0]
    district = {qindu: "610402", weicheng: "610404"}[site["id"]]
    assert len(site["inspectors"]) == 2
    pool = {i["id"]: i for i in result["inspectors"]}
    for inspector in site["inspectors"]:
        assert pool[inspector]["district"] != district
        assert site["id"] not in pool[inspector]["exclusions"]
    assert_problem(
        await client.post(f"/api/v1/enforcement/campaigns/{campaign['id']}/draw", headers=bureau),
        409,
        "campaign_already_drawn",
    )

    published = (await client.get(f"/api/v1/inspection-campaigns/{campaign['id']}")).text
    path = tmp_path / "campaign.json"
    path.write_text(published, encoding="utf-8")
    code, out = await _verify(path)
    assert code == 0, out
    # One candidate changed after the commitment: verification fails.
    tampered = json.loads(published)
    tampered["candidates"][0]["district"] = "610481"
    path.write_text(json.dumps(tampered, ensure_ascii=False), encoding="utf-8")
    code, out = await _verify(path)
    assert code == 1
    assert "commitment does not match" in out
    page = await client.get(f"/inspections/{campaign['id']}")
    assert result["seed"] in page.text
    assert (await client.get("/inspections")).status_code == 200


async def test_campaigns_refuse_what_cannot_be_drawn_fairly(
    client: httpx.AsyncClient,
    sites: Sites,
) -> None:
    bureau, _, weicheng = sites
    url = "/api/v1/enforcement/campaigns"
    assert_problem(
        await client.post(url, json=campaign_body(weicheng, sample_size=3), headers=bureau),
        422,
        "too_few_candidates",
    )
    assert_problem(
        await client.post(
            url, json=campaign_body(weicheng, categories=["fuel-dispenser"]), headers=bureau
        ),
        422,
        "too_few_candidates",
    )
    # Only inspectors of the sites' own districts: nobody may go.
    local = [
        {"id": "ZF-1", "name": "甲", "district": "610402"},
        {"id": "ZF-2", "name": "乙", "district": "610404"},
    ]
    assert_problem(
        await client.post(url, json=campaign_body(weicheng, inspectors=local), headers=bureau),
        422,
        "inspectors_insufficient",
    )
    twice = [
        {"id": "ZF-1", "name": "甲", "district": "610403"},
        {"id": "ZF-1", "name": "乙", "district": "610481"},
    ]
    assert_problem(
        await client.post(url, json=campaign_body(weicheng, inspectors=twice), headers=bureau),
        422,
        "duplicate_inspector",
    )
    assert_problem(
        await client.post(url, json=campaign_body(weicheng, weighting="loaded"), headers=bureau),
        422,
        "validation_error",
    )
    missing = await client.post(f"{url}/00000000-0000-4000-8000-000000000000/draw", headers=bureau)
    assert_problem(missing, 404, "campaign_not_found")
    assert_problem(
        await client.get("/api/v1/inspection-campaigns/00000000-0000-4000-8000-000000000000"),
        404,
        "campaign_not_found",
    )
