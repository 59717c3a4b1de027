"""Complaints test fixtures: rate limits reset per test, a photo uploader."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI


@pytest.fixture(autouse=True)
async def fresh_limits(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Rate limits count per client address; every database test starts with a clean slate."""
    if "app" not in request.fixturenames:
        yield
        return
    app: FastAPI = request.getfixturevalue("app")
    await app.state.rate_limiter.reset()
    yield
    await app.state.rate_limiter.reset()


Upload = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def upload(client: httpx.AsyncClient) -> Upload:
    async def send(
        data: bytes, filename: str = "photo.jpg", content_type: str = "image/jpeg", **kw: Any
    ) -> httpx.Response:
        return await client.post(
            "/api/v1/media", files={"file": (filename, data, content_type)}, **kw
        )

    return send
