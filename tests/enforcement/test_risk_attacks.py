"""Risk scores attacked: a district's bureau reaching its neighbour's or the city's sites, other
roles, forged tokens, ids that are not sites; each a 4xx problem with a stable code."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import httpx

from enforcement.risk_model import DEFAULT_PARAMETERS
from portal.accounts.models import Role, User
from tests.enforcement.support import Sites
from tests.support import assert_problem

Headers = Callable[[User], Awaitable[dict[str, str]]]
API = "/api/v1/enforcement"


async def test_a_district_bureau_reaches_only_its_district(
    client: httpx.AsyncClient,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    sites: Sites,
) -> None:
    _, qindu, weicheng = sites
    qindu_bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    mine = await client.get(f"{API}/risk-scores", headers=qindu_bureau)
    assert mine.status_code == 200, mine.text
    assert [s["owner_id"] for s in mine.json()["items"]] == [qindu]
    forbidden = [
        client.get(f"{API}/risk-scores/{weicheng}", headers=qindu_bureau),
        client.post(f"{API}/risk-scores/{weicheng}/recompute", headers=qindu_bureau),
        client.get(f"{API}/risk-scores?region=610404", headers=qindu_bureau),
        client.get(f"{API}/risk-scores?region=610400", headers=qindu_bureau),
        client.get(f"{API}/risk-scores?district=610404", headers=qindu_bureau),
        client.get(f"{API}/risk-districts?region=610400", headers=qindu_bureau),
        client.get(f"{API}/risk-districts?region=610000", headers=qindu_bureau),
        client.post(f"{API}/risk-scores/recompute?region=610404", headers=qindu_bureau),
        client.post(f"{API}/risk-scores/recompute?region=610000", headers=qindu_bureau),
    ]
    for pending in forbidden:
        assert_problem(await pending, 403, "region_forbidden")
    page = await client.get("/backoffice/risk?region=610404", headers=qindu_bureau)
    assert page.status_code == 403
    assert "渭城" not in page.text


async def test_other_roles_forged_tokens_and_non_sites(
    client: httpx.AsyncClient,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    sites: Sites,
) -> None:
    bureau, qindu, _ = sites
    # (An administrator may: every action is theirs, portal/accounts/permissions.py.)
    for role in (Role.owner, Role.institution, Role.citizen):
        headers = await auth_headers(await make_user(role, region="610400"))
        for answer in (
            await client.get(f"{API}/risk-scores", headers=headers),
            await client.get(f"{API}/risk-scores/{qindu}", headers=headers),
            await client.post(f"{API}/risk-scores/recompute", headers=headers),
            await client.get(f"{API}/risk-districts", headers=headers),
        ):
            assert answer.status_code == 403, (role, answer.text)
    for token in ("forged", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", ""):
        answer = await client.get(
            f"{API}/risk-scores", headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 401, answer.text
    institution = await make_user(Role.institution, region="610400")
    for site in (str(uuid.uuid4()), str(institution.organization_id)):
        assert_problem(
            await client.get(f"{API}/risk-scores/{site}", headers=bureau), 404, "site_not_found"
        )
    for query in (
        "region=6104", "region=61040x", "district=%25", "category=%25", "band=extreme",
        "page=0", "page=99999999999", "per_page=100000",
    ):  # fmt: skip
        answer = await client.get(f"{API}/risk-scores?{query}", headers=bureau)
        assert answer.status_code == 422, (query, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert_problem(
        await client.get(f"{API}/risk-scores/not-a-uuid", headers=bureau), 422, "validation_error"
    )
    assert_problem(
        await client.get(f"{API}/risk-scores?region=990000", headers=bureau), 422, "unknown_region"
    )


async def test_a_model_version_with_negative_huge_or_unknown_values_is_refused(
    client: httpx.AsyncClient,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    sites: Sites,
) -> None:
    """A careless administrator's model must not make overdue instruments lower the risk, nor
    break every later recomputation (a score of -10^30 cannot be stored, and quantising it
    raised), nor store unbounded text."""
    bureau, _, _ = sites
    admin = await auth_headers(await make_user(Role.admin, region="610000"))
    points = DEFAULT_PARAMETERS["instrument_points"]
    for change in (
        {"instrument_points": dict(points, overdue="-1e30")},
        {"instrument_points": dict(points, overdue="1e30")},
        {"instrument_points": dict(points, overdu="3")},
        {"category_weights": {"scale-pc": "-3"}},
        {"category_weights": {"scale-pc": "1e30"}},
        {"category_weights": {"x" * 5000: "1"}},
        {"usage_area_weights": {"贸易结算": "-1"}},
        {"credit_grade_points": {"D": "-100"}},
        {"credit_grade_points": {"D" * 5000: "1"}},
        {"serious_penalties": ["吊" * 5000]},
        {"high_band_from": "10", "medium_band_from": "20"},
        {"listing_points": "-30"},
        {"listing_points": "1e30"},
        {"listing_cap": "-1"},
    ):
        body = {"parameters": dict(DEFAULT_PARAMETERS, **change)}
        answer = await client.post(f"{API}/risk-models", json=body, headers=admin)
        assert_problem(answer, 422, "validation_error")
    # Nothing was published: recomputing still works with the newest built-in version.
    done = await client.post(f"{API}/risk-scores/recompute", headers=bureau)
    assert done.status_code == 200, done.text
    assert done.json()["model_version"] == 2


async def test_recomputations_at_once_all_succeed_and_leave_one_current_score(
    client: httpx.AsyncClient,
    sites: Sites,
) -> None:
    bureau, qindu, _ = sites
    answers = await asyncio.gather(
        client.post(f"{API}/risk-scores/recompute", headers=bureau),
        client.post(f"{API}/risk-scores/recompute", headers=bureau),
        client.post(f"{API}/risk-scores/{qindu}/recompute", headers=bureau),
        client.post(f"{API}/risk-scores/{qindu}/recompute", headers=bureau),
    )
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    listed = (await client.get(f"{API}/risk-scores", headers=bureau)).json()
    assert listed["total"] == 2
