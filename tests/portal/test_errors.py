"""Every error is RFC 9457 problem+json with a stable code; no input produces a stack trace."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from tests.support import assert_problem


async def test_unknown_route_is_problem_json(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/api/v1/no-such-thing"), 404, "not_found")
    assert body["instance"] == "/api/v1/no-such-thing"
    assert body["request_id"]


async def test_browser_gets_html_404_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/no-such-page", headers={"Accept": "text/html,*/*"})
    assert response.status_code == 404
    assert "页面不存在" in response.text


async def test_wrong_method_is_problem_json(client: httpx.AsyncClient) -> None:
    assert_problem(await client.delete("/healthz"), 405, "method_not_allowed")


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        content=b'{"email": "a@b.cn", "password": ',
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 400, "malformed_json")


async def test_wrong_types_list_field_errors(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": 12, "password": ["x"], "display_name": {}}
    )
    body = assert_problem(response, 422, "validation_error")
    fields = {error["field"] for error in body["errors"]}
    assert {"body.email", "body.password", "body.display_name"} <= fields
    assert all(error["message"] for error in body["errors"])
    # And in Chinese, by the kind of error, for a form to show beside the field (issue 14).
    by_field = {error["field"]: error["message_zh"] for error in body["errors"]}
    assert by_field["body.password"] == "请填写文字。"
    assert all(re.search(r"[\u4e00-\u9fff]", message) for message in by_field.values())


async def test_declared_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
        headers={"Content-Type": "application/json"},
    )
    assert_problem(response, 413, "payload_too_large")


async def test_streamed_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks():  # no Content-Length: the limit must count what arrives
        for _ in range(40):
            yield b" " * 65536

    response = await client.post(
        "/api/v1/auth/register", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_problem(response, 413, "payload_too_large")


async def test_unexpected_exception_is_500_problem_without_trace(app: FastAPI) -> None:
    async def explode() -> None:
        raise RuntimeError("secret internal detail")

    app.add_api_route("/api/v1/test-explode", explode)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        response = await c.get("/api/v1/test-explode")
    body = assert_problem(response, 500, "internal_error")
    assert "secret internal detail" not in response.text
    assert body["request_id"] == response.headers["x-request-id"]


@pytest.mark.parametrize("request_id", ["abc-123", "x" * 100, "<script>"])
async def test_request_id_is_echoed_only_when_safe(
    client: httpx.AsyncClient, request_id: str
) -> None:
    response = await client.get("/healthz", headers={"X-Request-ID": request_id})
    echoed = response.headers["x-request-id"]
    if request_id == "abc-123":
        assert echoed == request_id
    else:
        assert echoed != request_id
        assert len(echoed) == 32
