"""Meilisearch down while a citizen searches: a clear 503 problem+json, never a 500 or a hang
(the configured behaviour; see docs/reliability.md). A killed Meilisearch is a closed port."""

from __future__ import annotations

import socket

import httpx
from fastapi import FastAPI

from search.settings import SearchSettings
from tests.support import assert_problem


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the socket goes


async def test_search_answers_503_while_meilisearch_is_down(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    settings = app.state.settings.of(SearchSettings)
    saved = (settings.search_backend, settings.meili_url, settings.meili_timeout_seconds)
    settings.search_backend = "meilisearch"
    settings.meili_url = f"http://127.0.0.1:{_closed_port()}"
    settings.meili_timeout_seconds = 2
    try:
        response = await client.get("/api/v1/search", params={"q": "电子秤"})
        suggest = await client.get("/api/v1/search/suggest", params={"q": "jlf"})
        ready = await client.get("/readyz")
    finally:
        settings.search_backend, settings.meili_url, settings.meili_timeout_seconds = saved
    body = assert_problem(response, 503, "search_unavailable")
    assert body["detail_zh"]
    assert suggest.status_code == 503
    assert ready.status_code == 503  # /readyz reports the engine as down


async def test_configured_fallback_answers_from_the_embedded_engine(
    client: httpx.AsyncClient, app: FastAPI, database, make_user, auth_headers
) -> None:
    """GONGZHI_SEARCH_FALLBACK=embedded: the outbox keeps the embedded index in step (it is
    written first), so while Meilisearch is down searches still find what was published."""
    from portal.accounts.models import Role
    from portal.outbox.worker import OutboxWorker

    settings = app.state.settings.of(SearchSettings)
    saved = (
        settings.search_backend,
        settings.meili_url,
        settings.meili_timeout_seconds,
        settings.search_fallback,
    )
    settings.search_backend = "meilisearch"
    settings.meili_url = f"http://127.0.0.1:{_closed_port()}"
    settings.meili_timeout_seconds = 2
    settings.search_fallback = "embedded"
    try:
        editor = await make_user(Role.editor, region="610400")
        created = await client.post(
            "/api/v1/articles",
            json={
                "title": "停电也能查：备用检索验证",
                "summary": "备用引擎",
                "body": "电子计价秤的强制检定周期为一年。",
                "tags": ["科普"],
                "publish": True,
            },
            headers=await auth_headers(editor),
        )
        assert created.status_code == 201, created.text
        # The worker applies the index event: the embedded index first, then Meilisearch fails
        # and the event is retried later; the embedded index already has the article.
        await OutboxWorker(database).run_once()
        response = await client.get("/api/v1/search", params={"q": "备用检索"})
    finally:
        (
            settings.search_backend,
            settings.meili_url,
            settings.meili_timeout_seconds,
            settings.search_fallback,
        ) = saved
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["engine"] == "meilisearch+embedded"
    assert [hit["title_html"] for hit in body["items"]][0].replace("<mark>", "").replace(
        "</mark>", ""
    ) == ("停电也能查：备用检索验证")
