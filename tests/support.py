"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any

import httpx


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """The response is an RFC 9457 problem with the given status and stable code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for key in ("type", "title", "detail", "code", "title_zh", "detail_zh"):
        assert body.get(key), f"problem lacks {key}: {body}"
    if code is not None:
        assert body["code"] == code, body
    assert "Traceback" not in response.text
    return body
