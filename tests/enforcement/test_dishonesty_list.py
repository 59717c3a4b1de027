"""The serious dishonesty list (严重违法失信名单) in the risk model, on SQLite and PostgreSQL: a notice
records the listing, version 2 of the model scores it with the notice as evidence, removal (移出)
ends it, and no new model version changes a score stored under an earlier one (version 1
included); the risk list filtered by a district's name; campaign exclusions by 单位编号 or credit
code, an unknown one refused."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from enforcement import risk_models
from enforcement.models import RiskModel, RiskScore
from enforcement.risk_model import (
    DEFAULT_PARAMETERS,
    PARAMETERS_V2,
    RiskParameters,
    SiteInputs,
    score_site,
)
from portal import clock
from portal.accounts.models import Organization, Role, User
from portal.db import Database
from tests.enforcement.support import Headers, Sites, campaign_body
from tests.notices.test_api import notice_payload
from tests.support import assert_problem

API = "/api/v1/enforcement"
LISTING = "列入严重违法失信名单"


def _site(**parts: Any) -> SiteInputs:
    return SiteInputs(owner_id="x", owner_name="x", owner_uscc=None, region_code="610402", **parts)


def test_version_2_scores_the_listing_and_version_1_has_no_such_part() -> None:
    listed = [{"notice_id": "n", "decision_number": "D", "url": "/notices/n"}]
    v1 = score_site(
        RiskParameters.model_validate(DEFAULT_PARAMETERS), _site(dishonesty_list=listed)
    )
    assert v1.score == 0
    assert [p["factor"] for p in v1.breakdown] == [
        "instruments",
        "complaints",
        "penalties",
        "credit",
        "findings",
    ]
    v2_params = RiskParameters.model_validate(PARAMETERS_V2)
    v2 = score_site(v2_params, _site(dishonesty_list=listed * 2))
    part = v2.breakdown[-1]
    # 30 points for each listing, capped at 30; the notice linked.
    assert part == {"factor": "dishonesty_list", "points": "30", "raw": "60", "evidence": [
        "/notices/n",
        "/notices/n",
    ]}  # fmt: skip
    assert v2.score == 30
    assert v2.band == "medium"
    assert score_site(v2_params, _site()).breakdown[-1]["points"] == "0"


async def _uscc(database: Database, owner_id: str) -> str:
    async with database.sessionmaker() as session:
        org = await session.get(Organization, uuid.UUID(owner_id))
    assert org is not None
    assert org.uscc
    return org.uscc


async def _rows(database: Database) -> dict[str, tuple[Any, ...]]:
    """Every stored score, by id: everything but whether it is current."""
    async with database.sessionmaker() as session:
        rows = (await session.scalars(select(RiskScore))).all()
    return {
        str(r.id): (
            r.owner_id,
            r.model_version,
            Decimal(r.score),
            r.band,
            r.inputs,
            r.breakdown,
            r.as_of,
            r.computed_at,
            r.categories,
            r.instruments,
        )
        for r in rows
    }


async def test_a_listing_notice_raises_the_score_with_the_notice_as_evidence(
    client: httpx.AsyncClient,
    database: Database,
    sites: Sites,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> None:
    bureau, qindu, _ = sites
    site = f"{API}/risk-scores/{qindu}"
    before = (await client.get(site, headers=bureau)).json()
    assert before["model_version"] == 2
    parts = {p["factor"]: p for p in before["breakdown"]}
    assert Decimal(parts["dishonesty_list"]["points"]) == 0
    uscc = await _uscc(database, qindu)

    # A listing names the party by its credit code.
    assert_problem(
        await client.post(
            "/api/v1/notices",
            json=notice_payload(
                decision_number="咸市监信列〔2026〕90号",
                party_uscc=None,
                party_kind="enterprise",
                penalty_kind=LISTING,
                penalty_amount=None,
            ),
            headers=bureau,
        ),
        422,
        "listing_without_credit_code",
    )
    published_on = clock.today() - timedelta(days=10)
    created = await client.post(
        "/api/v1/notices",
        json=notice_payload(
            title="某单位列入严重违法失信名单",
            decision_number="咸市监信列〔2026〕91号",
            party_uscc=uscc,
            penalty_kind=LISTING,
            penalty_amount=None,
            decision_date=(published_on - timedelta(days=2)).isoformat(),
            published_on=published_on.isoformat(),
        ),
        headers=bureau,
    )
    assert created.status_code == 201, created.text
    notice = created.json()
    # On the list for three years from publication, unless removed earlier.
    assert notice["display_until"] == clock.add_months(published_on, 36).isoformat()
    assert notice["serious_dishonesty_list"] == {
        "entered_on": (published_on - timedelta(days=2)).isoformat(),
        "listed_until": notice["display_until"],
        "removed_on": None,
    }

    again = await client.post(f"{site}/recompute", headers=bureau)
    assert again.status_code == 200, again.text
    detail = again.json()
    parts = {p["factor"]: p for p in detail["breakdown"]}
    assert Decimal(parts["dishonesty_list"]["points"]) == 30
    assert parts["dishonesty_list"]["evidence"] == [notice["url"]]
    assert Decimal(detail["score"]) == Decimal(before["score"]) + 30
    (entry,) = detail["inputs"]["dishonesty_list"]
    assert entry["decision_number"] == "咸市监信列〔2026〕91号"
    assert entry["url"] == notice["url"] == f"/notices/{notice['id']}"
    # A listing alone is a credit measure, not an administrative penalty.
    assert detail["inputs"]["penalties"] == []
    assert Decimal(parts["penalties"]["points"]) == 0
    # The stored inputs reproduce the stored score exactly under version 2.
    rescored = score_site(RiskParameters.model_validate(PARAMETERS_V2), _site(**detail["inputs"]))
    assert rescored.score == Decimal(detail["score"])
    assert [Decimal(p["points"]) for p in rescored.breakdown] == [
        Decimal(p["points"]) for p in detail["breakdown"]
    ]
    assert rescored.breakdown[-1]["evidence"] == [notice["url"]]

    # The back office shows the factor and links the notice.
    from tests.api.instruments.test_pages import _login

    bureau_user = await make_user(Role.regulator, region="610400")
    await _login(client, bureau_user)
    page = await client.get(f"/backoffice/risk/{qindu}")
    assert page.status_code == 200
    assert "列入严重违法失信名单</td><td>30</td><td>30</td>" in page.text
    assert f'<a href="{notice["url"]}">咸市监信列〔2026〕91号</a>' in page.text
    client.cookies.clear()

    # Removed from the list (移出) yesterday: the display ends, the listing no longer counts.
    yesterday = clock.today() - timedelta(days=1)
    removed = await client.patch(
        f"/api/v1/notices/{notice['id']}",
        json={"display_until": yesterday.isoformat()},
        headers=bureau,
    )
    assert removed.status_code == 200, removed.text
    assert removed.json()["serious_dishonesty_list"]["removed_on"] == clock.today().isoformat()
    third = (await client.post(f"{site}/recompute", headers=bureau)).json()
    parts = {p["factor"]: p for p in third["breakdown"]}
    assert Decimal(parts["dishonesty_list"]["points"]) == 0
    assert third["inputs"]["dishonesty_list"] == []
    assert Decimal(third["score"]) == Decimal(before["score"])
    history = [Decimal(h["score"]) for h in third["history"]]
    assert history[:3] == [
        Decimal(before["score"]),
        Decimal(before["score"]) + 30,
        Decimal(before["score"]),
    ]


async def test_a_new_model_version_never_changes_stored_scores(
    client: httpx.AsyncClient,
    database: Database,
    sites: Sites,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A deployment scored under version 1 only, before version 2 existed; then version 2
    arrives (the listing counts from now on), then an administrator's version 3: every score
    stored before each step stays exactly as it was, only no longer current."""
    bureau, qindu, weicheng = sites
    # Start again as a deployment from before version 2: only version 1 stored and built in.
    async with database.transaction() as session:
        await session.execute(RiskScore.__table__.delete())  # type: ignore[attr-defined]
        await session.execute(
            RiskModel.__table__.delete().where(  # type: ignore[attr-defined]
                col(RiskModel.version) > 1
            )
        )
    with monkeypatch.context() as patched:
        patched.setattr(risk_models, "BUILT_IN_VERSIONS", {1: risk_models.BUILT_IN_VERSIONS[1]})
        first = await client.post(f"{API}/risk-scores/recompute", headers=bureau)
        assert first.json()["model_version"] == 1
    v1_rows = await _rows(database)
    assert len(v1_rows) == 2
    assert all("dishonesty_list" not in [p["factor"] for p in r[5]] for r in v1_rows.values())

    uscc = await _uscc(database, qindu)
    listed = await client.post(
        "/api/v1/notices",
        json=notice_payload(
            decision_number="咸市监信列〔2026〕92号",
            party_uscc=uscc,
            penalty_kind=f"罚款；{LISTING}",
        ),
        headers=bureau,
    )
    assert listed.status_code == 201, listed.text
    # Version 2 is stored on first use and scores from now on.
    second = await client.post(f"{API}/risk-scores/recompute", headers=bureau)
    assert second.json()["model_version"] == 2
    after_v2 = await _rows(database)
    assert {k: after_v2[k] for k in v1_rows} == v1_rows
    v2_rows = {k: v for k, v in after_v2.items() if k not in v1_rows}
    qindu_v2 = next(v for v in v2_rows.values() if str(v[0]) == qindu)
    qindu_v1 = next(v for v in v1_rows.values() if str(v[0]) == qindu)
    # The same facts: the penalty (12) counted by both, the listing (30) by version 2 alone.
    assert qindu_v2[2] == qindu_v1[2] + 12 + 30

    admin = await auth_headers(await make_user(Role.admin, region="610000"))
    published = await client.post(
        f"{API}/risk-models",
        json={"parameters": dict(PARAMETERS_V2, listing_points="50", listing_cap="50")},
        headers=admin,
    )
    assert published.status_code == 201, published.text
    assert published.json()["version"] == 3
    third = await client.post(f"{API}/risk-scores/recompute", headers=bureau)
    assert third.json()["model_version"] == 3
    after_v3 = await _rows(database)
    assert {k: after_v3[k] for k in after_v2} == after_v2
    async with database.sessionmaker() as session:
        current = (
            await session.scalars(select(RiskScore).where(col(RiskScore.current).is_(True)))
        ).all()
    assert {r.model_version for r in current} == {3}
    assert {str(r.id) for r in current}.isdisjoint(after_v2)
    # Each stored score is reproduced from its stored inputs under its own version.
    versions = {
        v["version"]: RiskParameters.model_validate(v["parameters"])
        for v in (await client.get(f"{API}/risk-models", headers=bureau)).json()
    }
    for row in after_v3.values():
        again = score_site(versions[row[1]], _site(**row[4]))
        assert again.score == row[2]
        assert [Decimal(p["points"]) for p in again.breakdown] == [
            Decimal(p["points"]) for p in row[5]
        ]
    detail = (await client.get(f"{API}/risk-scores/{qindu}", headers=bureau)).json()
    assert [h["model_version"] for h in detail["history"]] == [3, 2, 1]
    assert weicheng


async def test_the_risk_list_filters_by_a_district_name(
    client: httpx.AsyncClient, sites: Sites
) -> None:
    bureau, qindu, weicheng = sites

    async def ids(**params: str) -> list[str]:
        answer = await client.get(f"{API}/risk-scores", params=params, headers=bureau)
        assert answer.status_code == 200, answer.text
        return [i["owner_id"] for i in answer.json()["items"]]

    assert await ids(district_name="渭城区") == [weicheng]
    assert await ids(district_name=" 秦都区 ") == [qindu]
    assert await ids(district_name="陕西省咸阳市渭城区") == [weicheng]
    assert await ids(district_name="渭城区", district="610402") == []
    assert sorted(await ids(district_name="咸阳市")) == sorted([qindu, weicheng])
    # A name outside the region, or none at all: a 422, not an empty list reading "no risk".
    for name in ("未央区", "不存在区", "%"):
        assert_problem(
            await client.get(f"{API}/risk-scores", params={"district_name": name}, headers=bureau),
            422,
            "district_not_found",
        )
    for bad in ("", "区" * 65):
        assert_problem(
            await client.get(f"{API}/risk-scores", params={"district_name": bad}, headers=bureau),
            422,
            "validation_error",
        )


async def test_campaign_exclusions_by_unit_number_or_credit_code(
    client: httpx.AsyncClient, database: Database, sites: Sites
) -> None:
    bureau, qindu, weicheng = sites
    uscc = await _uscc(database, qindu)
    URL = f"{API}/campaigns"

    def body(*exclusions: str) -> dict[str, Any]:
        data = campaign_body(weicheng)
        data["inspectors"][3]["exclusions"] = list(exclusions)
        return data

    unknown_id = "00000000-0000-4000-8000-000000000000"
    unknown_uscc = "91610402MA6XN3EX15"  # a well-formed code of no owner site
    for exclusions in ((unknown_id,), (weicheng, unknown_uscc), (unknown_uscc.lower(),)):
        refused = await client.post(URL, json=body(*exclusions), headers=bureau)
        assert_problem(refused, 422, "exclusion_not_found")
        problem = refused.json()
        assert problem["errors"][0]["field"] == "body.inspectors.3.exclusions"
        assert weicheng not in problem["detail"]
    for malformed in ("abc", "1" * 41, "O" * 18, "0" * 31):
        assert_problem(
            await client.post(URL, json=body(malformed), headers=bureau), 422, "validation_error"
        )

    created = await client.post(
        URL, json=body(uscc.lower(), f" {weicheng.upper()} ", weicheng), headers=bureau
    )
    assert created.status_code == 201, created.text
    pool = {i["id"]: i for i in created.json()["inspectors"]}
    # Stored (and committed to) as the sites' 单位编号, each once.
    assert pool["ZF-004"]["exclusions"] == sorted([qindu, weicheng])
    assert pool["ZF-001"]["exclusions"] == []


async def test_an_exclusion_naming_a_site_outside_the_campaigns_region_is_refused(
    client: httpx.AsyncClient, sites: Sites, make_org: Callable[..., Awaitable[Any]]
) -> None:
    """An exclusion only means something within the region drawn from: one naming an owner site
    of another region (a code mistyped into a real enterprise elsewhere) excluded nothing and was
    accepted, pairing the inspector with the site they meant to avoid; and the 201 against the
    422 told a bureau which credit codes own a site in another region."""
    from portal.accounts.models import OrganizationKind
    from tests.support import new_owner_uscc

    bureau, _, weicheng = sites
    uscc = new_owner_uscc("610112")
    elsewhere = await make_org(kind=OrganizationKind.owner, region="610112", uscc=uscc)
    for excluded in (str(elsewhere.id), uscc):
        data = campaign_body(weicheng)
        data["inspectors"][3]["exclusions"] = [weicheng, excluded]
        refused = await client.post(f"{API}/campaigns", json=data, headers=bureau)
        assert_problem(refused, 422, "exclusion_not_found")
        assert refused.json()["errors"][0]["field"] == "body.inspectors.3.exclusions"


async def test_every_site_of_a_listed_enterprise_scores_its_listing(
    client: httpx.AsyncClient,
    database: Database,
    sites: Sites,
    make_user: Callable[..., Awaitable[User]],
    make_org: Callable[..., Awaitable[Any]],
    auth_headers: Headers,
) -> None:
    """An enterprise may have several owner sites under one credit code (exclusions name "every
    site of it"); the listing is the enterprise's, so every one of them scores it. The facts were
    matched to sites through a map of one site per credit code: all but one site of a listed
    enterprise scored no listing (nor its penalties, complaints and credit grade)."""
    from portal.accounts.models import OrganizationKind
    from tests.api.instruments.support import registration_body

    bureau, qindu, _ = sites
    uscc = await _uscc(database, qindu)
    branch = await make_org(
        kind=OrganizationKind.owner, region="610402", uscc=uscc, name="二号门店"
    )
    staff = await auth_headers(await make_user(Role.owner, region="610402", org=branch))
    registered = await client.post("/api/v1/instruments", json=registration_body(), headers=staff)
    assert registered.status_code == 201, registered.text
    created = await client.post(
        "/api/v1/notices",
        json=notice_payload(
            decision_number="咸市监信列〔2026〕95号",
            party_uscc=uscc,
            penalty_kind=LISTING,
            penalty_amount=None,
        ),
        headers=bureau,
    )
    assert created.status_code == 201, created.text
    done = await client.post(f"{API}/risk-scores/recompute", headers=bureau)
    assert done.json()["sites"] == 3
    for owner in (qindu, str(branch.id)):
        score = (await client.get(f"{API}/risk-scores/{owner}", headers=bureau)).json()
        parts = {p["factor"]: p for p in score["breakdown"]}
        assert Decimal(parts["dishonesty_list"]["points"]) == 30, owner
