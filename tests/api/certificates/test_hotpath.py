"""The hot path (api/certificates/hotpath.py) answers exactly as the APIRoute it shortcuts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from api.certificates import hotpath
from tests.api.certificates.support import Issue


async def _exchange(client: httpx.AsyncClient, method: str, url: str, **kw: Any) -> tuple[Any, ...]:
    response = await client.request(method, url, headers={"X-Request-ID": "hot-path-1"}, **kw)
    return response.status_code, sorted(response.headers.items()), response.content


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

    async def through_the_router(self: Any, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    monkeypatch.setattr(hotpath.HotPath, "__call__", through_the_router)
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
