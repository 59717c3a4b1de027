"""Guards in front of every route (issue 11, finding 12): a page on another site cannot log the
victim in to the attacker's account (login CSRF), and the small JSON body limit applies to every
route that takes no file, whatever content type the client declares."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from portal.accounts.auth import COOKIE_NAME
from tests.support import assert_problem

EMAIL = "attacker@example.cn"
PASSWORD = "liang-cheng-2026"
CROSS_SITE = {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
OLD_BROWSER_CROSS_SITE = {"Origin": "https://evil.example"}  # no Fetch Metadata


async def _register(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": EMAIL, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("headers", [CROSS_SITE, OLD_BROWSER_CROSS_SITE], ids=["fetch", "origin"])
async def test_a_cross_site_login_form_is_refused_without_any_cookie(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    await _register(client)
    assert not client.cookies
    attack = await client.post(
        "/login", data={"email": EMAIL, "password": PASSWORD}, headers=headers
    )
    assert_problem(attack, 403, "cross_site_request")
    assert COOKIE_NAME not in attack.cookies
    register = await client.post(
        "/register",
        data={"email": "planted@example.cn", "password": PASSWORD},
        headers=headers,
    )
    assert_problem(register, 403, "cross_site_request")
    cookie_api = await client.post(
        "/api/v1/auth/cookie/login", data={"username": EMAIL, "password": PASSWORD}, headers=headers
    )
    assert_problem(cookie_api, 403, "cross_site_request")


async def test_the_portal_own_login_form_and_apps_still_log_in(client: httpx.AsyncClient) -> None:
    await _register(client)
    own = await client.post(
        "/login",
        data={"email": EMAIL, "password": PASSWORD},
        headers={"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
    )
    assert own.status_code == 303
    client.cookies.clear()
    # An app posts the OAuth2 form with neither Origin nor Fetch Metadata.
    app_login = await client.post(
        "/api/v1/auth/jwt/login", data={"username": EMAIL, "password": PASSWORD}
    )
    assert app_login.status_code == 200


def _multipart_wrapped_json(size: int) -> bytes:
    padding = "x" * size
    return (
        b'--b\r\nContent-Disposition: form-data; name="email"\r\n\r\n'
        + f'{{"email": "big@example.cn", "display_name": "{padding}"}}'.encode()
        + b"\r\n--b--\r\n"
    )


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
async def test_json_routes_keep_the_json_limit_under_a_multipart_content_type(
    client: httpx.AsyncClient, streamed: bool
) -> None:
    body = _multipart_wrapped_json(2 * 1024 * 1024)  # over 1 MB, under the 20 MB upload limit
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    content = _chunks(body) if streamed else body
    response = await client.post("/api/v1/auth/register", content=content, headers=headers)
    assert_problem(response, 413, "payload_too_large")
    assert "1048576" in response.json()["detail"]


async def test_upload_routes_keep_the_upload_limit(client: httpx.AsyncClient) -> None:
    photo_sized = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + b"\xff" * (2 * 1024 * 1024) + b"\r\n--b--\r\n"
    )
    response = await client.post(
        "/api/v1/media",
        content=photo_sized,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    # Not a real photo, so refused, but for what it is, not for its size.
    assert response.status_code != 413, response.text
    assert response.status_code < 500, response.text


async def test_a_declared_body_over_the_json_limit_is_refused_without_closing_the_connection(
    client: httpx.AsyncClient,
) -> None:
    """Behind nginx a refused body has already been buffered whole and is being sent: closing
    the connection with it unread resets it under nginx, which then answers 503 (no node
    answered) and leaves a healthy node out of the pool. Up to the upload limit the server
    reads and drops the rest; only a body declared larger than that closes the connection."""
    body = b'{"x": "' + b"a" * (2 * 1024 * 1024) + b'"}'
    refused = await client.post(
        "/api/v1/auth/register", content=body, headers={"Content-Type": "application/json"}
    )
    assert_problem(refused, 413, "payload_too_large")
    assert "connection" not in refused.headers
    huge = await client.post(
        "/api/v1/auth/register",
        content=b"{}",
        headers={"Content-Type": "application/json", "Content-Length": str(21 * 1024 * 1024)},
    )
    assert_problem(huge, 413, "payload_too_large")
    assert huge.headers["connection"] == "close"
