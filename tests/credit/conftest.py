"""Credit test fixtures: a movable clock, the shared rate limiter reset per test, members."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from credit.demo import make_uscc
from credit.deps import current_time
from portal import domains
from portal.accounts.models import Organization, OrganizationKind, Role, User
from tests.conftest import MakeOrg, MakeUser
from tests.credit import facts as provider


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def advance(self, **delta: Any) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now


@pytest.fixture
def clock(app: FastAPI) -> Iterator[Clock]:
    # 2026-03-02 09:00 Beijing, a Monday with no holiday in the following weeks.
    clock = Clock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    app.dependency_overrides[current_time] = lambda: clock.now
    yield clock
    app.dependency_overrides.pop(current_time, None)


@pytest.fixture(autouse=True)
async def _reset_rate_limit(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "app" in request.fixturenames:
        app: FastAPI = request.getfixturevalue("app")
        limiter = getattr(app.state, "rate_limiter", None)
        if limiter is not None:
            await limiter.reset()


@pytest.fixture
def platform_facts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Install tests/credit/facts.py as a facts provider (see its docstring)."""
    monkeypatch.setattr(domains, "DOMAINS", [*domains.DOMAINS, "tests.credit"])
    provider.clear()
    yield provider
    provider.clear()


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


@pytest.fixture
def make_association(
    client: httpx.AsyncClient,
    make_org: MakeOrg,
    make_user: MakeUser,
    auth_headers: Callable[[User], Awaitable[Headers]],
) -> MakeAssociation:
    async def make(
        name: str = "咸阳市成品油流通行业协会", industry: str = "成品油零售"
    ) -> Association:
        org = await make_org(kind=OrganizationKind.association, name=name, industry=industry)
        user = await make_user(role=Role.association, org=org)
        return Association(org, user, await auth_headers(user), client)

    return make
