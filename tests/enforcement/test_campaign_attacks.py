"""双随机 campaigns attacked: other regions' and other roles' bureaus, campaigns too large,
repeated and concurrent draws; each answers a problem with a stable code, never a 500."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from enforcement import published
from enforcement.settings import EnforcementSettings
from portal.accounts.models import Role, User
from tests.enforcement.support import Sites, campaign_body
from tests.support import assert_problem

Headers = Callable[[User], Awaitable[dict[str, str]]]
URL = "/api/v1/enforcement/campaigns"


async def test_more_candidates_than_the_bound_is_its_own_problem(
    app: FastAPI,
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    sites: Sites,
) -> None:
    """Too many candidate sites is not "too few": a client told to widen a scope that is too wide
    would do the opposite of what helps."""
    bureau, _, weicheng = sites
    domains = app.state.settings._domains
    monkeypatch.setitem(
        domains, EnforcementSettings, EnforcementSettings(enforcement_max_candidates=1)
    )
    body = campaign_body(weicheng, categories=[], usage_areas=[])
    assert_problem(await client.post(URL, json=body, headers=bureau), 422, "too_many_candidates")


async def test_other_roles_and_regions_cannot_commit_or_draw(
    client: httpx.AsyncClient,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    sites: Sites,
) -> None:
    bureau, qindu, weicheng = sites
    created = await client.post(URL, json=campaign_body(weicheng), headers=bureau)
    assert created.status_code == 201, created.text
    campaign = created.json()["id"]
    # A district's bureau may not commit for its city, nor draw the city's campaign.
    qindu_bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    assert_problem(
        await client.post(URL, json=campaign_body(weicheng), headers=qindu_bureau),
        403,
        "region_forbidden",
    )
    assert_problem(
        await client.post(f"{URL}/{campaign}/draw", headers=qindu_bureau), 403, "region_forbidden"
    )
    for role in (Role.owner, Role.institution, Role.citizen):
        headers = await auth_headers(await make_user(role, region="610400"))
        answer = await client.post(f"{URL}/{campaign}/draw", headers=headers)
        assert answer.status_code == 403, answer.text
        answer = await client.post(URL, json=campaign_body(weicheng), headers=headers)
        assert answer.status_code == 403, answer.text
    assert_problem(
        await client.post(f"{URL}/{campaign}/draw", headers={"Authorization": "Bearer forged"}),
        401,
        "not_authenticated",
    )
    # None of them drew it: the seed is still secret.
    public = (await client.get(f"/api/v1/inspection-campaigns/{campaign}")).json()
    assert public["seed"] is None
    # A region that does not exist, an id that is not one.
    assert_problem(
        await client.post(URL, json=campaign_body(weicheng, region="990000"), headers=bureau),
        422,
        "unknown_region",
    )
    bad = await client.post(f"{URL}/not-a-uuid/draw", headers=bureau)
    assert_problem(bad, 422, "validation_error")
    assert_problem(await client.get("/api/v1/inspection-campaigns/1"), 422, "validation_error")


async def test_huge_or_malformed_campaigns_are_refused_with_a_code(
    client: httpx.AsyncClient,
    sites: Sites,
) -> None:
    bureau, _, weicheng = sites
    many = [{"id": f"ZF-{n}", "name": "某某", "district": "610481"} for n in range(501)]
    cases: list[tuple[dict[str, Any], str]] = [
        (campaign_body(weicheng, inspectors=many), "too_many_inspectors"),
        (campaign_body(weicheng, sample_size=10_001), "validation_error"),
        (campaign_body(weicheng, sample_size=0), "validation_error"),
        (campaign_body(weicheng, sample_size=10_000), "too_few_candidates"),
        (campaign_body(weicheng, title="检" * 201), "validation_error"),
        (campaign_body(weicheng, categories=["%"]), "validation_error"),
        (campaign_body(weicheng, categories=["a"] * 101), "validation_error"),
        (campaign_body(weicheng, band_weights={"high": 3}), "validation_error"),
        (campaign_body(weicheng, region="61040"), "validation_error"),
        (
            campaign_body(
                weicheng,
                inspectors=[
                    {
                        "id": "ZF-1",
                        "name": "甲",
                        "district": "610481",
                        "exclusions": [str(uuid.uuid4()) for _ in range(201)],
                    }
                ],
            ),
            "validation_error",
        ),
        (
            campaign_body(
                weicheng, inspectors=[{"id": "../x", "name": "甲", "district": "610481"}]
            ),
            "validation_error",
        ),
    ]
    for body, code in cases:
        assert_problem(await client.post(URL, json=body, headers=bureau), 422, code)


async def test_two_draws_at_once_draw_once(
    client: httpx.AsyncClient,
    sites: Sites,
) -> None:
    bureau, _, weicheng = sites
    campaign = (await client.post(URL, json=campaign_body(weicheng), headers=bureau)).json()["id"]
    answers = await asyncio.gather(
        *(client.post(f"{URL}/{campaign}/draw", headers=bureau) for _ in range(4))
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409, 409, 409], [a.text for a in answers]


async def test_the_public_answer_is_made_once_per_state(
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    sites: Sites,
) -> None:
    """Anyone may ask for a campaign of 200,000 sites (some 23 MB) as often as they like, with a
    query string that passes the page cache by: the lists are read, digested and serialised once
    per state for the JSON and once for the page, and the draw's new state is answered at once."""
    bureau, _, weicheng = sites
    created = (await client.post(URL, json=campaign_body(weicheng), headers=bureau)).json()
    url = f"/api/v1/inspection-campaigns/{created['id']}"
    loads: list[uuid.UUID] = []
    real_get = published.campaigns.get

    async def counted(session: Any, campaign_id: uuid.UUID) -> Any:
        loads.append(campaign_id)
        return await real_get(session, campaign_id)

    monkeypatch.setattr(published.campaigns, "get", counted)
    answers = [await client.get(f"{url}?n={n}") for n in range(5)]
    assert {a.status_code for a in answers} == {200}
    assert answers[0].headers["cache-control"] == "public, max-age=60"
    assert answers[0].headers["content-type"] == "application/json"
    assert {a.text for a in answers} == {answers[0].text}
    assert answers[0].json() == created
    assert len(loads) <= 1
    page = f"/inspections/{created['id']}"
    pages = [await client.get(f"{page}?n={n}") for n in range(5)]
    assert {p.status_code for p in pages} == {200}
    assert created["commitment"] in pages[0].text
    assert "尚未抽取" in pages[-1].text
    assert len(loads) <= 2
    drawn = (await client.post(f"{URL}/{created['id']}/draw", headers=bureau)).json()
    after = await client.get(f"{url}?n=after")
    assert after.json() == drawn
    assert after.json()["seed"] is not None
    shown = (await client.get(f"{page}?n=after")).text
    assert drawn["seed"] in shown
    site = drawn["result"][0]
    assert next(c["name"] for c in drawn["candidates"] if c["id"] == site["id"]) in shown
    for inspector in site["inspectors"]:
        assert inspector in shown
    assert "尚未抽取" not in shown
    for n in range(3):
        assert (await client.get(f"{page}?again={n}")).status_code == 200
        assert (await client.get(f"{url}?again={n}")).status_code == 200
    assert len(loads) <= 4
    assert (await client.get(f"/inspections/{uuid.uuid4()}")).status_code == 404


async def test_an_inspector_of_an_unknown_district_is_refused(
    client: httpx.AsyncClient, database: Any, sites: Sites
) -> None:
    """The draw keeps an inspector away from the sites of their own district; a district code
    that names no division (a typo of 610404, 渭城区) matched no site and would have sent them to
    their own district's sites. It is refused, naming the field, and nothing is committed."""
    bureau, _, weicheng = sites
    body = campaign_body(weicheng)
    body["inspectors"][1]["district"] = "610440"
    refused = await client.post(URL, json=body, headers=bureau)
    assert_problem(refused, 422, "unknown_region")
    errors = refused.json()["errors"]
    assert [e["field"] for e in errors] == ["body.inspectors.1.district"]
    assert "610440" in refused.json()["detail_zh"]
    listed = await client.get("/api/v1/inspection-campaigns", params={"region": "610400"})
    assert listed.json()["total"] == 0


@pytest.mark.parametrize("asked", ["²", "٣", "9" * 5000, "-1", "1e3", ""])
async def test_a_page_number_of_other_digits_shows_the_first_page(
    client: httpx.AsyncClient, sites: Sites, asked: str
) -> None:
    """``str.isdigit`` is true of "²" and of 5,000 nines, which ``int`` refuses (a 500): the
    public results and the bureau's risk list read such a page number as the first page."""
    bureau, _, weicheng = sites
    created = await client.post(URL, json=campaign_body(weicheng), headers=bureau)
    assert created.status_code == 201, created.text
    results = await client.get(
        f"/inspections/{created.json()['id']}/results", params={"page": asked}
    )
    assert results.status_code == 200, results.text
    risk = await client.get("/backoffice/risk", params={"page": asked}, headers=bureau)
    assert risk.status_code == 200, risk.text


async def test_a_blank_title_or_inspector_name_is_refused(
    client: httpx.AsyncClient, sites: Sites
) -> None:
    """A title or an inspector's name of spaces only passed min_length and was published blank
    (the masked name of "　" is "")."""
    bureau, _, weicheng = sites
    for blank in (" ", "\u3000\t"):
        assert_problem(
            await client.post(URL, json=campaign_body(weicheng, title=blank), headers=bureau),
            422,
            "validation_error",
        )
        body = campaign_body(weicheng)
        body["inspectors"][0]["name"] = blank
        assert_problem(await client.post(URL, json=body, headers=bureau), 422, "validation_error")
    listed = await client.get("/api/v1/inspection-campaigns", params={"region": "610400"})
    assert listed.json()["total"] == 0
