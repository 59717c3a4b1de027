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


def report_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "report",
        "category": "unverified_instrument",
        "description": "菜市场东门第三家摊位的电子秤没有检定标志。",
        "business": {"name": "秦都区东门菜市场 刘记蔬菜", "address": "咸阳市秦都区人民东路"},
        "region_code": "610402",
        "extra": {"instrument_kind": "scale", "sticker_state": "missing"},
        "anonymous": True,
    }
    body.update(overrides)
    return body


def complaint_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "complaint",
        "category": "short_weight",
        "description": "买了两斤排骨，回家复秤只有一斤七两。",
        "business": {
            "name": "咸阳市秦都区张记肉铺",
            "address": "咸阳市秦都区人民路农贸市场 8 号",
            "uscc": "91610402MA6X8Y2K70",
        },
        "region_code": "610402",
        "extra": {"goods": "排骨", "claimed_quantity": 1000, "actual_quantity": 850},
        "complainant": {"name": "张三", "phone": "138 0013 8000"},
        "request": "退还差价",
    }
    body.update(overrides)
    return body
