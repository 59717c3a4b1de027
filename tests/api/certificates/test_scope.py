"""Institutions' authorisation scope (授权证书): recorded by the issuing bureau, read by the
institution, and enforced on every path that creates certificates (issue, correct, import)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from api.certificates.models import InstitutionAuthorisation
from api.certificates.queries import today_local
from api.certificates.schemas import AuthorisationCreate
from api.certificates.scope import Grant, Scope, load_scope, record_authorisation
from api.certificates.store import common_region
from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.db import Database
from tests.api.certificates.support import cert_body, days
from tests.api.certificates.test_import import CN_HEADER, cn_row
from tests.support import assert_problem

MakeUser = Callable[..., Awaitable[User]]
MakeOrg = Callable[..., Awaitable[Organization]]
Headers = Callable[[User], Awaitable[dict[str, str]]]


def scope_body(institution: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "institution": institution,
        "certificate_number": "(陕)法计(2025)61040009号",
        "issuer_name": "咸阳市市场监督管理局",
        "issuer_region_code": "610400",
        "categories": ["scale-pc", "taximeter"],
        "regions": ["610402"],
        "valid_from": days(-365),
        "valid_until": days(365),
    }
    body.update(overrides)
    return body


async def _setup(
    make_org: MakeOrg, make_user: MakeUser, auth_headers: Headers
) -> tuple[Organization, dict[str, str], dict[str, str]]:
    org = await make_org(kind=OrganizationKind.institution, region="610400")
    institution = await auth_headers(await make_user(Role.institution, region="610400", org=org))
    regulator = await auth_headers(await make_user(Role.regulator, region="610400"))
    return org, institution, regulator


async def test_scope_is_recorded_by_the_bureau_and_refuses_certificates_outside_it(
    client: httpx.AsyncClient, make_org: MakeOrg, make_user: MakeUser, auth_headers: Headers
) -> None:
    org, institution, regulator = await _setup(make_org, make_user, auth_headers)
    # Nothing recorded: issues as before (the setting is off by default).
    before = await client.post(
        "/api/v1/certificates", json=cert_body(region_code="610403"), headers=institution
    )
    assert before.status_code == 201, before.text

    created = await client.post(
        "/api/v1/institution-authorisations", json=scope_body(org.code), headers=regulator
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "valid"
    assert (
        created.json()["category_names"] == ["电子计价秤", "出租汽车计价器"]
        or created.json()["category_names"][0] == "电子计价秤"
    )

    inside = await client.post(
        "/api/v1/certificates", json=cert_body(region_code="610402"), headers=institution
    )
    assert inside.status_code == 201, inside.text

    for body, field in (
        (cert_body(region_code="610403"), "region_code"),
        (cert_body(category_code="water-meter", valid_until=days(300)), "category_code"),
        (cert_body(verified_on="2020-01-06", valid_until="2020-12-31"), "verified_on"),
    ):
        refused = await client.post("/api/v1/certificates", json=body, headers=institution)
        problem = assert_problem(refused, 422, "certificate_outside_scope")
        assert problem["errors"][0]["field"] == field, problem
        assert problem["errors"][0]["type"] == "outside_scope"
        assert problem["detail_zh"]
        # Nothing of the refused certificate is stored.
        assert (await client.get(f"/api/v1/certificates/{body['number']}")).status_code == 404

    # The bulk import refuses the same rows one by one and stores the others.
    content = "\n".join(
        [
            CN_HEADER,
            cn_row("SC-IMPORT-1", "SCI-1"),
            cn_row("SC-IMPORT-2", "SCI-2", region="610403"),
            cn_row("SC-IMPORT-3", "SCI-3", category="水表"),
        ]
    ).encode("utf-8")
    report = await client.post(
        "/api/v1/certificates/import",
        files={"file": ("scope.csv", content)},
        headers=institution,
    )
    assert report.status_code == 200, report.text
    data = report.json()
    assert (data["created"], data["failed"]) == (1, 2), data
    assert {(e["line"], e["column"], e["code"]) for e in data["errors"]} == {
        (3, "region_code", "outside_scope"),
        (4, "category_code", "outside_scope"),
    }
    assert (await client.get("/api/v1/certificates/SC-IMPORT-2")).status_code == 404

    # Revoked: it covers nothing, and the institution issues nothing.
    revoked = await client.post(
        f"/api/v1/institution-authorisations/{created.json()['id']}/revoke",
        json={"reason": "录入错误"},
        headers=regulator,
    )
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked"
    assert_problem(
        await client.post("/api/v1/certificates", json=cert_body(), headers=institution),
        422,
        "certificate_outside_scope",
    )


async def test_the_institution_sees_its_own_and_cannot_record_or_see_others(
    client: httpx.AsyncClient, make_org: MakeOrg, make_user: MakeUser, auth_headers: Headers
) -> None:
    org, institution, regulator = await _setup(make_org, make_user, auth_headers)
    other = await auth_headers(await make_user(Role.institution, region="610400"))
    # An institution recording its own scope is refused.
    assert_problem(
        await client.post(
            "/api/v1/institution-authorisations",
            json=scope_body(org.code, categories=["scale-pc", "water-meter"], regions=["610000"]),
            headers=institution,
        ),
        403,
    )
    created = await client.post(
        "/api/v1/institution-authorisations", json=scope_body(org.code), headers=regulator
    )
    assert created.status_code == 201, created.text
    auth_id = created.json()["id"]
    own = await client.get("/api/v1/institution-authorisations", headers=institution)
    assert [a["id"] for a in own.json()["items"]] == [auth_id]
    assert (
        await client.get(f"/api/v1/institution-authorisations/{auth_id}", headers=institution)
    ).status_code == 200
    assert (await client.get("/api/v1/institution-authorisations", headers=other)).json()[
        "items"
    ] == []
    assert_problem(
        await client.get(f"/api/v1/institution-authorisations/{auth_id}", headers=other),
        404,
        "authorisation_not_found",
    )
    assert_problem(
        await client.post(
            f"/api/v1/institution-authorisations/{auth_id}/revoke",
            json={"reason": "自行撤销"},
            headers=institution,
        ),
        403,
    )


async def test_regulators_record_only_within_their_region_and_forged_codes_are_refused(
    client: httpx.AsyncClient, make_org: MakeOrg, make_user: MakeUser, auth_headers: Headers
) -> None:
    org, _, regulator = await _setup(make_org, make_user, auth_headers)
    xian = await auth_headers(await make_user(Role.regulator, region="610100"))
    assert_problem(
        await client.post(
            "/api/v1/institution-authorisations", json=scope_body(org.code), headers=xian
        ),
        403,
        "region_forbidden",
    )
    # A 西安 regulator cannot read what 咸阳 issued either.
    created = await client.post(
        "/api/v1/institution-authorisations", json=scope_body(org.code), headers=regulator
    )
    assert created.status_code == 201
    assert_problem(
        await client.get(
            f"/api/v1/institution-authorisations/{created.json()['id']}", headers=xian
        ),
        404,
    )
    for body, kind in (
        (
            scope_body(org.code, certificate_number="F-1", categories=["scale-pc", "no-such"]),
            "unknown_category",
        ),
        (
            scope_body(org.code, certificate_number="F-2", categories=["电子计价秤"]),
            "unknown_category",
        ),
        (
            scope_body(org.code, certificate_number="F-3", regions=["610102"]),
            "region_outside_issuer",
        ),
        (scope_body(org.code, certificate_number="F-4", regions=["619999"]), "unknown_region"),
        (
            scope_body(
                org.code, certificate_number="F-5", valid_from=days(10), valid_until=days(-10)
            ),
            "valid_until_before_valid_from",
        ),
    ):
        problem = assert_problem(
            await client.post("/api/v1/institution-authorisations", json=body, headers=regulator),
            422,
            "authorisation_invalid",
        )
        assert kind in {e["type"] for e in problem["errors"]}, problem
    assert (
        await client.post(
            "/api/v1/institution-authorisations",
            json=scope_body(org.code, categories=["x" * 33]),
            headers=regulator,
        )
    ).status_code == 422
    assert_problem(
        await client.post(
            "/api/v1/institution-authorisations", json=scope_body(org.code), headers=regulator
        ),
        409,
        "authorisation_exists",
    )


async def test_required_scope_refuses_an_institution_with_none(
    database: Database, make_org: MakeOrg
) -> None:
    org = await make_org(kind=OrganizationKind.institution, region="610400")
    async with database.sessionmaker() as session:
        assert await load_scope(session, org.id, required=False) is None
        required = await load_scope(session, org.id, required=True)
    assert required is not None
    problem = required.problem("scale-pc", ["610402"], today_local())
    assert problem is not None
    assert problem.code == "outside_scope"


def test_a_region_covers_its_subregions_and_one_grant_must_cover_both() -> None:
    on = date(2026, 6, 1)
    scope = Scope(
        (
            Grant("A", frozenset({"scale-pc"}), ("610400",), on - timedelta(1), on),
            Grant("B", frozenset({"taximeter"}), ("610100",), on - timedelta(1), on),
        )
    )
    assert scope.problem("scale-pc", ["610402"], on) is None
    assert scope.problem("taximeter", ["610112"], on) is None
    # Each grant covers one part: scale-pc in 西安 is covered by neither.
    outside = scope.problem("scale-pc", ["610112"], on)
    assert outside is not None
    assert outside.column == "region_code"
    late = scope.problem("scale-pc", ["610402"], on + timedelta(1))
    assert late is not None
    assert late.column == "verified_on"


def test_a_held_certificate_goes_to_the_bureau_that_covers_every_candidate() -> None:
    assert common_region(["610402"]) == "610402"
    assert common_region(["610402", "610402"]) == "610402"
    assert common_region(["610402", "610404"]) == "610400"
    assert common_region(["610402", "610112"]) == "610000"


async def test_another_provinces_bureau_cannot_stop_an_institution_at_home(
    client: httpx.AsyncClient, make_org: MakeOrg, make_user: MakeUser, auth_headers: Headers
) -> None:
    """An institution of 咸阳 with nothing recorded issues as before. A regulator of 北京 records
    an authorisation for it covering 东城区 only, then revokes it: the 咸阳 institution's
    certificates for 咸阳 must not be refused because of what another province's bureau did."""
    org, institution, _ = await _setup(make_org, make_user, auth_headers)
    beijing = await auth_headers(await make_user(Role.regulator, region="110000"))
    recorded = await client.post(
        "/api/v1/institution-authorisations",
        json=scope_body(
            org.code,
            issuer_name="北京市市场监督管理局",
            issuer_region_code="110000",
            regions=["110101"],
        ),
        headers=beijing,
    )
    if recorded.status_code == 201:
        revoked = await client.post(
            f"/api/v1/institution-authorisations/{recorded.json()['id']}/revoke",
            json={"reason": "误录"},
            headers=beijing,
        )
        assert revoked.status_code == 200, revoked.text
    else:
        assert recorded.status_code in (403, 404), recorded.text
    at_home = await client.post(
        "/api/v1/certificates", json=cert_body(region_code="610402"), headers=institution
    )
    assert at_home.status_code == 201, at_home.text


async def test_a_recorded_authorisation_is_kept_only_if_its_transaction_commits(
    database: Database, make_org: MakeOrg, make_user: MakeUser
) -> None:
    """Attack review: the record was written inside a savepoint, the first statement of its
    transaction; on SQLite that savepoint began the transaction and its release committed it, so
    a request failing afterwards (its audit entry, the commit) still left the authorisation."""
    org = await make_org(kind=OrganizationKind.institution, region="610400")
    regulator = await make_user(Role.regulator, region="610400")

    class Afterwards(Exception):
        pass

    data = AuthorisationCreate.model_validate(scope_body(org.code))
    with pytest.raises(Afterwards):
        await _record_then_fail(database, data, regulator, Afterwards)
    async with database.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(InstitutionAuthorisation)) == 0


async def _record_then_fail(
    database: Database, data: AuthorisationCreate, actor: User, error: type[Exception]
) -> None:
    async with database.transaction() as session:
        await record_authorisation(session, data, actor=actor)
        raise error
