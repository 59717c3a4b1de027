"""One person, one account: e-mail addresses are compared in one normal form (NFKC, lower case,
no surrounding spaces) wherever an account is found or created, and registration is rate-limited
per client so it cannot be used to create accounts in bulk or to enumerate addresses."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from portal.accounts.schemas import normalize_email
from tests.support import assert_problem

PASSWORD = "liang-cheng-2026"


async def _register(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})


@pytest.mark.parametrize(
    "variant",
    [
        "ＡＢＣ@example.cn",  # full-width letters, as a Chinese input method types them
        "ABC@example.cn",
        " abc@example.cn ",
        "abc@ＥＸＡＭＰＬＥ.cn",
    ],
)
async def test_a_variant_of_a_registered_address_is_the_same_account(
    client: httpx.AsyncClient, variant: str
) -> None:
    assert (await _register(client, "abc@example.cn")).status_code == 201
    assert_problem(await _register(client, variant), 400, "register_user_already_exists")
    login = await client.post(
        "/api/v1/auth/jwt/login", data={"username": variant, "password": PASSWORD}
    )
    assert login.status_code == 200, login.text


async def test_non_ascii_case_is_one_account_on_every_database(client: httpx.AsyncClient) -> None:
    # SQLite's lower() folds ASCII only: without one stored form, Äbc and äbc were two accounts.
    created = await _register(client, "Äbc@example.cn")
    assert created.status_code == 201
    assert created.json()["email"] == "äbc@example.cn"
    assert_problem(await _register(client, "äbc@example.cn"), 400, "register_user_already_exists")
    login = await client.post(
        "/api/v1/auth/jwt/login", data={"username": "ÄBC@example.cn", "password": PASSWORD}
    )
    assert login.status_code == 200, login.text


async def test_portal_login_form_accepts_the_address_as_typed(client: httpx.AsyncClient) -> None:
    assert (await _register(client, "abc@example.cn")).status_code == 201
    response = await client.post(
        "/login", data={"email": " ＡＢＣ@example.cn ", "password": PASSWORD, "next": "/account"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/account"


def test_the_normal_form() -> None:
    assert normalize_email(" ＡＢＣ@Example.CN\t") == "abc@example.cn"
    assert normalize_email("Äbc@example.cn") == "äbc@example.cn"


async def test_registration_is_limited_per_client(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.state.settings, "registrations_per_ip", "3/hour")
    for n in range(3):
        assert (await _register(client, f"bulk{n}@example.cn")).status_code == 201
    refused = await _register(client, "bulk3@example.cn")
    assert_problem(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) > 0
    # An X-Forwarded-For the client writes itself (no trusted proxy) is no new client.
    spoofed = await client.post(
        "/api/v1/auth/register",
        json={"email": "bulk4@example.cn", "password": PASSWORD},
        headers={"X-Forwarded-For": "203.0.113.9"},
    )
    assert_problem(spoofed, 429, "rate_limited")
    # The portal's form counts against the same limit and says so in Chinese.
    page = await client.post("/register", data={"email": "bulk5@example.cn", "password": PASSWORD})
    assert page.status_code == 429
    assert "注册过于频繁" in page.text
    # Probing whether an address is registered counts too.
    assert_problem(await _register(client, "bulk0@example.cn"), 429, "rate_limited")


async def test_a_changed_address_is_stored_in_the_normal_form(
    client: httpx.AsyncClient,
) -> None:
    assert (await _register(client, "abc@example.cn")).status_code == 201
    assert (await _register(client, "other@example.cn")).status_code == 201
    login = await client.post(
        "/api/v1/auth/jwt/login", data={"username": "other@example.cn", "password": PASSWORD}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    changed = await client.patch(
        "/api/v1/users/me",
        json={"email": "ＡＢＣ@example.cn", "current_password": PASSWORD},
        headers=headers,
    )
    assert_problem(changed, 400, "update_user_email_already_exists")
    moved = await client.patch(
        "/api/v1/users/me",
        json={"email": "ＸＹＺ@example.cn", "current_password": PASSWORD},
        headers=headers,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["email"] == "xyz@example.cn"


@pytest.mark.parametrize(
    ("username", "password"),
    [("a" * 100_000 + "@example.cn", PASSWORD), ("abc@example.cn", "p" * 100_000)],
)
async def test_login_fields_are_bounded_like_the_login_form(
    client: httpx.AsyncClient, username: str, password: str
) -> None:
    # Unbounded, every guess of a megabyte-long "address" became a rate-limit key of that size.
    response = await client.post(
        "/api/v1/auth/jwt/login", data={"username": username, "password": password}
    )
    assert_problem(response, 422, "validation_error")
