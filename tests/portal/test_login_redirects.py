"""Where the login page sends a user afterwards: a path of this site only, in every spelling a
browser would read as another site, and a bounded parameter."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.support import assert_problem

PASSWORD = "liang-cheng-2026"


def _next_field(page: httpx.Response) -> str:
    found = re.search(r'name="next" value="([^"]*)"', page.text)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/",
        "/\\evil.example",  # browsers read a backslash as a slash: //evil.example
        "/\\/evil.example",
        "/\t/evil.example",  # browsers drop tabs and newlines from URLs: //evil.example
        "/\n/evil.example",
        "javascript:alert(1)",
        "https://evil.example/",
    ],
)
async def test_next_never_leaves_the_site(client: httpx.AsyncClient, target: str) -> None:
    assert _next_field(await client.get("/login", params={"next": target})) == "/account"
    await client.post("/api/v1/auth/register", json={"email": "a@example.cn", "password": PASSWORD})
    response = await client.post(
        "/login", data={"email": "a@example.cn", "password": PASSWORD, "next": target}
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/account"


async def test_a_local_next_is_kept(client: httpx.AsyncClient) -> None:
    page = await client.get("/login", params={"next": "/backoffice/certificates?page=2"})
    assert _next_field(page) == "/backoffice/certificates?page=2"


async def test_next_is_bounded(client: httpx.AsyncClient) -> None:
    assert_problem(
        await client.get("/login", params={"next": "/" + "a" * 3000}), 422, "validation_error"
    )
    response = await client.post(
        "/login", data={"email": "a@example.cn", "password": PASSWORD, "next": "/" + "a" * 3000}
    )
    assert_problem(response, 422, "validation_error")
