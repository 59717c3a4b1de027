"""Risk scores through the API, on SQLite and PostgreSQL: computed from the platform's facts only
(registrations, the registry, enforcement notices), ranked for the region's bureau, kept with
their evidence, never changed by a later model version; the pure score on exact facts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx

from enforcement.risk_model import (
    DEFAULT_PARAMETERS,
    PARAMETERS_V2,
    RiskParameters,
    SiteInputs,
    score_site,
)
from portal import clock
from portal.accounts.models import OrganizationKind, Role, User
from portal.db import Database
from tests.api.instruments.support import owner_uscc, registration_body
from tests.notices.test_api import notice_payload
from tests.support import assert_problem, new_owner_uscc

Headers = Callable[[User], Awaitable[dict[str, str]]]
PARAMS = RiskParameters.model_validate(DEFAULT_PARAMETERS)
PARAMS_V2 = RiskParameters.model_validate(PARAMETERS_V2)


def _site(**parts: Any) -> SiteInputs:
    return SiteInputs(owner_id="x", owner_name="x", owner_uscc=None, region_code="610402", **parts)


def test_the_score_adds_capped_weighted_parts() -> None:
    site = _site(
        instruments=[
            {"category_code": "scale-pc", "usage_area": "贸易结算", "state": "overdue", "count": 2},
            {
                "category_code": "bp-monitor",
                "usage_area": "医疗卫生",
                "state": "failed",
                "count": 1,
            },
            {"category_code": "scale-pc", "usage_area": "贸易结算", "state": "ok", "count": 50},
        ],
        complaints=[{"tracking_number": "T1"}, {"tracking_number": "T2"}],
        penalties=[{"penalty_kind": "罚款"}, {"penalty_kind": "警告；责令停产停业"}],
        credit=[{"grade": "C", "association_id": "a"}, {"grade": "B", "association_id": "b"}],
        findings=[{"inspection_id": "i1"}, {"inspection_id": "i2"}, {"inspection_id": "i3"}],
    )
    scored = score_site(PARAMS, site)
    parts = {p["factor"]: Decimal(p["points"]) for p in scored.breakdown}
    # 2 × 3 × 1 × 1 + 1 × 5 × 1.5 × 1.5 = 17.25; 2 × 8 = 16; 12 + 20 = 32 → capped at 25; worst C = 7;
    # three failed earlier inspections 3 × 10 = 30 → capped at 20.
    assert parts == {
        "instruments": Decimal("17.25"),
        "complaints": Decimal(16),
        "penalties": Decimal(25),
        "credit": Decimal(7),
        "findings": Decimal(20),
    }
    assert scored.score == Decimal("85.25")
    assert scored.band == "high"
    assert score_site(PARAMS, _site()).score == Decimal(0)
    assert score_site(PARAMS, _site()).band == "low"


def test_the_instrument_part_is_capped() -> None:
    many = [
        {"category_code": "x", "usage_area": "安全防护", "state": "never_verified", "count": 99}
    ]
    scored = score_site(PARAMS, _site(instruments=many))
    assert scored.score == Decimal(40)
    assert scored.breakdown[0]["raw"] == str(Decimal(4) * Decimal("1.5") * 99)


async def _register(client: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> None:
    response = await client.post(
        "/api/v1/instruments", json=registration_body(**body), headers=headers
    )
    assert response.status_code == 201, response.text


async def test_the_bureau_ranks_its_sites_and_scores_keep_their_evidence(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    make_user: Callable[..., Awaitable[User]],
    make_org: Callable[..., Awaitable[Any]],
    auth_headers: Headers,
) -> None:
    owner = await auth_headers(owner_user)
    today = clock.today()
    # Never verified (due the day it is put in use) and overdue (verified three years ago).
    await _register(client, owner)
    await _register(client, owner, last_verified_on=(today - timedelta(days=3 * 366)).isoformat())
    # Another site in 渭城区, verified ten days ago: nothing against it.
    other_org = await make_org(
        kind=OrganizationKind.owner,
        region="610404",
        uscc=new_owner_uscc("610404"),
        name="渭城区某加油站",
    )
    other = await auth_headers(await make_user(Role.owner, region="610404", org=other_org))
    await _register(client, other, last_verified_on=(today - timedelta(days=10)).isoformat())

    bureau_user = await make_user(Role.regulator, region="610400")
    bureau = await auth_headers(bureau_user)
    xian = await auth_headers(await make_user(Role.regulator, region="610100"))
    anonymous = await client.get("/api/v1/enforcement/risk-scores")
    assert anonymous.status_code == 401
    assert_problem(
        await client.get("/api/v1/enforcement/risk-scores?region=610400", headers=xian),
        403,
        "region_forbidden",
    )
    assert_problem(
        await client.post(
            f"/api/v1/enforcement/risk-scores/{owner_user.organization_id}/recompute", headers=xian
        ),
        403,
        "region_forbidden",
    )

    done = await client.post("/api/v1/enforcement/risk-scores/recompute", headers=bureau)
    assert done.status_code == 200, done.text
    assert done.json()["sites"] == 2
    # Versions 1 and 2 are built in; the newest scores.
    assert done.json()["model_version"] == 2

    listed = (await client.get("/api/v1/enforcement/risk-scores", headers=bureau)).json()
    assert listed["total"] == 2
    top = listed["items"][0]
    assert top["owner_id"] == str(owner_user.organization_id)
    assert Decimal(top["score"]) == Decimal(7)  # never verified 4 + overdue 3
    assert top["band"] == "low"
    assert top["categories"] == ["scale-pc"]
    assert top["usage_areas"] == ["贸易结算"]
    assert Decimal(listed["items"][1]["score"]) == 0

    # Filters: district, category, band; paging.
    weicheng = await client.get("/api/v1/enforcement/risk-scores?district=610404", headers=bureau)
    assert [i["owner_name"] for i in weicheng.json()["items"]] == ["渭城区某加油站"]
    fuel = await client.get(
        "/api/v1/enforcement/risk-scores?category=fuel-dispenser", headers=bureau
    )
    assert fuel.json()["total"] == 0
    paged = (await client.get("/api/v1/enforcement/risk-scores?per_page=1", headers=bureau)).json()
    assert len(paged["items"]) == 1
    assert paged["next"]
    assert_problem(
        await client.get("/api/v1/enforcement/risk-scores?category=%25", headers=bureau),
        422,
        "validation_error",
    )

    # A penalty published against the site; its score on demand includes it, the old one stays.
    uscc = await owner_uscc(database, owner_user)
    notice = await client.post(
        "/api/v1/notices",
        json=notice_payload(party_uscc=uscc, decision_number="咸市监处罚〔2026〕7号"),
        headers=bureau,
    )
    assert notice.status_code == 201, notice.text
    site = f"/api/v1/enforcement/risk-scores/{owner_user.organization_id}"
    again = await client.post(f"{site}/recompute", headers=bureau)
    assert again.status_code == 200, again.text
    detail = again.json()
    assert Decimal(detail["score"]) == Decimal(19)
    assert [p["factor"] for p in detail["breakdown"]] == [
        "instruments",
        "complaints",
        "penalties",
        "credit",
        "findings",
        "dishonesty_list",
    ]
    assert detail["inputs"]["penalties"][0]["decision_number"] == "咸市监处罚〔2026〕7号"
    assert detail["inputs"]["dishonesty_list"] == []
    states = {i["state"]: i["count"] for i in detail["inputs"]["instruments"]}
    assert states == {"never_verified": 1, "overdue": 1}
    assert [Decimal(h["score"]) for h in detail["history"]] == [Decimal(19), Decimal(7)]
    # The stored inputs and the model version reproduce the stored score exactly.
    again_scored = score_site(PARAMS_V2, _site(**detail["inputs"]))
    assert again_scored.score == Decimal(detail["score"])
    assert [p["points"] for p in again_scored.breakdown] == [
        p["points"] for p in detail["breakdown"]
    ]

    # A new model version (administrators only) scores from now on; past scores keep theirs.
    params = dict(
        DEFAULT_PARAMETERS,
        instrument_points={"overdue": "10", "never_verified": "4", "failed": "5"},
    )
    assert_problem(
        await client.post(
            "/api/v1/enforcement/risk-models", json={"parameters": params}, headers=bureau
        ),
        403,
    )
    admin = await auth_headers(await make_user(Role.admin, region="610000"))
    published = await client.post(
        "/api/v1/enforcement/risk-models",
        json={"parameters": params, "note": "超期未检加重"},
        headers=admin,
    )
    assert published.status_code == 201, published.text
    assert published.json()["version"] == 3
    bad = dict(params, instrument_cap="-1")
    assert_problem(
        await client.post(
            "/api/v1/enforcement/risk-models", json={"parameters": bad}, headers=admin
        ),
        422,
    )
    third = (await client.post(f"{site}/recompute", headers=bureau)).json()
    assert third["model_version"] == 3
    assert Decimal(third["score"]) == Decimal(26)  # 4 + 10 + 12
    assert [(h["model_version"], Decimal(h["score"])) for h in third["history"]] == [
        (3, Decimal(26)),
        (2, Decimal(19)),
        (2, Decimal(7)),
    ]
    versions = (await client.get("/api/v1/enforcement/risk-models", headers=bureau)).json()
    assert [v["version"] for v in versions] == [3, 2, 1]

    chart = (await client.get("/api/v1/enforcement/risk-districts", headers=bureau)).json()
    assert {(d["region_code"], d["medium"] + d["low"] + d["high"]) for d in chart} == {
        ("610402", 1),
        ("610404", 1),
    }
    assert chart[0]["region_name"]

    missing = await client.get(
        "/api/v1/enforcement/risk-scores/00000000-0000-4000-8000-000000000000", headers=bureau
    )
    assert_problem(missing, 404, "site_not_found")


async def test_the_back_office_page_lists_and_charts_by_district(
    client: httpx.AsyncClient,
    owner_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> None:
    from tests.api.instruments.test_pages import _login

    await _register(client, await auth_headers(owner_user))
    bureau = await make_user(Role.regulator, region="610400")
    assert (await client.get("/backoffice/risk")).status_code == 303
    await client.post(
        "/api/v1/enforcement/risk-scores/recompute", headers=await auth_headers(bureau)
    )
    await _login(client, bureau)
    page = await client.get("/backoffice/risk")
    assert page.status_code == 200
    assert "风险分级监管" in page.text
    assert "咸阳市秦都区人民路农贸市场有限公司" in page.text
    assert "各区县风险分布" in page.text
    assert "秦都区" in page.text
    filtered = await client.get("/backoffice/risk?district=610404&category=scale-pc")
    assert filtered.status_code == 200
    assert "没有符合条件的使用单位" in filtered.text


async def test_the_bureau_opens_a_sites_evidence_from_the_list_and_recomputes_it(
    client: httpx.AsyncClient,
    owner_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> None:
    """The list names districts and categories in Chinese and links each site to its score's
    evidence, as the credit breakdown does: the parts' points, the facts they come from and the
    history; the bureau recomputes one site from there."""
    from tests.api.instruments.test_pages import _login

    await _register(client, await auth_headers(owner_user))
    bureau = await make_user(Role.regulator, region="610400")
    await client.post(
        "/api/v1/enforcement/risk-scores/recompute", headers=await auth_headers(bureau)
    )
    await _login(client, bureau)
    page = (await client.get("/backoffice/risk")).text
    assert f'href="/backoffice/risk/{owner_user.organization_id}"' in page
    assert "秦都区 · 器具 1 台" in page  # the district by name, not 610402
    # Named by the credit code a bureau knows (and may exclude by), not by an internal id.
    assert "统一社会信用代码" in page
    assert "单位编号 <span" not in page
    assert "辖区（咸阳市）" in page
    assert '<option value="scale-pc">电子计价秤</option>' in page  # a category by name
    assert '<option value="610402">秦都区</option>' in page

    detail = await client.get(f"/backoffice/risk/{owner_user.organization_id}")
    assert detail.status_code == 200
    assert "咸阳市秦都区人民路农贸市场有限公司" in detail.text
    assert "从未检定 1 台" in detail.text  # the fact behind the points
    assert "强检器具（超期、未检定、不合格）</td><td>4</td><td>4</td>" in detail.text
    assert "模型第 2 版" in detail.text
    assert "列入严重违法失信名单</td><td>0</td><td>0</td>" in detail.text
    assert "未被列入。" in detail.text

    again = await client.post(f"/backoffice/risk/{owner_user.organization_id}/recompute")
    assert again.status_code == 303
    shown = await client.get(again.headers["location"])
    assert "已按平台当前数据重新计算" in shown.text
    assert shown.text.count("模型第 2 版 · 当前") == 1
    # Another region's bureau neither reads nor recomputes it.
    client.cookies.clear()
    await _login(client, await make_user(Role.regulator, region="610100"))
    assert (await client.get(f"/backoffice/risk/{owner_user.organization_id}")).status_code == 403
    refused = await client.post(f"/backoffice/risk/{owner_user.organization_id}/recompute")
    assert refused.status_code == 403


async def test_a_site_without_active_registrations_leaves_the_list(
    client: httpx.AsyncClient,
    owner_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> None:
    created = await client.post(
        "/api/v1/instruments", json=registration_body(), headers=await auth_headers(owner_user)
    )
    assert created.status_code == 201, created.text
    bureau = await auth_headers(await make_user(Role.regulator, region="610400"))
    await client.post("/api/v1/enforcement/risk-scores/recompute", headers=bureau)
    listed = await client.get("/api/v1/enforcement/risk-scores", headers=bureau)
    assert listed.json()["total"] == 1
    rejected = await client.post(
        f"/api/v1/instruments/{created.json()['id']}/reject",
        json={"reason": "非强制检定器具"},
        headers=bureau,
    )
    assert rejected.status_code == 200, rejected.text
    done = await client.post("/api/v1/enforcement/risk-scores/recompute", headers=bureau)
    assert done.json()["sites"] == 0
    listed = await client.get("/api/v1/enforcement/risk-scores", headers=bureau)
    assert listed.json()["total"] == 0
    site = f"/api/v1/enforcement/risk-scores/{owner_user.organization_id}"
    assert_problem(await client.get(site, headers=bureau), 404, "risk_score_not_found")
