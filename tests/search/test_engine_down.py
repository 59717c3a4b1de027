"""Meilisearch down while a citizen searches: a clear 503 problem+json, never a 500 or a hang
(the configured behaviour; see docs/reliability.md). A killed Meilisearch is a closed port."""

from __future__ import annotations

import socket

import httpx
from fastapi import FastAPI

from tests.support import assert_problem


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the socket goes


async def test_search_answers_503_while_meilisearch_is_down(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    settings = app.state.settings
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
