from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from portal.accounts.models import Role, User
from portal.db import Database
from portal.outbox import service as outbox
from tests.support import MakeUser

AuthHeaders = Callable[[User], Awaitable[dict[str, str]]]


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_each_dependency(
    client: httpx.AsyncClient, database: Database, make_user: MakeUser, auth_headers: AuthHeaders
) -> None:
    async with database.transaction() as session:
        await outbox.enqueue(session, "test.readyz", {})
    admin = await make_user(Role.admin)
    response = await client.get("/readyz", headers=await auth_headers(admin))
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["database"]["backend"] in ("sqlite", "postgresql")
    assert checks["database"]["outbox"]["pending"] == 1
    assert checks["storage"]["ok"] is True


async def test_readyz_is_503_when_storage_is_unusable(
    client: httpx.AsyncClient, app, tmp_path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    original = app.state.settings.storage_dir
    app.state.settings.storage_dir = blocker / "storage"
    try:
        response = await client.get("/readyz")
    finally:
        app.state.settings.storage_dir = original
    assert response.status_code == 503
    assert response.json()["checks"]["storage"]["ok"] is False
    assert response.json()["checks"]["database"]["ok"] is True


async def test_readyz_tells_the_public_only_ok_or_failing(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    checks = response.json()["checks"]
    assert checks["database"] == {"ok": True}
    assert checks["storage"] == {"ok": True}  # not where the files are
    assert checks["rate_limiter"] == {"ok": True}
    assert all(set(check) == {"ok"} for check in checks.values()), checks
