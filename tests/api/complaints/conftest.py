"""Complaints test fixtures: rate limits reset per test, a photo uploader, the photo storage
(local disk or a real S3 server, tests/objectstore.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.fixtures import fresh_limits  # noqa: F401
from tests.objectstore import photo_storage, s3_server  # noqa: F401

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
