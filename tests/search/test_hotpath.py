"""The search hot path (search/hotpath.py) answers exactly as the APIRoute it shortcuts, and
leaves to the route every request it would refuse or read differently."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest

from search import hotpath
from search.engine import SearchDocument, SearchEngine

REQUESTS = [
    "/api/v1/search",
    "/api/v1/search?q=电子秤",
    "/api/v1/search?q=%20电子秤%20&kind=article&per_page=1",
    "/api/v1/search?q=电子秤&per_page=1&page=2",
    "/api/v1/search?q=jlf",  # answered with what was meant (did_you_mean)
    "/api/v1/search?q=计量&kind=&region=&date_from=&date_to=&tag=",  # a GET form left blank
    "/api/v1/search?q=计量&date_from=2020-01-01&date_to=2026-12-31&tag=电子秤&region=上海",
    "/api/v1/search?q=计量&other=ignored",
    # refused by the route (422, or InvalidInput's 400): the hot path must refuse them alike
    "/api/v1/search?q=" + "计" * 101,
    "/api/v1/search?kind=person",
    "/api/v1/search?page=0",
    "/api/v1/search?page=101",
    "/api/v1/search?per_page=51",
    "/api/v1/search?page=x",
    "/api/v1/search?page=%EF%BC%92",  # a full-width ２
    "/api/v1/search?date_from=2026-1-1",
    "/api/v1/search?date_from=0",
    "/api/v1/search?date_from=2026-12-31&date_to=2026-01-01",
    "/api/v1/search?tag=" + "标" * 21,
    "/api/v1/search?q=a&q=b",  # given twice: left to the route (which reads the last)
]


def _plain(response: httpx.Response) -> tuple[Any, ...]:
    headers = {k: v for k, v in response.headers.items() if k != "content-length"}
    body = response.json()
    body.pop("took_ms", None)  # a time, different on every call
    return response.status_code, sorted(headers.items()), body


async def test_hot_path_and_route_give_the_same_answers(
    client: httpx.AsyncClient, index_engine: SearchEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    await index_engine.index(
        [
            SearchDocument(
                kind="article",
                id=f"hp{n}",
                title=f"电子秤的计量检定 {n}",
                body="电子秤属于强制检定的计量器具。" * 3,
                url=f"/articles/hp{n}",
                tags=("电子秤",),
                date=date(2024, 5, n),
            )
            for n in range(1, 4)
        ]
    )
    headers = {"X-Request-ID": "hot-path-search"}
    served = []
    search = hotpath._search

    async def counted(request: Any, params: dict[str, Any]) -> Any:
        served.append(params)
        return await search(request, params)

    monkeypatch.setattr(hotpath, "_search", counted)
    answered = []
    for url in REQUESTS:
        answered.append(_plain(await client.get(url, headers=headers)))
    head = await client.head("/api/v1/search", headers=headers)

    async def through_the_router(self: Any, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    monkeypatch.setattr(hotpath.HotPath, "__call__", through_the_router)
    routed = [_plain(await client.get(url, headers=headers)) for url in REQUESTS]
    assert answered == routed
    assert len(served) == 8 + 1  # the valid requests, and the one of InvalidInput (dates)
    assert [status for status, _, _ in answered[:8]] == [200] * 8
    assert answered[1][2]["total"] == 3
    assert answered[4][2]["did_you_mean"] == "计量法"
    assert all(status == 422 for status, _, _ in answered[8:-1])
    assert dict(answered[1][1])["cache-control"] == "public, max-age=60"
    assert head.status_code == (await client.head("/api/v1/search", headers=headers)).status_code


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", {}),
        (b"q=%E8%AE%A1&page=2&kind=", {"q": "计", "page": 2, "kind": None}),
        (b"date_from=2024-01-31&x=1", {"date_from": date(2024, 1, 31)}),
        (b"page=3&page=4", None),
        (b"per_page=0", None),
        (b"kind=Article", None),
    ],
)
def test_plain_params(query: bytes, expected: dict[str, Any] | None) -> None:
    assert hotpath.plain_params(query) == expected
