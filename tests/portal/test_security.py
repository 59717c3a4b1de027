"""Login throttling, token revocation on password change, security headers, cross-site forms."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from portal.app import create_app
from portal.ratelimit import RateLimiter
from portal.settings import Settings
from tests.support import assert_problem, make_settings


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


async def test_a_map_tile_source_is_the_only_other_site_images_may_come_from(
    tmp_path: Path,
) -> None:
    default = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", tmp_path / "a")
    assert default.map_tile_origin is None
    configured = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'b.db'}",
        tmp_path / "b",
        map_tile_url="https://tiles.example.cn/{z}/{x}/{y}.png",
    )
    assert configured.map_tile_origin == "https://tiles.example.cn"
    same_site = make_settings(
        f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
        tmp_path / "c",
        map_tile_url="/tiles/{z}/{x}/{y}",
    )
    assert same_site.map_tile_origin is None
    with pytest.raises(ValidationError):
        make_settings(
            f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
            tmp_path / "d",
            map_tile_url="javascript:alert(1)//{z}",
        )
    for settings, img_src in (
        (default, "img-src 'self' data: blob:;"),
        (configured, "img-src 'self' data: blob: https://tiles.example.cn;"),
    ):
        # Static files need no database, so the app is asked without starting its lifespan.
        transport = httpx.ASGITransport(app=create_app(settings))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
            response = await web.get("/static/css/site.css")
        assert img_src in response.headers["content-security-policy"]


async def test_the_form_carries_the_tile_source_only_when_configured(
    client: httpx.AsyncClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "data-map-tile-url" not in (await client.get("/complaints/new")).text
    monkeypatch.setattr(settings, "map_tile_url", "https://tiles.example.cn/{z}/{x}/{y}.png")
    monkeypatch.setattr(settings, "map_attribution", "© 测试地图")
    page = (await client.get("/complaints/new")).text
    assert 'data-map-tile-url="https://tiles.example.cn/{z}/{x}/{y}.png"' in page
    assert 'data-map-attribution="© 测试地图"' in page
