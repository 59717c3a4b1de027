"""Issuing, revoking and correcting: own certificates only, never updated in place, audited."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy import select

from portal.accounts.models import Role, User
from portal.audit.models import AuditEntry
from portal.db import Database
from tests.api.certificates.support import Issue, cert_body
from tests.support import assert_problem


async def test_roles_and_organisations(
    client: httpx.AsyncClient,
    issue: Issue,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    for role in (Role.citizen, Role.regulator, Role.association):
        user = await make_user(role)
        response = await client.post(
            "/api/v1/certificates", json=cert_body(), headers=await auth_headers(user)
        )
        assert_problem(response, 403, "forbidden")
    assert_problem(await client.post("/api/v1/certificates", json=cert_body()), 401)

    await issue(number="O-1")
    other = await make_user(Role.institution)
    other_headers = await auth_headers(other)
    assert_problem(
        await client.post(
            "/api/v1/certificates/O-1/revoke", json={"reason": "不是我的"}, headers=other_headers
        ),
        404,
        "certificate_not_found",
    )
    mine = cert_body(institution="SOMEONE-ELSE")
    assert_problem(
        await client.post("/api/v1/certificates", json=mine, headers=other_headers),
        403,
        "organization_forbidden",
    )
    admin = await make_user(Role.admin, region="610000")
    assert_problem(
        await client.post(
            "/api/v1/certificates", json=cert_body(), headers=await auth_headers(admin)
        ),
        403,
        "not_an_institution",
    )


async def test_validation_errors_and_idempotent_repeat(
    client: httpx.AsyncClient,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    headers = await auth_headers(institution_user)
    bad = cert_body(owner_uscc="91610402MA6XY00019", category_code="ruler", number="A/B")
    body = assert_problem(
        await client.post("/api/v1/certificates", json=bad, headers=headers),
        422,
        "certificate_invalid",
    )
    assert {e["field"] for e in body["errors"]} == {"owner_uscc", "category_code", "number"}
    notice_with_date = cert_body(kind="notice")
    body = assert_problem(
        await client.post("/api/v1/certificates", json=notice_with_date, headers=headers),
        422,
        "certificate_invalid",
    )
    assert body["errors"][0]["type"] == "notice_has_no_validity"
    # Attack review: "-" was issued as a number, 0001-01-01 as a verification date.
    odd = cert_body(number="-", verified_on="0001-01-01", valid_until=None)
    body = assert_problem(
        await client.post("/api/v1/certificates", json=odd, headers=headers),
        422,
        "certificate_invalid",
    )
    assert {(e["field"], e["type"]) for e in body["errors"]} == {
        ("number", "invalid_number"),
        ("verified_on", "date_too_early"),
    }

    good = cert_body(number="I-1")
    assert (
        await client.post("/api/v1/certificates", json=good, headers=headers)
    ).status_code == 201
    repeat = await client.post("/api/v1/certificates", json=good, headers=headers)
    assert repeat.status_code == 200
    changed = {**good, "verifier": "另一位"}
    assert_problem(
        await client.post("/api/v1/certificates", json=changed, headers=headers),
        409,
        "certificate_number_taken",
    )


async def test_revoke_twice_and_correct_a_revoked_one(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    database: Database,
) -> None:
    created = await issue(number="V-1")
    headers = await auth_headers(institution_user)
    assert_problem(
        await client.post("/api/v1/certificates/V-1/revoke", json={"reason": ""}, headers=headers),
        422,
    )
    ok = await client.post(
        "/api/v1/certificates/V-1/revoke", json={"reason": "误发"}, headers=headers
    )
    assert ok.json()["status"] == "revoked"
    assert_problem(
        await client.post(
            "/api/v1/certificates/V-1/revoke", json={"reason": "再次"}, headers=headers
        ),
        409,
        "certificate_already_revoked",
    )
    correction = {"reason": "更正", "certificate": cert_body(number="V-2")}
    assert_problem(
        await client.post("/api/v1/certificates/V-1/correct", json=correction, headers=headers),
        409,
        "certificate_already_revoked",
    )
    async with database.sessionmaker() as session:
        actions = (
            await session.scalars(
                select(AuditEntry.action).where(AuditEntry.actor_id == institution_user.id)
            )
        ).all()
    assert sorted(actions) == ["certificate.issue", "certificate.revoke"]
    assert created["status"] == "valid"


async def test_admin_acts_for_a_named_institution(
    client: httpx.AsyncClient,
    institution_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    database: Database,
) -> None:
    from portal.accounts.models import Organization

    async with database.sessionmaker() as session:
        org = await session.get(Organization, institution_user.organization_id)
    assert org is not None
    admin = await make_user(Role.admin, region="610000")
    response = await client.post(
        "/api/v1/certificates",
        json=cert_body(number="AD-1", institution=org.code),
        headers=await auth_headers(admin),
    )
    assert response.status_code == 201, response.text
    assert response.json()["institution"]["code"] == org.code
