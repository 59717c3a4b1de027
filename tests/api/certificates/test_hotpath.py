"""The hot path (api/certificates/hotpath.py) answers exactly as the APIRoute it shortcuts."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from PIL import Image
from pyzbar.pyzbar import decode

from api.certificates import hotpath
from portal.accounts.auth import COOKIE_NAME
from portal.accounts.models import User
from tests.api.certificates.support import Issue
from tests.support import TEST_PASSWORD


async def _exchange(client: httpx.AsyncClient, method: str, url: str, **kw: Any) -> tuple[Any, ...]:
    response = await client.request(method, url, headers={"X-Request-ID": "hot-path-1"}, **kw)
    return response.status_code, sorted(response.headers.items()), response.content


def _through_the_router(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on every request goes to the APIRoutes, as if there were no hot path."""

    async def through_the_router(self: Any, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    monkeypatch.setattr(hotpath.HotPath, "__call__", through_the_router)


def _counting(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """The paths the hot path's endpoint ``name`` serves from now on."""
    served: list[str] = []
    real = getattr(hotpath, name)

    async def counted(request: Any) -> Any:
        served.append(str(request.url))
        return await real(request)

    monkeypatch.setattr(hotpath, name, counted)
    return served


async def test_hot_path_and_route_give_the_same_responses(
    client: httpx.AsyncClient, issue: Issue, monkeypatch: pytest.MonkeyPatch
) -> None:
    await issue(number="HP-1", owner_name="张三", owner_uscc=None)
    await issue(number="HP-2", conclusion="不合格", valid_until=None)
    etag = (await client.get("/api/v1/certificates/HP-1")).headers["etag"]
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/v1/certificates/HP-1", {}),
        ("GET", "/api/v1/certificates/HP-2", {}),
        ("GET", "/api/v1/certificates/HP-1?institution=XYJC", {}),
        ("GET", "/api/v1/certificates/HP-1?institution=NOPE", {}),
        ("GET", "/api/v1/certificates/NO-SUCH", {}),
        ("GET", "/api/v1/certificates/verify", {}),
        ("GET", "/api/v1/certificates/%E8%AF%81-1", {}),
        ("HEAD", "/api/v1/certificates/HP-1", {}),
        ("GET", "/api/v1/certificates/", {}),
        # typed on a phone: lower case, full width (ＨＰ－１), a space and an en dash
        ("GET", "/api/v1/certificates/hp-1", {}),
        ("GET", "/api/v1/certificates/%EF%BC%A8%EF%BC%B0%EF%BC%8D%EF%BC%91", {}),
        ("GET", "/api/v1/certificates/HP%20%E2%80%93%201", {}),
    ]
    fast = [await _exchange(client, m, u, **kw) for m, u, kw in requests]
    conditional = await client.get(
        "/api/v1/certificates/HP-1", headers={"If-None-Match": etag, "X-Request-ID": "hot-path-1"}
    )

    _through_the_router(monkeypatch)
    slow = [await _exchange(client, m, u, **kw) for m, u, kw in requests]
    routed = await client.get(
        "/api/v1/certificates/HP-1", headers={"If-None-Match": etag, "X-Request-ID": "hot-path-1"}
    )
    assert [s for s, _, _ in fast][:2] == [200, 200]
    assert fast[4][0] == 404
    assert fast[-1][2] == fast[-2][2] == fast[-3][2] == fast[0][2]  # each finds HP-1
    assert fast == slow
    assert conditional.status_code == routed.status_code == 304
    assert sorted(conditional.headers.items()) == sorted(routed.headers.items())


async def test_anonymous_sticker_pages_are_the_routes_pages(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A scan without a credential is served by the hot path; every answer (status, headers,
    body) is the one the route gives, and a request with a credential still reaches the route."""
    created = await issue(number="HP-S1")
    await issue(number="HP-S2", conclusion="不合格", valid_until=None)
    staff = await auth_headers(institution_user)
    png = await client.get("/api/v1/certificates/HP-S1/sticker.png", headers=staff)
    signed = decode(Image.open(io.BytesIO(png.content)))[0].data.decode().rsplit("/v/", 1)[1]
    plain = created["instrument"]["sticker_token"]
    forged = signed[:-3] + ("AAA" if not signed.endswith("AAA") else "BBB")
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", f"/v/{plain}", {}),
        ("GET", f"/v/{signed}", {}),
        ("GET", f"/v/{forged}", {}),
        ("GET", "/v/NO-SUCH-TOKEN", {}),
        ("GET", "/v/a.b.c", {}),
        ("GET", f"/v/{plain}", {"headers": {"Cookie": "theme=dark"}}),  # not a credential
        ("GET", f"/v/{plain}", {"headers": staff}),  # the route: a personal page
        ("GET", f"/v/{plain}", {"headers": {"Authorization": "Bearer forged"}}),  # the route: 401
        ("HEAD", f"/v/{plain}", {}),
        ("GET", "/v/", {}),
        ("GET", f"/v/{plain}/more", {}),
    ]

    async def exchange(method: str, url: str, **kw: Any) -> tuple[Any, ...]:
        headers = {"X-Request-ID": "hot-path-2", **kw.pop("headers", {})}
        response = await client.request(method, url, headers=headers, **kw)
        return response.status_code, sorted(response.headers.items()), response.content

    served = _counting(monkeypatch, "_sticker")
    fast = [await exchange(m, u, **dict(kw)) for m, u, kw in requests]
    assert len(served) == 6  # the first six; a credential, HEAD and other paths go to the router

    _through_the_router(monkeypatch)
    slow = [await exchange(m, u, **dict(kw)) for m, u, kw in requests]
    assert [status for status, _, _ in fast[:8]] == [200, 200, 200, 404, 200, 200, 200, 401]
    assert b'data-status="valid"' in fast[0][2]
    assert b'data-status="forged"' in fast[2][2]
    assert dict(fast[6][1])["cache-control"] == "private, no-store"
    assert fast == slow


async def test_anonymous_lookup_pages_are_the_routes_pages(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A number typed without a credential is looked up by the hot path; every answer (status,
    headers, body) is the route's, for found, revoked, ambiguous-free, serial and bad words alike."""
    created = await issue(number="HP-L1", serial="SN-HOT-1")
    await issue(number="HP-L2", conclusion="不合格", valid_until=None)
    staff = await auth_headers(institution_user)
    token = created["instrument"]["sticker_token"]
    requests: list[tuple[str, dict[str, Any]]] = [
        ("/certificates", {}),
        ("/certificates?q=HP-L1", {}),
        ("/certificates?q=hp%EF%BC%8Dl1", {}),  # lower case, a full-width dash
        ("/certificates?q=HP-L2", {}),
        ("/certificates?q=HP-L1&institution=XYJC", {}),
        ("/certificates?q=HP-L1&institution=NOPE", {}),
        ("/certificates?q=SN-HOT-1", {}),  # a serial: the instrument's certificates
        ("/certificates?q=NO-SUCH-THING", {}),
        ("/certificates?q=%20%20", {}),
        ("/certificates?q=a&q=HP-L1", {}),
        (f"/certificates?q=http%3A%2F%2Fx%2Fv%2F{token}", {}),  # a sticker's address: redirect
        ("/certificates?q=" + "X" * 100, {}),
        ("/certificates?q=" + "X" * 101, {}),  # the route's 422
        ("/certificates?q=HP-L1&institution=" + "I" * 65, {}),
        ("/certificates?q=HP-L1", {"headers": {"Cookie": "theme=dark"}}),  # not a credential
        ("/certificates?q=HP-L1", {"headers": staff}),  # the route: a personal page
    ]

    async def exchange(url: str, **kw: Any) -> tuple[Any, ...]:
        headers = {"X-Request-ID": "hot-path-3", **kw.pop("headers", {})}
        response = await client.get(url, headers=headers, follow_redirects=False, **kw)
        return response.status_code, sorted(response.headers.items()), response.content

    served = _counting(monkeypatch, "_lookup_page")
    fast = [await exchange(u, **dict(kw)) for u, kw in requests]
    assert len(served) == 13  # all but the two words past a bound and the staff's request

    _through_the_router(monkeypatch)
    slow = [await exchange(u, **dict(kw)) for u, kw in requests]
    statuses = [status for status, _, _ in fast]
    assert statuses[:10] == [200] * 10
    assert statuses[10] == 303
    assert statuses[12] == statuses[13] == 422
    assert b"HP-L1" in fast[1][2]
    assert b"HP-L1" in fast[2][2]  # found as typed on a phone
    assert b"SN-HOT-1" in fast[6][2]
    assert dict(fast[15][1])["cache-control"] == "private, no-store"
    assert fast == slow


async def test_a_session_cookie_the_route_reads_is_never_taken_for_anonymous(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The route reads cookies as Starlette parses them, which strips the space around a name
    ("gongzhi_session =…" is the session cookie): such a request is the signed-in visitor's and
    goes to the route, never to the hot path's anonymous page."""
    await issue(number="HP-C1")
    login = await client.post(
        "/api/v1/auth/cookie/login",
        data={"username": institution_user.email, "password": TEST_PASSWORD},
    )
    assert login.status_code == 204, login.text
    value = login.cookies[COOKIE_NAME]
    client.cookies.clear()
    served: list[str] = []
    real_page, real_sticker = hotpath._lookup_page, hotpath._sticker

    async def lookup_page(request: Any) -> Any:
        served.append(str(request.url))
        return await real_page(request)

    async def sticker(request: Any) -> Any:
        served.append(str(request.url))
        return await real_sticker(request)

    monkeypatch.setattr(hotpath, "_lookup_page", lookup_page)
    monkeypatch.setattr(hotpath, "_sticker", sticker)
    signed_in = await client.get(
        "/certificates?q=HP-C1", headers={"Cookie": f"{COOKIE_NAME}={value}"}
    )
    assert institution_user.email.encode() in signed_in.content
    for cookie in (f"{COOKIE_NAME} ={value}", f"theme=dark; {COOKIE_NAME}\t={value}"):
        page = await client.get("/certificates?q=HP-C1", headers={"Cookie": cookie})
        assert page.status_code == 200
        assert institution_user.email.encode() in page.content, cookie
        await client.get("/v/whatever", headers={"Cookie": cookie})
    assert served == []
