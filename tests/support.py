"""Helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from portal.accounts.models import Organization, User
from portal.db import Database, metadata
from portal.settings import Environment, Settings


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


REQUIRE_SERVICES = os.environ.get("GONGZHI_REQUIRE_SERVICES") == "1"
POSTGRES_ADMIN_URL = os.environ.get(
    "GONGZHI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_SECRET = "test-secret-key-that-is-long-enough-for-jwt-signing"
TEST_PASSWORD = "correct-horse-battery"
# The `gongzhi` command of the virtualenv running the tests.
GONGZHI = str(Path(sys.executable).parent / "gongzhi")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served_portal(
    root: Path, *, demo: bool = False, env: dict[str, str] | None = None, workers: int = 1
) -> Iterator[str]:
    """A real ``gongzhi serve`` process on a free port with a fresh SQLite database under
    ``root`` (migrated, with the demo data if asked), yielding its base URL until the block ends."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "GONGZHI_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'portal.db'}",
        "GONGZHI_STORAGE_DIR": str(root / "storage"),
        "GONGZHI_SIGNING_KEY_FILE": str(root / "signing-key.pem"),
        "GONGZHI_BASE_URL": base,
        "GONGZHI_ENV": "test",
        "GONGZHI_PAGE_CACHE_SECONDS": "0",
        "GONGZHI_CREDIT_LIST_TOTAL_SECONDS": "0",
        "GONGZHI_CREDIT_LIST_PAGE_SECONDS": "0",
        # Keys of this server's own in a shared Redis (its cache, its rate-limit counters): the
        # default prefix names the database, portal.db for every served portal, and the suite's
        # two workers run such servers at once.
        "GONGZHI_CACHE_PREFIX": f"test-served-{uuid.uuid4().hex[:12]}",
        # Several workers share one cache (serve refuses per-process ones): Redis database 5.
        **({"GONGZHI_CACHE_URL": "redis://127.0.0.1:6379/5"} if workers > 1 else {}),
        **(env or {}),
    }
    for step in (["db", "upgrade"], ["demo"]) if demo else (["db", "upgrade"],):
        subprocess.run(
            [GONGZHI, *step], env=environment, check=True, capture_output=True, timeout=300
        )
    process = subprocess.Popen(
        [GONGZHI, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            process.kill()
            stderr = process.stderr.read() if process.stderr else b""
            raise RuntimeError(f"server did not start: {stderr!r}")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        if process.stderr is not None:  # a pipe left open is a ResourceWarning, an error here
            process.stderr.close()


def service_missing(reason: str) -> None:
    """Skip with the reason, or fail when CI requires the service."""
    if REQUIRE_SERVICES:
        pytest.fail(f"GONGZHI_REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


async def _postgres_admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def postgres_async_url(database: str) -> str:
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return base.replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + database


async def create_postgres_database() -> str:
    """Create an empty PostgreSQL database for this run and return its async URL."""
    name = f"gongzhi_test_{uuid.uuid4().hex[:12]}"
    try:
        await _postgres_admin(f'CREATE DATABASE "{name}"')
    except (TimeoutError, OSError) as exc:
        service_missing(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {exc!r}")
    return name


async def drop_postgres_database(name: str) -> None:
    await _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(database_url: str, storage: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "env": Environment.test,
        "database_url": database_url,
        "storage_dir": storage,
        "signing_key_file": storage / "signing-key.pem",
        "secret_key": TEST_SECRET,
        "run_worker_in_process": False,
        "base_url": "http://testserver",
        # Tests read a page right after changing what it shows; the cache has its own tests.
        "page_cache_seconds": 0,
        "credit_list_total_seconds": 0,
        "credit_list_page_seconds": 0,
        # Every test registers from one address (127.0.0.1) in one session's app, and most test
        # directories keep rate-limit counters between tests; the limit has its own test.
        "registrations_per_ip": "100000/hour",
    }
    values.update(overrides)
    return Settings.build(**values)


def _data_tables() -> list[str]:
    return [t.name for t in metadata.sorted_tables if not t.info.get("reference")]


async def empty_tables(database: Database) -> None:
    tables = _data_tables()
    async with database.engine.begin() as connection:
        if database.is_sqlite:
            for name in reversed(tables):
                await connection.execute(text(f'DELETE FROM "{name}"'))
        else:
            joined = ", ".join(f'"{name}"' for name in tables)
            await connection.execute(text(f"TRUNCATE {joined} CASCADE"))


# The types of the ``make_org`` and ``make_user`` fixtures (tests/conftest.py).
MakeOrg = Callable[..., Awaitable[Organization]]
MakeUser = Callable[..., Awaitable[User]]


def new_owner_uscc(region: str = "610402") -> str:
    """A fresh, well-formed unified social credit code for an instrument owner."""
    from credit.demo import make_uscc

    return make_uscc(region, uuid.uuid4().int % 10**8)


def workbook_with_a_row_on_the_last_line(header: list[Any], row: list[Any], column: int) -> bytes:
    """A 5 KB XLSX: ``header``, ``row``, and one more value (in ``column``) on the sheet's last
    line, 1,048,576, with a dimension that claims all 16,384 columns: what an import must refuse
    at once instead of reading every blank line padded to every column."""
    import io
    import re
    import zipfile

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    sheet.append(row)
    sheet.cell(row=1_048_576, column=column, value="LAST-2")
    written = io.BytesIO()
    book.save(written)
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(written.getvalue())) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            part = source.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                part = re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:XFD1048576"', part)
            target.writestr(info, part)
    assert len(out.getvalue()) < 10_000
    return out.getvalue()
