"""Helpers for the certificate tests: issue certificates through the API as an institution
(fixtures ``institution_user`` and ``issue``, registered by the conftests that import them)."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from stdnum.cn import uscc

from api.certificates.queries import today_local
from portal.accounts.models import Role, User

_serials = itertools.count(1)


def valid_uscc(base17: str = "91610402MA6XY0001") -> str:
    return base17 + uscc.calc_check_digit(base17)


def days(n: int) -> str:
    return (today_local() + timedelta(days=n)).isoformat()


def cert_body(**overrides: Any) -> dict[str, Any]:
    n = next(_serials)
    body: dict[str, Any] = {
        "number": f"T-{n:06d}",
        "category_code": "scale-pc",
        "model": "ACS-15",
        "serial": f"SN{n:06d}",
        "manufacturer": "上海友声衡器有限公司",
        "owner_name": "咸阳市秦都区人民路农贸市场有限公司",
        "owner_uscc": valid_uscc(),
        "address": "人民路农贸市场",
        "region_code": "610402",
        "verified_on": days(-10),
        "valid_until": days(355),
        "verifier": "陈工",
    }
    body.update(overrides)
    return body


Issue = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
async def institution_user(make_user: Callable[..., Awaitable[User]]) -> User:
    return await make_user(Role.institution, region="610400")


@pytest.fixture
def issue(
    client: httpx.AsyncClient,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    institution_user: User,
) -> Issue:
    async def do(user: User | None = None, **overrides: Any) -> dict[str, Any]:
        headers = await auth_headers(user or institution_user)
        response = await client.post(
            "/api/v1/certificates", json=cert_body(**overrides), headers=headers
        )
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    return do
