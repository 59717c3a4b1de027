"""Signed QR stickers: decoded by a real QR decoder (zbar), verified by the API, by an independent
JOSE implementation (PyJWT) from the trust list, and refused after a one-character change."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Awaitable, Callable

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from PIL import Image
from pyzbar.pyzbar import decode

from portal.accounts.models import Role, User
from tests.api.certificates.support import Issue
from tests.support import assert_problem


async def _sticker_url(client: httpx.AsyncClient, number: str, headers: dict[str, str]) -> str:
    png = await client.get(f"/api/v1/certificates/{number}/sticker.png", headers=headers)
    assert png.status_code == 200, png.text
    assert png.headers["content-type"] == "image/png"
    symbols = decode(Image.open(io.BytesIO(png.content)))
    assert len(symbols) == 1
    url: str = symbols[0].data.decode("utf-8")
    return url


def _flip(token: str, index: int) -> str:
    c = token[index]
    return token[:index] + ("B" if c != "B" else "C") + token[index + 1 :]


async def test_sticker_png_decodes_to_a_url_whose_page_shows_the_status(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    created = await issue(number="Q-1")
    headers = await auth_headers(institution_user)
    url = await _sticker_url(client, "Q-1", headers)
    assert url.startswith("http://testserver/v/")
    token = url.rsplit("/v/", 1)[1]
    # no personal data in the payload
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["n"] == "Q-1"
    assert claims["t"] == created["instrument"]["sticker_token"]
    assert set(claims) <= {"v", "n", "o", "t", "c", "s", "k", "r", "d", "u"}
    assert "咸阳市秦都区" not in json.dumps(claims, ensure_ascii=False)

    page = await client.get(url.replace("http://testserver", ""))
    assert page.status_code == 200
    assert 'data-status="valid"' in page.text
    assert "<span>合格有效</span>" in page.text
    assert "防伪签名有效" in page.text
    assert f"/complaints/new?instrument_token={claims['t']}" in page.text

    svg = await client.get("/api/v1/certificates/Q-1/sticker.svg", headers=headers)
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content


async def test_verify_endpoint_and_a_changed_character(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    await issue(number="Q-2")
    headers = await auth_headers(institution_user)
    url = await _sticker_url(client, "Q-2", headers)
    ok = (await client.post("/api/v1/certificates/verify", json={"payload": url})).json()
    assert ok["signature_valid"] is True
    assert ok["status"] == "valid"
    assert ok["signed_by"] == "portal"
    assert ok["certificate"]["number"] == "Q-2"

    token = url.rsplit("/v/", 1)[1]
    header_len = token.index(".")
    for index in (header_len + 5, header_len + 40, len(token) - 3):  # payload and signature
        forged = _flip(token, index)
        result = (await client.post("/api/v1/certificates/verify", json={"payload": forged})).json()
        assert result["signature_valid"] is False, index
        assert result["certificate"] is None
        page = await client.get(f"/v/{forged}")
        assert "防伪验证失败" in page.text
    garbage = (await client.post("/api/v1/certificates/verify", json={"payload": "a.b"})).json()
    assert garbage["signature_valid"] is False


async def test_revoked_sticker_still_verifies_and_says_revoked(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    await issue(number="Q-3")
    headers = await auth_headers(institution_user)
    url = await _sticker_url(client, "Q-3", headers)
    await client.post("/api/v1/certificates/Q-3/revoke", json={"reason": "误发"}, headers=headers)
    result = (await client.post("/api/v1/certificates/verify", json={"payload": url})).json()
    assert (result["signature_valid"], result["status"]) == (True, "revoked")
    page = await client.get(url.replace("http://testserver", ""))
    assert 'data-status="revoked"' in page.text
    assert "<span>已注销</span>" in page.text


async def test_offline_verification_from_the_trust_list_with_pyjwt(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    """docs/stickers.md is enough: a standard JOSE library verifies with the published JWK."""
    await issue(number="Q-4")
    token = (await _sticker_url(client, "Q-4", await auth_headers(institution_user))).rsplit(
        "/v/", 1
    )[1]
    trust = await client.get("/api/v1/trust-list")
    assert trust.headers["etag"]
    keys = {k["kid"]: k for k in trust.json()["keys"]}
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = keys[kid]
    assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")
    public = Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(jwk["x"] + "="))
    claims = jwt.api_jws.PyJWS().decode(token, key=public, algorithms=["EdDSA"])
    assert json.loads(claims)["n"] == "Q-4"


async def test_sticker_roles(
    client: httpx.AsyncClient,
    issue: Issue,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    await issue(number="Q-5")
    other = await make_user(Role.institution)
    citizen = await make_user(Role.citizen)
    assert_problem(
        await client.get("/api/v1/certificates/Q-5/sticker.png", headers=await auth_headers(other)),
        404,
        "certificate_not_found",
    )
    assert_problem(
        await client.get(
            "/api/v1/certificates/Q-5/sticker.png", headers=await auth_headers(citizen)
        ),
        403,
    )
