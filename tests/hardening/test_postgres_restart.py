"""PostgreSQL restarted under load. A private PostgreSQL cluster (its own data directory and port,
so the shared server other tests use is never touched) is restarted with ``pg_ctl restart -m fast``
while 16 clients submit complaints with a complainant. Requests in flight fail cleanly (201 or 503
``database_unavailable`` problem+json, never a 500), the same application process serves again
afterwards, and no half-written case exists (each case has its complainant and its first event)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text

from portal.app import create_app
from portal.migrate import upgrade_async
from tests.api.complaints.support import complaint_body
from tests.support import assert_problem, free_port, make_settings, service_missing

# The server binaries of the installed PostgreSQL (Debian: /usr/lib/postgresql/<major>/bin).
PG_BIN = max(
    Path("/usr/lib/postgresql").glob("*/bin"),
    key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    default=Path("/usr/lib/postgresql/15/bin"),
)


class Cluster:
    def __init__(self, root: Path, port: int) -> None:
        self.data = root / "data"
        self.port = port
        self.log = root / "postgres.log"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [
                "runuser", "-u", "postgres", "--",
                str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                "-o", f"-p {self.port} -k {self.data.parent} -c listen_addresses=127.0.0.1",
                *args,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        service_missing(f"PostgreSQL server binaries not found in {PG_BIN}")
    root = Path(tempfile.mkdtemp(prefix="gongzhi-pg-"))
    shutil.chown(root, "postgres", "postgres")
    instance = Cluster(root, free_port())
    try:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "initdb"), "-D", str(instance.data),
             "-A", "trust", "-U", "postgres", "--no-sync"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    except (subprocess.CalledProcessError, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        service_missing(f"cannot create a private PostgreSQL cluster: {exc!r}")
    instance.pg_ctl("start")
    try:
        yield instance
    finally:
        try:
            instance.pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def served(cluster: Cluster, tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{cluster.port}/postgres"
    await upgrade_async(url)
    settings = make_settings(
        url,
        tmp_path,
        case_rate_limit_client="100000/minute",
        case_rate_limit_account="100000/minute",
    )
    application = create_app(settings)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, application.state.database


async def test_requests_in_flight_fail_cleanly_and_the_server_recovers(
    cluster: Cluster, served: tuple[httpx.AsyncClient, Any]
) -> None:
    client, database = served
    outcomes: list[httpx.Response] = []
    stop = asyncio.Event()
    answered = asyncio.Event()

    async def submitter(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            body = complaint_body(complainant={"name": f"客户{n}-{i}", "phone": "13800138000"})
            outcomes.append(await client.post("/api/v1/cases", json=body))
            if len(outcomes) >= 4:
                answered.set()

    tasks = [asyncio.create_task(submitter(n)) for n in range(16)]
    # Restart only once submissions are being answered: on a loaded machine the first ones can
    # take seconds, and a restart before any was answered would test nothing.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(answered.wait(), timeout=120)
    before_restart = len(outcomes)
    await anyio.to_thread.run_sync(lambda: cluster.pg_ctl("restart", "-m", "fast"))
    await asyncio.sleep(2.0)
    stop.set()
    await asyncio.gather(*tasks)

    statuses = [r.status_code for r in outcomes]
    assert before_restart > 0
    assert set(statuses) <= {201, 503}, sorted(set(statuses))
    for response in outcomes:
        if response.status_code == 503:
            assert_problem(response, 503, "database_unavailable")
            assert response.headers.get("retry-after")
    # The same process serves again: no restart of the application.
    for _ in range(20):
        again = await client.post("/api/v1/cases", json=complaint_body())
        if again.status_code == 201:
            break
        await asyncio.sleep(0.5)
    assert again.status_code == 201, again.text

    accepted = {r.json()["tracking_number"] for r in outcomes if r.status_code == 201}
    async with database.engine.connect() as connection:
        cases = (
            await connection.execute(
                text(
                    "SELECT c.tracking_number,"
                    " (SELECT count(*) FROM case_party p WHERE p.case_id = c.id),"
                    " (SELECT count(*) FROM case_event e WHERE e.case_id = c.id)"
                    " FROM complaint_case c"
                )
            )
        ).all()
    stored = {row[0] for row in cases}
    assert accepted <= stored  # every accepted case is there
    half_written = [row for row in cases if row[1] < 1 or row[2] < 1]
    assert half_written == []
    print(  # noqa: T201 - reported in docs/reliability.md
        f"restart under load: {len(outcomes)} requests, {statuses.count(201)} × 201,"
        f" {statuses.count(503)} × 503, {len(stored)} cases stored"
    )
