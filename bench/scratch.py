"""The empty database one bench run works in: a SQLite file in the run's work folder, or a
PostgreSQL database of its own on the test server, dropped afterwards whatever happens."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def scratch_database(db: str, sqlite_file: Path) -> Iterator[str]:
    """The database's async URL; ``db`` is "sqlite" or "postgres"."""
    if db == "sqlite":
        yield f"sqlite+aiosqlite:///{sqlite_file}"
        return
    from tests.support import _postgres_admin, postgres_async_url

    name = f"gongzhi_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_postgres_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield postgres_async_url(name)
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
