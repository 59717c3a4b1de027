"""The back-office pages of 授权证书 and of held certificates: the bureau records, revokes and
resolves from forms; the institution reads its own; other roles are refused."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from portal.accounts.models import OrganizationKind, Role, User
from tests.api.certificates.support import cert_body, days
from tests.api.instruments.support import registration_body
from tests.support import TEST_PASSWORD, new_owner_uscc


async def _login(client: httpx.AsyncClient, user: User) -> None:
    response = await client.post(
        "/login", data={"email": user.email, "password": TEST_PASSWORD, "next": "/account"}
    )
    assert response.status_code == 303, response.text


async def test_the_bureau_records_and_revokes_an_authorisation_from_the_form(
    client: httpx.AsyncClient,
    make_user: Callable[..., Awaitable[User]],
    make_org: Callable[..., Awaitable[Any]],
) -> None:
    org = await make_org(kind=OrganizationKind.institution, region="610400", name="页面测试检定所")
    lab = await make_user(Role.institution, region="610400", org=org)
    regulator = await make_user(Role.regulator, region="610400")
    await _login(client, regulator)
    page = await client.get("/backoffice/authorisations")
    assert page.status_code == 200
    assert "页面测试检定所" in page.text
    assert "电子计价秤" in page.text
    form = {
        "institution": org.code,
        "certificate_number": "(陕)法计(2025)61040077号",
        "issuer_name": "咸阳市市场监督管理局",
        "issuer_region_code": "610400",
        "regions": "610402，610404",
        "categories": ["scale-pc", "taximeter"],
        "valid_from": days(-30),
        "valid_until": days(1800),
    }
    refused = await client.post("/backoffice/authorisations", data={**form, "regions": "610102"})
    assert refused.status_code == 422
    assert "不在发证机关的辖区内" in refused.text
    recorded = await client.post("/backoffice/authorisations", data=form, follow_redirects=True)
    assert recorded.status_code == 200
    assert 'id="authorisation-ok"' in recorded.text
    assert "陕西省咸阳市秦都区、陕西省咸阳市渭城区" in recorded.text

    await _login(client, lab)
    own = await client.get("/backoffice/authorisations")
    assert own.status_code == 200
    assert "(陕)法计(2025)61040077号" in own.text
    assert 'id="authorisation-form"' not in own.text
    assert (await client.post("/backoffice/authorisations", data=form)).status_code == 403

    citizen = await make_user(Role.citizen)
    await _login(client, citizen)
    assert (await client.get("/backoffice/authorisations")).status_code == 403
    assert (await client.get("/backoffice/certificate-reviews")).status_code == 403


async def test_the_bureau_resolves_a_held_certificate_from_the_page(
    client: httpx.AsyncClient,
    make_user: Callable[..., Awaitable[User]],
    make_org: Callable[..., Awaitable[Any]],
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    institution_user: User,
) -> None:
    owner_org = await make_org(
        kind=OrganizationKind.owner, region="610402", uscc=new_owner_uscc("610402")
    )
    owner = await make_user(Role.owner, region="610402", org=owner_org)
    body = registration_body()
    registered = await client.post(
        "/api/v1/instruments", json=body, headers=await auth_headers(owner)
    )
    assert registered.status_code == 201
    cert = cert_body(serial=body["serial"], manufacturer=body["manufacturer"])
    await _login(client, institution_user)
    held = await client.post(
        "/backoffice/certificates/new",
        data={k: v for k, v in cert.items() if v is not None},
        follow_redirects=True,
    )
    assert held.status_code == 200
    assert 'id="review-held"' in held.text
    assert cert["number"] in held.text

    bureau = await make_user(Role.regulator, region="610402")
    await _login(client, bureau)
    page = await client.get("/backoffice/certificate-reviews")
    assert cert["number"] in page.text
    assert owner_org.name in page.text
    review = (
        await client.get("/api/v1/certificate-reviews", headers=await auth_headers(bureau))
    ).json()["items"]
    item = next(r for r in review if r["number"] == cert["number"])
    done = await client.post(
        f"/backoffice/certificate-reviews/{item['id']}",
        data={"choice": item["candidates"][0]["id"], "note": "核对无误"},
        follow_redirects=True,
    )
    assert 'id="review-ok"' in done.text
    assert (await client.get(f"/api/v1/certificates/{cert['number']}")).status_code == 200
