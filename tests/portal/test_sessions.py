"""Sessions end when they should (issue 11, finding 7): logout revokes the token on every server
process, a token is only good for the transport it was issued for, a token needs an expiry, and
changing the password or e-mail needs the current password."""

from __future__ import annotations

import uuid

import httpx
import jwt
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select

from portal import clock
from portal.accounts.auth import BEARER_AUDIENCE, COOKIE_NAME, password_fingerprint
from portal.accounts.models import User
from portal.app import create_app
from portal.db import Database
from portal.ratelimit import RateLimiter
from portal.settings import Settings
from tests.support import assert_problem

EMAIL = "session@example.cn"
PASSWORD = "liang-cheng-2026"


@pytest.fixture(autouse=True)
def fresh_limiter(app: FastAPI):
    original = app.state.rate_limiter
    app.state.rate_limiter = RateLimiter("memory://")
    yield
    app.state.rate_limiter = original


async def _register(client: httpx.AsyncClient, email: str = EMAIL) -> dict:
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _bearer(client: httpx.AsyncClient, email: str = EMAIL, password: str = PASSWORD) -> str:
    login = await client.post(
        "/api/v1/auth/jwt/login", data={"username": email, "password": password}
    )
    assert login.status_code == 200, login.text
    token: str = login.json()["access_token"]
    return token


async def _cookie(client: httpx.AsyncClient) -> str:
    login = await client.post(
        "/api/v1/auth/cookie/login", data={"username": EMAIL, "password": PASSWORD}
    )
    assert login.status_code == 204, login.text
    token = login.cookies[COOKIE_NAME]
    client.cookies.clear()
    return token


def _me(client: httpx.AsyncClient, *, bearer: str | None = None, cookie: str | None = None):
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    if cookie:
        headers["Cookie"] = f"{COOKIE_NAME}={cookie}"
    return client.get("/api/v1/users/me", headers=headers)


async def test_bearer_logout_ends_the_token(client: httpx.AsyncClient) -> None:
    await _register(client)
    token = await _bearer(client)
    other = await _bearer(client)  # the same account on another phone
    assert (await _me(client, bearer=token)).status_code == 200
    logout = await client.post(
        "/api/v1/auth/jwt/logout", headers={"Authorization": f"Bearer {token}"}
    )
    assert logout.status_code == 204, logout.text
    assert_problem(await _me(client, bearer=token), 401)
    assert (await _me(client, bearer=other)).status_code == 200  # only that session ended


async def test_cookie_logout_ends_the_token(client: httpx.AsyncClient) -> None:
    await _register(client)
    cookie = await _cookie(client)
    assert (await _me(client, cookie=cookie)).status_code == 200
    logout = await client.post(
        "/api/v1/auth/cookie/logout", headers={"Cookie": f"{COOKIE_NAME}={cookie}"}
    )
    assert logout.status_code == 204, logout.text
    assert_problem(await _me(client, cookie=cookie), 401)


async def test_portal_logout_ends_the_token_not_only_the_cookie(client: httpx.AsyncClient) -> None:
    await _register(client)
    login = await client.post("/login", data={"email": EMAIL, "password": PASSWORD})
    assert login.status_code == 303
    cookie = login.cookies[COOKIE_NAME]
    assert (await client.post("/logout")).status_code == 303
    client.cookies.clear()
    assert_problem(await _me(client, cookie=cookie), 401)  # a copy of the cookie is dead too


async def test_logout_holds_in_every_server_process(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """A second app on the same database stands for another uvicorn worker."""
    await _register(client)
    token = await _bearer(client)
    other_worker = create_app(settings)
    async with LifespanManager(other_worker):
        transport = httpx.ASGITransport(app=other_worker)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as second:
            assert (await _me(second, bearer=token)).status_code == 200
            await client.post(
                "/api/v1/auth/jwt/logout", headers={"Authorization": f"Bearer {token}"}
            )
            assert_problem(await _me(second, bearer=token), 401)


async def test_bearer_and_cookie_tokens_are_not_interchangeable(client: httpx.AsyncClient) -> None:
    await _register(client)
    bearer = await _bearer(client)
    cookie = await _cookie(client)
    assert (await _me(client, bearer=bearer)).status_code == 200
    assert (await _me(client, cookie=cookie)).status_code == 200
    assert_problem(await _me(client, bearer=cookie), 401)
    assert_problem(await _me(client, cookie=bearer), 401)


async def test_a_token_without_expiry_is_refused(
    client: httpx.AsyncClient, settings: Settings, database: Database
) -> None:
    user = await _register(client)
    async with database.transaction() as session:
        hashed = await session.scalar(select(User.hashed_password).where(User.email == EMAIL))
    claims = {
        "sub": user["id"],
        "aud": BEARER_AUDIENCE,
        "pwd": password_fingerprint(settings.secret_key, hashed),
        "jti": uuid.uuid4().hex,
    }
    forever = jwt.encode(claims, settings.secret_key, algorithm="HS256")
    assert_problem(await _me(client, bearer=forever), 401)
    expiring = jwt.encode(
        {**claims, "exp": int(clock.timestamp()) + 60}, settings.secret_key, algorithm="HS256"
    )
    assert (await _me(client, bearer=expiring)).status_code == 200  # the same token with exp


@pytest.mark.parametrize(
    "change",
    [{"password": "new-password-2027"}, {"email": "taken-over@example.cn"}],
    ids=["password", "email"],
)
async def test_password_and_email_change_need_the_current_password(
    client: httpx.AsyncClient, change: dict[str, str]
) -> None:
    await _register(client)
    headers = {"Authorization": f"Bearer {await _bearer(client)}"}
    missing = await client.patch("/api/v1/users/me", json=change, headers=headers)
    assert_problem(missing, 403, "current_password_required")
    wrong = await client.patch(
        "/api/v1/users/me", json={**change, "current_password": "guess-guess"}, headers=headers
    )
    assert_problem(wrong, 403, "current_password_required")
    assert (await _me(client, bearer=headers["Authorization"][7:])).json()["email"] == EMAIL
    right = await client.patch(
        "/api/v1/users/me", json={**change, "current_password": PASSWORD}, headers=headers
    )
    assert right.status_code == 200, right.text
    # A display name needs no password.
    fresh = await _bearer(client, right.json()["email"], change.get("password", PASSWORD))
    name = await client.patch(
        "/api/v1/users/me",
        json={"display_name": "小王"},
        headers={"Authorization": f"Bearer {fresh}"},
    )
    assert name.status_code == 200, name.text
