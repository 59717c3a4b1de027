"""Login throttling, token revocation on password change, security headers, cross-site forms."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from portal.ratelimit import RateLimiter
from tests.support import assert_problem


@pytest.fixture
def fresh_limiter(app: FastAPI):
    original = app.state.rate_limiter
    app.state.rate_limiter = RateLimiter("memory://")
    yield app.state.rate_limiter
    app.state.rate_limiter = original


async def _register(client: httpx.AsyncClient, email: str = "lock@example.cn") -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": "liang-cheng-2026"}
    )
    assert response.status_code == 201


async def _login(client: httpx.AsyncClient, password: str, email: str = "lock@example.cn"):
    return await client.post(
        "/api/v1/auth/jwt/login", data={"username": email, "password": password}
    )


async def test_account_locks_after_repeated_failures(
    client: httpx.AsyncClient, fresh_limiter: RateLimiter
) -> None:
    await _register(client)
    for _ in range(10):
        assert_problem(await _login(client, "wrong-password"), 400, "login_bad_credentials")
    locked = await _login(client, "liang-cheng-2026")  # even the right password, while locked
    assert_problem(locked, 429, "login_locked")
    assert int(locked.headers["retry-after"]) > 0
    # Another account from elsewhere is unaffected by this account's lock.
    await _register(client, "other@example.cn")
    assert (await _login(client, "liang-cheng-2026", "other@example.cn")).status_code == 200


async def test_success_resets_the_account_counter(
    client: httpx.AsyncClient, fresh_limiter: RateLimiter
) -> None:
    await _register(client)
    for _ in range(9):
        await _login(client, "wrong-password")
    assert (await _login(client, "liang-cheng-2026")).status_code == 200
    for _ in range(9):
        await _login(client, "wrong-password")
    assert (await _login(client, "liang-cheng-2026")).status_code == 200


async def test_password_change_revokes_existing_tokens(
    client: httpx.AsyncClient, fresh_limiter: RateLimiter
) -> None:
    await _register(client)
    token = (await _login(client, "liang-cheng-2026")).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    changed = await client.patch(
        "/api/v1/users/me",
        json={"password": "new-password-2027", "current_password": "liang-cheng-2026"},
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    assert_problem(await client.get("/api/v1/users/me", headers=headers), 401)
    fresh = (await _login(client, "new-password-2027")).json()["access_token"]
    me = await client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {fresh}"})
    assert me.status_code == 200


async def test_security_headers_on_pages_and_api(client: httpx.AsyncClient) -> None:
    for path in ("/", "/api/v1/regions", "/api/v1/missing"):
        response = await client.get(path)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert "strict-transport-security" not in response.headers  # only in production


async def test_cross_site_form_with_cookie_is_refused(client: httpx.AsyncClient) -> None:
    await _register(client)
    client.cookies.set("gongzhi_session", "anything")
    attack = await client.post(
        "/logout", headers={"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
    )
    assert_problem(attack, 403, "cross_site_request")
    old_browser = await client.post("/logout", headers={"Origin": "https://evil.example"})
    assert_problem(old_browser, 403, "cross_site_request")
    same_site = await client.post(
        "/logout", headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"}
    )
    assert same_site.status_code == 303
    client.cookies.clear()
    # An app with a bearer token and no cookie is never affected.
    app_call = await client.post(
        "/api/v1/auth/register",
        json={"email": "app@example.cn", "password": "liang-cheng-2026"},
        headers={"Origin": "https://evil.example"},
    )
    assert app_call.status_code == 201


async def test_invalid_bearer_token_is_refused_even_where_anonymous_use_is_allowed(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/")).status_code == 200
    refused = await client.get("/", headers={"Authorization": "Bearer expired-or-forged"})
    assert_problem(refused, 401, "not_authenticated")
    client.cookies.set("gongzhi_session", "stale")
    assert (await client.get("/")).status_code == 200  # a stale cookie just means logged out
    client.cookies.clear()
