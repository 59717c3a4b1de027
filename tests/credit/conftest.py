"""Credit test fixtures: a movable clock, the shared rate limiter reset per test, members."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from credit.deps import current_time
from portal import domains
from portal.accounts.models import OrganizationKind, Role, User
from tests.credit import facts as provider
from tests.credit.support import Association, Clock, Headers, MakeAssociation
from tests.support import MakeOrg, MakeUser


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
