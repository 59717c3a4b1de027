"""Helpers shared by the credit tests (their fixtures are in conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from credit.demo import make_uscc
from portal.accounts.models import Organization, User


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def advance(self, **delta: Any) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now


_serial = iter(range(10_000, 10**7, 7))


def new_uscc(region: str = "610402") -> str:
    return make_uscc(region, next(_serial) + uuid.uuid4().int % 1000 * 10_000)


Headers = dict[str, str]


class Association:
    """An association with one staff account, and helpers to drive its API."""

    def __init__(self, org: Organization, user: User, headers: Headers, client: httpx.AsyncClient):
        self.org = org
        self.user = user
        self.headers = headers
        self.client = client

    async def add_member(self, name: str, region: str = "610402", **extra: Any) -> str:
        code = new_uscc(region)
        response = await self.client.post(
            "/api/v1/credit/association/members",
            json={"uscc": code, "name": name, "region_code": region, **extra},
            headers=self.headers,
        )
        assert response.status_code == 201, response.text
        return code

    async def set_indicators(self, uscc: str, **values: bool) -> None:
        response = await self.client.put(
            f"/api/v1/credit/association/members/{uscc}/indicators",
            json={"values": values},
            headers=self.headers,
        )
        assert response.status_code == 200, response.text

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/credit/association{path}", json=body, headers=self.headers
        )

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(f"/api/v1/credit/association{path}", headers=self.headers)


MakeAssociation = Callable[..., Awaitable[Association]]
