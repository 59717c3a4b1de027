"""Test harness: a fresh database per run, built by running the migrations, on SQLite always and
on PostgreSQL when one is reachable (GONGZHI_TEST_POSTGRES_URL). Tests that take the ``client``,
``app`` or ``database`` fixture run once per database. Tables other than reference data (regions
and the like) are emptied after each test that uses any of them.

With GONGZHI_REQUIRE_SERVICES=1 (set by .ci/run) a missing PostgreSQL fails the run instead of
skipping; without it the skip says why.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from portal import clock
from portal.accounts.auth import PasswordBoundJWTStrategy
from portal.accounts.models import Organization, OrganizationKind, Role, User
from portal.accounts.schemas import OrganizationCreate, StaffUserCreate
from portal.accounts.service import create_organization, create_staff_user
from portal.app import create_app
from portal.db import Database
from portal.domains import import_models
from portal.migrate import upgrade_async
from portal.settings import Settings
from tests.support import (
    TEST_PASSWORD,
    MakeOrg,
    MakeUser,
    create_postgres_database,
    drop_postgres_database,
    empty_tables,
    make_settings,
    new_owner_uscc,
    postgres_async_url,
)

import_models()


# ``GONGZHI_TEST_NOW=2026-12-31T23:30:00+00:00`` runs the whole suite from that moment on the
# portal's clock (time keeps flowing; servers and workers the tests start inherit the variable),
# so the suite is shown to pass at any hour and across a year's end (``make pytest-clocks``).
clock.start_from_environment(production=False)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("sqlite") / "gongzhi.db"
        url = f"sqlite+aiosqlite:///{path}"
        await upgrade_async(url)
        yield url
        return
    name = await create_postgres_database()
    url = postgres_async_url(name)
    try:
        await upgrade_async(url)
        yield url
    finally:
        await drop_postgres_database(name)


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(database_url, tmp_path_factory.mktemp("storage"))


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture(scope="session")
def database(app: FastAPI) -> Database:
    db: Database = app.state.database
    return db


@pytest.fixture(autouse=True)
async def _empty_tables_after_each_test(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Every test that can write to the database (it uses ``client``, ``app``, ``database`` or a
    fixture built on them) leaves it empty, not only the ones that use ``client``. Autouse, so set
    up first and torn down last: after the test's own fixtures have closed."""
    yield
    if "app" in request.fixturenames:
        application: FastAPI = request.getfixturevalue("app")
        await empty_tables(application.state.database)


@pytest.fixture
async def client(app: FastAPI, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def make_org(database: Database) -> MakeOrg:
    async def make(
        kind: OrganizationKind = OrganizationKind.institution,
        region: str = "610400",
        code: str | None = None,
        name: str | None = None,
        **extra: Any,
    ) -> Organization:
        code = code or f"ORG{uuid.uuid4().hex[:8].upper()}"
        async with database.transaction() as session:
            return await create_organization(
                session,
                OrganizationCreate(
                    kind=kind,
                    code=code,
                    name=name or f"测试机构{code}",
                    region_code=region,
                    **extra,
                ),
                actor=None,
            )

    return make


@pytest.fixture
def make_user(database: Database, make_org: MakeOrg) -> MakeUser:
    async def make(
        role: Role = Role.citizen,
        region: str = "610400",
        org: Organization | None = None,
        email: str | None = None,
    ) -> User:
        if org is None and role in (Role.institution, Role.association):
            kind = OrganizationKind(role.value)
            org = await make_org(kind=kind, region=region)
        if org is None and role == Role.owner:
            org = await make_org(
                kind=OrganizationKind.owner, region=region, uscc=new_owner_uscc(region)
            )
        async with database.transaction() as session:
            return await create_staff_user(
                session,
                StaffUserCreate(
                    email=email or f"{role.value}-{uuid.uuid4().hex[:8]}@example.cn",
                    password=TEST_PASSWORD,
                    role=role,
                    region_code=region,
                    organization_code=org.code if org else None,
                ),
                actor=None,
            )

    return make


@pytest.fixture
def auth_headers(settings: Settings) -> Callable[[User], Awaitable[dict[str, str]]]:
    """A bearer token for the user, made by the same strategy as /api/v1/auth/jwt/login."""
    strategy = PasswordBoundJWTStrategy(
        secret=settings.secret_key, lifetime_seconds=settings.jwt_lifetime_seconds
    )

    async def headers(user: User) -> dict[str, str]:
        return {"Authorization": f"Bearer {await strategy.write_token(user)}"}

    return headers
