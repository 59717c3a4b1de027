from __future__ import annotations

import httpx

from portal.db import Database
from portal.outbox import service as outbox


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_each_dependency(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with database.transaction() as session:
        await outbox.enqueue(session, "test.readyz", {})
    response = await client.get("/readyz")
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
