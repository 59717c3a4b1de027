"""Who may see what: a matrix GENERATED from the app's OpenAPI document.

Every operation × anonymous and every role (citizen, institution, regulator, association,
editor, admin), with staff of their own and of another organisation or region (610402 vs 610102).
One resource per domain exists (a case in 610402, a certificate of institution A, a credit member
of association A, an enforcement notice of 610402), so "other region / organisation" is checked on
things that really exist. The complainant's name and phone are searched for in the JSON of every
response: only the handling regulator may ever see them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.certificates import stickers
from api.certificates.settings import CertificatesSettings
from portal import clock, signing
from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.db import Database
from portal.settings import Settings
from tests.api.certificates.support import cert_body
from tests.api.complaints.support import complaint_body
from tests.credit.support import new_uscc
from tests.notices.test_api import notice_payload
from tests.support import new_owner_uscc

REPORTER_NAME = "隐私测试人甲乙"
REPORTER_PHONE = "13912345678"

# Operations anyone may call without logging in. Asserted to be EXACTLY the set of operations an
# anonymous caller is not refused: a new route is protected unless it is added here on purpose.
PUBLIC = {
    "GET /api/v1/trust-list",
    "POST /api/v1/certificates/verify",
    "GET /api/v1/certificates",
    "GET /api/v1/certificates/{number}",
    "GET /api/v1/instruments/{sticker_token}",
    "GET /api/v1/instrument-categories",
    "GET /api/v1/regions",
    "GET /api/v1/regions/{code}",
    "POST /api/v1/auth/jwt/login",
    "POST /api/v1/auth/cookie/login",
    "POST /api/v1/auth/register",
    "GET /healthz",
    "GET /readyz",
    "GET /open311/v2/discovery.{fmt}",
    "GET /open311/v2/services.{fmt}",
    "GET /open311/v2/services/{service_code}.{fmt}",
    "GET /open311/v2/requests.{fmt}",
    "POST /open311/v2/requests.{fmt}",
    "GET /open311/v2/requests/{service_request_id}.{fmt}",
    "GET /open311/v2/tokens/{token}.{fmt}",
    "GET /api/v1/case-categories",
    "POST /api/v1/media",  # anonymous reports carry photos
    "GET /api/v1/media/{media_id}/{variant}",  # signed links
    "POST /api/v1/cases",  # anonymous reports
    "GET /api/v1/cases/similar",
    "GET /api/v1/cases/{tracking_number}",  # with its access token
    "POST /api/v1/cases/{tracking_number}/feedback",  # with its access token, once finished
    "GET /api/v1/cases/{tracking_number}/documents/{document_id}",  # with its access token
    "GET /api/v1/search",
    "GET /api/v1/search/suggest",
    "GET /api/v1/articles/{article_id}",  # published articles
    "GET /api/v1/notices/{notice_id}",
    "GET /api/v1/regulations/{regulation_id}",
    "GET /api/v1/credit/ratings",
    "GET /api/v1/credit/enterprises/{uscc}",
    "GET /api/v1/credit/notices",
    "GET /api/v1/credit/notices/{batch_id}",
    "POST /api/v1/credit/objections",
    "GET /api/v1/credit/objections/{objection_id}",
    "GET /api/v1/credit/methodologies",
    "GET /api/v1/credit/methodologies/{methodology_id}",
    "GET /api/v1/credit/exports/ratings.csv",
    "GET /api/v1/credit/exports/ratings.json",
    "GET /api/v1/credit/feed.json",
    "GET /api/v1/credit/ledger",
    "GET /api/v1/calendar",  # the State Council's published holiday arrangements
    "GET /api/v1/calendar/{year}",
    # 双随机一公开: the commitment, then the seed and the result, are published to everyone.
    "GET /api/v1/inspection-campaigns",
    "GET /api/v1/inspection-campaigns/{campaign_id}",
    "GET /api/v1/inspection-campaigns/{campaign_id}/results",  # 一公开: the published results
}

# Operations every logged-in account may call (its own account, its own cases, logging out).
ANY_ACCOUNT = {
    "POST /api/v1/auth/jwt/logout",
    "POST /api/v1/auth/cookie/logout",
    "GET /api/v1/users/me",
    "PATCH /api/v1/users/me",
    "GET /api/v1/users/me/cases",
}

# The roles allowed on each remaining operation, by path (first match wins). Admin is allowed
# wherever staff are (it administers the portal) and is the only role on user administration.
ROLE_RULES: list[tuple[str, set[Role]]] = [
    (r"^(GET|PATCH|DELETE) /api/v1/users/\{id\}$", {Role.admin}),
    (r"^(POST|DELETE) /api/v1/admin/", {Role.admin}),
    (r"^GET /api/v1/regions/\{code\}/staff$", {Role.regulator, Role.admin}),
    # Originals keep the camera's EXIF and GPS: the handling regulator only, like party details.
    (r"^GET /api/v1/staff/media/\{media_id\}/original$", {Role.regulator}),
    # Legal documents name the complainant: the handling regulator only, like party details.
    (r"^GET /api/v1/staff/cases/\{case_id\}/documents/", {Role.regulator}),
    (r" /api/v1/staff/", {Role.regulator, Role.admin}),
    (r" /api/v1/instruments/overdue", {Role.regulator, Role.admin}),
    # 强检登记 (issue 15): the owner registers and changes its own; the region's bureau reviews.
    (r"^POST /api/v1/instruments(/import|/\{registration_id\}/events)?$", {Role.owner, Role.admin}),
    (
        r"^POST /api/v1/instruments/\{registration_id\}/(confirm|reject)$",
        {Role.regulator, Role.admin},
    ),
    (r" /api/v1/instrument-registrations", {Role.owner, Role.regulator, Role.admin}),
    # Regional statistics (and their CSV and XLSX): the region's bureau and above.
    (r"^GET /api/v1/instrument-statistics", {Role.regulator, Role.admin}),
    # 检定申请: the owner applies and withdraws; the designated institution handles its queue.
    (
        r"^POST /api/v1/verification-applications(/\{application_id\}/cancel)?$",
        {Role.owner, Role.admin},
    ),
    (r"^POST /api/v1/verification-applications/", {Role.institution, Role.admin}),
    (r"^GET /api/v1/verification-applications", {Role.owner, Role.institution, Role.admin}),
    (r"^GET /api/v1/verification-plan", {Role.owner, Role.institution, Role.admin}),
    # 授权证书: the issuing bureau records and revokes; the institution reads its own.
    (r"^POST /api/v1/institution-authorisations", {Role.regulator, Role.admin}),
    (r"^GET /api/v1/institution-authorisations", {Role.institution, Role.regulator, Role.admin}),
    # Held certificates: the bureau of the instrument's region resolves; the institution reads.
    (r"^POST /api/v1/certificate-reviews/", {Role.regulator, Role.admin}),
    (r"^GET /api/v1/certificate-reviews", {Role.institution, Role.regulator, Role.admin}),
    # Stickers and labels are printed by the issuing institution only (an administrator has no
    # organisation).
    (r" /api/v1/certificates/\{number\}/(sticker|label)\.", {Role.institution}),
    (r" /api/v1/certificates", {Role.institution, Role.admin}),
    (r" /api/v1/articles", {Role.editor, Role.admin}),
    (r" /api/v1/notices", {Role.regulator, Role.admin}),
    (r" /api/v1/credit/association/", {Role.association, Role.admin}),
    # Registered enterprise names: administrators only, never an association (issue 11 #1).
    (r" /api/v1/credit/registry/", {Role.admin}),
    # 精准执法 (issue 17): model versions by administrators; the region's bureau ranks its sites,
    # recomputes and draws 双随机 campaigns.
    (r"^POST /api/v1/enforcement/risk-models$", {Role.admin}),
    (r" /api/v1/enforcement/", {Role.regulator, Role.admin}),
]


def allowed_roles(op: str) -> set[Role] | None:
    for pattern, roles in ROLE_RULES:
        if re.search(pattern, op):
            return roles
    return None


@dataclass
class Principal:
    name: str
    role: Role | None
    headers: dict[str, str]


async def test_authorization_matrix(
    client: httpx.AsyncClient,
    app: FastAPI,
    make_user: Callable[..., Awaitable[User]],
    make_org: Callable[..., Awaitable[Any]],
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    # --- principals ---------------------------------------------------------------------------
    principals = [Principal("anonymous", None, {})]
    users: dict[str, User] = {}
    orgs: dict[str, Any] = {}
    for name, role, region, kind in [
        ("citizen", Role.citizen, "610402", None),
        ("institution_a", Role.institution, "610402", OrganizationKind.institution),
        ("institution_b", Role.institution, "610102", OrganizationKind.institution),
        ("regulator_a", Role.regulator, "610402", None),
        ("regulator_b", Role.regulator, "610102", None),
        ("association_a", Role.association, "610400", OrganizationKind.association),
        ("association_b", Role.association, "610100", OrganizationKind.association),
        ("editor", Role.editor, "610400", None),
        ("admin", Role.admin, "610000", None),
        ("owner_a", Role.owner, "610402", OrganizationKind.owner),
        ("owner_b", Role.owner, "610102", OrganizationKind.owner),
    ]:
        extra = {"uscc": new_owner_uscc(region)} if kind == OrganizationKind.owner else {}
        org = await make_org(kind=kind, region=region, **extra) if kind else None
        orgs[name] = org
        user = await make_user(role, region=region, org=org)
        users[name] = user
        principals.append(Principal(name, role, await auth_headers(user)))
    h = {p.name: p.headers for p in principals}

    # --- one resource per domain --------------------------------------------------------------
    case = await client.post(
        "/api/v1/cases",
        json=complaint_body(complainant={"name": REPORTER_NAME, "phone": REPORTER_PHONE}),
    )
    assert case.status_code == 201, case.text
    tracking, case_token = case.json()["tracking_number"], case.json()["access_token"]
    queue = (await client.get("/api/v1/staff/cases", headers=h["regulator_a"])).json()
    items = queue["items"] if isinstance(queue, dict) else queue
    case_id = next(c["id"] for c in items if c["tracking_number"] == tracking)

    cert = await client.post("/api/v1/certificates", json=cert_body(), headers=h["institution_a"])
    assert cert.status_code == 201, cert.text
    cert_number = cert.json()["number"]

    member_uscc = new_uscc("610402")
    member = await client.post(
        "/api/v1/credit/association/members",
        json={"uscc": member_uscc, "name": "矩阵测试加油站", "region_code": "610402"},
        headers=h["association_a"],
    )
    assert member.status_code == 201, member.text

    notice = await client.post("/api/v1/notices", json=notice_payload(), headers=h["regulator_a"])
    assert notice.status_code == 201, notice.text
    notice_id = notice.json()["id"]

    registration = await client.post(
        "/api/v1/instruments",
        json={"category_code": "scale-pc", "serial": "MATRIX-1", "usage_area": "贸易结算"},
        headers=h["owner_a"],
    )
    assert registration.status_code == 201, registration.text
    registration_id = registration.json()["id"]

    authorisation = await client.post(
        "/api/v1/institution-authorisations",
        json={
            "institution": orgs["institution_a"].code,
            "certificate_number": "(陕)法计(2026)61040201号",
            "issuer_name": "咸阳市秦都区市场监督管理局",
            "issuer_region_code": "610402",
            "categories": ["scale-pc"],
            "regions": ["610402"],
            "valid_from": "2020-01-01",
            "valid_until": "2099-12-31",
        },
        headers=h["regulator_a"],
    )
    assert authorisation.status_code == 201, authorisation.text
    authorisation_id = authorisation.json()["id"]
    # A certificate for owner A's registered instrument naming another owner: held.
    held = await client.post(
        "/api/v1/certificates",
        json=cert_body(serial="MATRIX-1", manufacturer=""),
        headers=h["institution_a"],
    )
    assert held.status_code == 202, held.text
    review_id = held.json()["review_id"]
    # A drawn 双随机 campaign of 610402 over owner A's site: its inspection is regulator A's
    # bureau's to supervise, never regulator B's.
    scored = await client.post(
        "/api/v1/enforcement/risk-scores/recompute", headers=h["regulator_a"]
    )
    assert scored.status_code == 200, scored.text
    campaign = await client.post(
        "/api/v1/enforcement/campaigns",
        json={
            "title": "矩阵抽查",
            "region": "610402",
            "sample_size": 1,
            "inspectors": [
                {"id": "ZF-M1", "name": "甲", "district": "610403"},
                {"id": "ZF-M2", "name": "乙", "district": "610404"},
            ],
        },
        headers=h["regulator_a"],
    )
    assert campaign.status_code == 201, campaign.text
    campaign_id = campaign.json()["id"]
    drawn = await client.post(
        f"/api/v1/enforcement/campaigns/{campaign_id}/draw", headers=h["regulator_a"]
    )
    assert drawn.status_code == 200, drawn.text
    inspections = await client.get("/api/v1/enforcement/inspections", headers=h["regulator_a"])
    inspection_id = inspections.json()["items"][0]["id"]
    # Recorded with a finding (owner A's instrument was never verified): its follow-up is the
    # 610402 bureau's, never regulator B's.
    form = await client.get(
        f"/api/v1/enforcement/inspections/{inspection_id}", headers=h["regulator_a"]
    )
    recorded = await client.put(
        f"/api/v1/enforcement/inspections/{inspection_id}/result",
        json={
            "checks": [
                {
                    "registration_id": i["registration_id"],
                    "sticker_present": True,
                    "seal_intact": True,
                    "reading_ok": True,
                }
                for i in form.json()["instruments"]
            ],
            "acknowledgement": "refused",
        },
        headers={**h["regulator_a"], "Idempotency-Key": str(uuid.uuid4())},
    )
    assert recorded.json()["outcome"] == "failed", recorded.text
    follow_ups = await client.get("/api/v1/enforcement/follow-ups", headers=h["regulator_a"])
    follow_up_id = follow_ups.json()["items"][0]["id"]

    params = {
        "authorisation_id": authorisation_id,
        "review_id": review_id,
        "registration_id": registration_id,
        "case_id": case_id,
        "tracking_number": tracking,
        "number": cert_number,
        "uscc": member_uscc,
        "notice_id": notice_id,
        "campaign_id": campaign_id,
        "inspection_id": inspection_id,
        "follow_up_id": follow_up_id,
        "badge": "ZF-M1",
        "id": str(uuid.uuid4()),  # not a real account: admin may DELETE it
        "code": "610402",
        "fmt": "json",
        "variant": "display",
    }

    # --- the generated matrix -----------------------------------------------------------------
    document = app.openapi()
    operations = [
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    ]
    seen: list[tuple[str, str, int, str]] = []

    async def call(method: str, path: str, who: Principal) -> httpx.Response:
        # DELETE gets unknown ids: the fixtures must survive for the scoped checks below.
        values = params if method != "DELETE" else {}
        url = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), str(uuid.uuid4())), path)
        kwargs: dict[str, Any] = {"headers": who.headers}
        if method in ("POST", "PUT", "PATCH"):
            kwargs["json"] = {}
        response = await client.request(method, url, **kwargs)
        seen.append((f"{method} {path}", who.name, response.status_code, response.text))
        assert response.status_code < 500, (method, url, who.name, response.text)
        return response

    anonymous_open = set()
    failures: list[str] = []
    for method, path in operations:
        op = f"{method} {path}"
        if op in ("POST /api/v1/auth/jwt/logout", "POST /api/v1/auth/cookie/logout"):
            continue  # would end the session the rest of the matrix uses
        response = await call(method, path, principals[0])
        if response.status_code != 401:
            anonymous_open.add(op)
        if op in PUBLIC:
            continue
        if op in ANY_ACCOUNT:
            for who in principals[1:]:
                if (await call(method, path, who)).status_code in (401, 403):
                    failures.append(f"{op} refused {who.name}")
            continue
        roles = allowed_roles(op)
        if roles is None:
            failures.append(f"{op}: no rule in ROLE_RULES (add one)")
            continue
        for who in principals[1:]:
            status = (await call(method, path, who)).status_code
            assert who.role is not None
            if who.role not in roles and status != 403:
                failures.append(f"{op} as {who.name}: {status}, expected 403")
            if who.role in roles and status == 401:
                failures.append(f"{op} as {who.name}: 401 for a logged-in account")
            # An allowed role is refused only for another region's / organisation's resource.
            if who.role in roles and status == 403 and not who.name.endswith("_b"):
                failures.append(f"{op} as {who.name}: 403 for an allowed role on its own")
    assert failures == [], "\n".join(failures)
    assert anonymous_open == PUBLIC - {"POST /api/v1/auth/jwt/logout"}, (
        "not refused to anonymous callers but not in PUBLIC: "
        f"{sorted(anonymous_open - PUBLIC)}; in PUBLIC but refused: {sorted(PUBLIC - anonymous_open)}"
    )

    # --- own vs other region / organisation, on resources that exist ---------------------------
    scoped: list[tuple[str, str, str, dict[str, Any] | None]] = [
        ("regulator_b", "GET", f"/api/v1/staff/cases/{case_id}", None),
        (
            "regulator_b",
            "POST",
            f"/api/v1/staff/cases/{case_id}/actions",
            {"action": "accept"},
        ),
        ("institution_b", "POST", f"/api/v1/certificates/{cert_number}/revoke", {"reason": "越权"}),
        ("owner_b", "GET", f"/api/v1/instrument-registrations/{registration_id}", None),
        ("owner_b", "POST", f"/api/v1/instruments/{registration_id}/events", {"kind": "retired"}),
        ("regulator_b", "POST", f"/api/v1/instruments/{registration_id}/confirm", None),
        ("institution_b", "GET", f"/api/v1/certificates/{cert_number}/sticker.svg", None),
        ("institution_b", "GET", f"/api/v1/certificates/{cert_number}/sticker.png", None),
        ("institution_b", "GET", f"/api/v1/certificates/{cert_number}/label.svg", None),
        ("institution_b", "GET", f"/api/v1/certificates/{cert_number}/label.pdf", None),
        ("association_b", "DELETE", f"/api/v1/credit/association/members/{member_uscc}", None),
        (
            "association_b",
            "PUT",
            f"/api/v1/credit/association/members/{member_uscc}/indicators",
            {"values": {"self_commitment": True}},
        ),
        (
            "association_b",
            "POST",
            f"/api/v1/credit/association/ratings/{member_uscc}/reply",
            {"text": "不是我的会员企业"},
        ),
        ("institution_b", "GET", f"/api/v1/institution-authorisations/{authorisation_id}", None),
        ("regulator_b", "GET", f"/api/v1/institution-authorisations/{authorisation_id}", None),
        (
            "regulator_b",
            "POST",
            f"/api/v1/institution-authorisations/{authorisation_id}/revoke",
            {"reason": "越权撤销"},
        ),
        ("institution_b", "GET", f"/api/v1/certificate-reviews/{review_id}", None),
        ("regulator_b", "GET", f"/api/v1/certificate-reviews/{review_id}", None),
        (
            "regulator_b",
            "POST",
            f"/api/v1/certificate-reviews/{review_id}/resolve",
            {"action": "new_instrument"},
        ),
        ("regulator_b", "PATCH", f"/api/v1/notices/{notice_id}", {"title": "越权修改的标题"}),
        ("regulator_b", "POST", f"/api/v1/notices/{notice_id}/withdraw", {"reason": "越权撤回"}),
        ("regulator_b", "GET", f"/api/v1/enforcement/follow-ups/{follow_up_id}", None),
        (
            "regulator_b",
            "POST",
            f"/api/v1/enforcement/follow-ups/{follow_up_id}/case",
            {"case_number": "越权-1"},
        ),
        (
            "regulator_b",
            "POST",
            f"/api/v1/enforcement/follow-ups/{follow_up_id}/correction",
            {"evidence": "越权登记", "reinspected_on": clock.today().isoformat()},
        ),
    ]
    for who, method, url, body in scoped:
        response = await client.request(method, url, json=body, headers=h[who])
        seen.append((f"{method} {url}", who, response.status_code, response.text))
        assert response.status_code in (403, 404), (who, method, url, response.text)

    # Lists never show another region's or organisation's items.
    queue_b = await client.get("/api/v1/staff/cases", headers=h["regulator_b"])
    assert tracking not in queue_b.text
    members_b = await client.get("/api/v1/credit/association/members", headers=h["association_b"])
    assert member_uscc not in members_b.text
    for who in ("owner_b", "regulator_b"):
        registrations = await client.get("/api/v1/instrument-registrations", headers=h[who])
        assert registration_id not in registrations.text, who
    for who in ("institution_b", "regulator_b"):
        authorisations = await client.get("/api/v1/institution-authorisations", headers=h[who])
        assert authorisation_id not in authorisations.text, who
        reviews = await client.get("/api/v1/certificate-reviews", headers=h[who])
        assert review_id not in reviews.text, who

    # Association B taking A's member (issue 11 #1): B's name is B's label only; A's label and
    # the enterprise's public name stay; B cannot set the registered name.
    taken = await client.post(
        "/api/v1/credit/association/members",
        json={"uscc": member_uscc, "name": "冒名顶替企业", "region_code": "610402"},
        headers=h["association_b"],
    )
    assert taken.status_code == 201, taken.text
    members_a = await client.get("/api/v1/credit/association/members", headers=h["association_a"])
    assert "矩阵测试加油站" in members_a.text
    assert "冒名顶替企业" not in members_a.text
    registry = await client.put(
        f"/api/v1/credit/registry/{member_uscc}",
        json={"name": "冒名顶替企业", "region_code": "610402"},
        headers=h["association_b"],
    )
    assert registry.status_code == 403, registry.text
    public = (await client.get(f"/api/v1/credit/enterprises/{member_uscc}")).json()
    assert public["enterprise"]["name"] is None
    notices_b = await client.get("/api/v1/notices", headers=h["regulator_b"])
    assert notice_id not in notices_b.text
    follow_ups_b = await client.get("/api/v1/enforcement/follow-ups", headers=h["regulator_b"])
    assert follow_ups_b.status_code == 200, follow_ups_b.text
    assert follow_up_id not in follow_ups_b.text
    still = await client.get(
        f"/api/v1/enforcement/follow-ups/{follow_up_id}", headers=h["regulator_a"]
    )
    assert still.json()["status"] == "open", still.text

    # Institution B and institution A's record (issue 11 #2): B cannot issue A's number, and B's
    # certificate for A's instrument attaches to it without moving its owner or region.
    a_cert = cert.json()
    reused = await client.post(
        "/api/v1/certificates", json=cert_body(number=cert_number), headers=h["institution_b"]
    )
    assert reused.status_code == 409, reused.text
    assert reused.json()["code"] == "certificate_number_in_use"
    takeover = await client.post(
        "/api/v1/certificates",
        json=cert_body(
            serial=a_cert["instrument"]["serial"],
            category_code=a_cert["instrument"]["category_code"],
            manufacturer=a_cert["instrument"]["manufacturer"],
            owner_name="冒名顶替商户",
            owner_uscc=None,
            region_code="610102",
        ),
        headers=h["institution_b"],
    )
    seen.append(("POST /api/v1/certificates", "institution_b", takeover.status_code, takeover.text))
    token = a_cert["instrument"]["sticker_token"]
    instrument = (await client.get(f"/api/v1/instruments/{token}")).json()["instrument"]
    assert instrument["owner_name"] == a_cert["instrument"]["owner_name"]
    assert instrument["region_code"] == a_cert["instrument"]["region_code"]

    # Another person's case by tracking number: without its token, or with a wrong one.
    for who in principals:
        for query in ({}, {"token": "x" * 22}, {"token": case_token[:-1] + "0"}):
            response = await client.get(
                f"/api/v1/cases/{tracking}", params=query, headers=who.headers
            )
            seen.append(
                (f"GET /api/v1/cases/{tracking}", who.name, response.status_code, response.text)
            )
            assert response.status_code in (401, 403, 404), (who.name, query, response.text)

    # --- the reporter's identity: only the handling regulator ever sees it ----------------------
    detail = await client.get(f"/api/v1/staff/cases/{case_id}", headers=h["regulator_a"])
    assert REPORTER_PHONE in detail.text.replace(" ", "") or REPORTER_NAME in detail.text
    for op, who_name, _status, text in seen:
        if who_name == "regulator_a":
            continue
        compact = text.replace(" ", "")
        assert REPORTER_NAME not in text, (op, who_name)
        assert REPORTER_PHONE not in compact, (op, who_name)


async def test_an_institution_cannot_vouch_for_another_institutions_certificate(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Issue 11 #3, organisation ownership: a sticker for institution A's certificate signed with
    institution B's own key is not genuine, on the API and on the page a phone opens."""
    monkeypatch.setattr(settings.of(CertificatesSettings), "signing_keys_dir", tmp_path)
    institution_a = await make_user(Role.institution, region="610400")
    institution_b = await make_user(Role.institution, region="610100")
    issued = await client.post(
        "/api/v1/certificates", json=cert_body(), headers=await auth_headers(institution_a)
    )
    assert issued.status_code == 201, issued.text
    certificate = issued.json()
    async with database.transaction() as session:
        org_b = await session.get(Organization, institution_b.organization_id)
        assert org_b is not None
        await stickers.create_institution_key(session, org_b, settings=settings, actor=None)
    key_b = signing.load_signing_key(tmp_path / f"{org_b.code}.pem")
    instrument = certificate["instrument"]
    claims = stickers.sticker_claims(
        SimpleNamespace(
            number=certificate["number"],
            institution_code=certificate["institution"]["code"],
            sticker_token=instrument["sticker_token"],
            category_code=instrument["category_code"],
            serial=instrument["serial"],
            kind=certificate["kind"],
            conclusion=certificate["conclusion"],
            verified_on=date.fromisoformat(certificate["verified_on"]),
            valid_until=date.fromisoformat(certificate["valid_until"]),
        )
    )
    forged = stickers.sign(claims, key_b)
    verdict = await client.post("/api/v1/certificates/verify", json={"payload": forged})
    assert verdict.status_code == 200, verdict.text
    assert verdict.json()["signature_valid"] is False
    assert "防伪验证失败" in (await client.get(f"/v/{forged}")).text
