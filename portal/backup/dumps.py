"""The database part of a backup: a consistent snapshot of the whole database, and its restore
into an empty one. SQLite through its online backup API (a copy a running portal may keep writing
under, taken in one step so it is one snapshot); PostgreSQL through Debian's pg_dump/pg_restore
(postgresql-client), with pg_dump reading a snapshot this module exported so the row counts in
the manifest describe exactly the dumped data."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from portal.backup.errors import BackupDamaged, BackupToolFailed, RestoreTargetNotEmpty

STDERR_SHOWN = 2000  # the tail of a failing tool's messages, for the operator


@dataclass(frozen=True)
class Snapshot:
    revisions: list[str]
    tables: dict[str, int]
    tool: str
    server_version: str


def dialect_of(url: str) -> str:
    return "sqlite" if make_url(url).get_backend_name() == "sqlite" else "postgresql"


# --- SQLite ---------------------------------------------------------------------------------


def _deadline(limit_seconds: float) -> Callable[[int, int, int], None]:
    """A progress callback of sqlite3's backup that stops it after ``limit_seconds``: while the
    other database is locked, the copy otherwise retries without end."""
    # A timeout, not business time: the monotonic clock, which no clock change moves.
    stop = time.monotonic() + limit_seconds

    def check(_status: int, _remaining: int, _total: int) -> None:
        if time.monotonic() > stop:
            raise BackupToolFailed(
                f"The SQLite copy ran longer than {limit_seconds:g} s (the database is locked?).",
                detail_zh=f"SQLite 复制超过 {limit_seconds:g} 秒（数据库被锁定？），已终止。",
            )

    return check


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupToolFailed(
            "An in-memory SQLite database has nothing to back up or restore into.",
            detail_zh="内存中的 SQLite 数据库无法备份或恢复。",
        )
    return Path(database)


def _sqlite_tables(connection: sqlite3.Connection) -> list[str]:
    rows = connection.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    ).fetchall()
    return [row[0] for row in rows]


def _sqlite_snapshot(path: Path) -> Snapshot:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {
            name: connection.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            for name in _sqlite_tables(connection)
        }
        revisions = (
            [row[0] for row in connection.execute("SELECT version_num FROM alembic_version")]
            if "alembic_version" in tables
            else []
        )
    finally:
        connection.close()
    return Snapshot(sorted(revisions), tables, f"sqlite {sqlite3.sqlite_version}", "")


def _sqlite_dump(url: str, target: Path, limit_seconds: float) -> Snapshot:
    source = sqlite3.connect(f"file:{_sqlite_path(url)}?mode=ro", uri=True)
    destination = sqlite3.connect(target)
    try:
        # pages=-1: the whole database in one step, under one read transaction (WAL lets the
        # portal keep writing meanwhile), so the copy is one consistent snapshot.
        source.backup(destination, pages=-1, progress=_deadline(limit_seconds))
        # One self-contained file: no -wal beside it.
        destination.execute("PRAGMA journal_mode=DELETE")
    finally:
        destination.close()
        source.close()
    return _sqlite_snapshot(target)


def _sqlite_tables_at(url: str) -> list[str]:
    path = _sqlite_path(url)
    if not path.exists():
        return []
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return _sqlite_tables(connection)
    finally:
        connection.close()


def _sqlite_restore(dump: Path, url: str, limit_seconds: float) -> None:
    path = _sqlite_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{dump}?mode=ro", uri=True)
    destination = sqlite3.connect(path)
    try:
        # Checked again on the connection that writes: nothing slipped in since the first check.
        if _sqlite_tables(destination):
            raise RestoreTargetNotEmpty(
                f"The database {path} already has tables.",
                detail_zh=f"数据库 {path} 中已有数据表。",
            )
        # A dump whose manifest was rewritten to match it is still checked before it is copied.
        problem = source.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise sqlite3.DatabaseError(problem)
        # One step, in one transaction of the destination: a failure leaves it as it was.
        source.backup(destination, pages=-1, progress=_deadline(limit_seconds))
    except sqlite3.DatabaseError as exc:
        raise BackupDamaged(
            f"The database dump cannot be restored: {exc}.",
            detail_zh=f"数据库备份无法恢复：{exc}。",
        ) from exc
    finally:
        destination.close()
        source.close()


# --- PostgreSQL -----------------------------------------------------------------------------


def _libpq_environment(url: URL) -> dict[str, str]:
    """The connection as libpq variables: the password never appears on a command line."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("PG")  # the operator's own PG* settings must not redirect the dump
    }
    values = {
        "PGHOST": url.host,
        "PGPORT": str(url.port) if url.port else None,
        "PGUSER": url.username,
        "PGPASSWORD": url.password if isinstance(url.password, str) else None,
        "PGDATABASE": url.database,
    }
    ssl = url.query.get("ssl") or url.query.get("sslmode")
    if isinstance(ssl, str):
        values["PGSSLMODE"] = ssl
    environment.update({key: value for key, value in values.items() if value})
    return environment


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupToolFailed(
            f"{name} is not installed: install Debian's postgresql-client "
            "(scripts/install-system-deps.sh).",
            detail_zh=f"未安装 {name}：请安装 Debian 的 postgresql-client（scripts/install-system-deps.sh）。",
        )
    return path


async def _run(arguments: list[str], environment: dict[str, str], *, limit_seconds: float) -> str:
    """Run a tool; its stdout, or BackupToolFailed with the tail of its stderr."""
    process = await asyncio.create_subprocess_exec(
        *arguments,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=environment,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), limit_seconds)
    except TimeoutError as exc:
        process.kill()
        await process.wait()
        raise BackupToolFailed(
            f"{Path(arguments[0]).name} ran longer than {limit_seconds:g} s and was stopped.",
            detail_zh=f"{Path(arguments[0]).name} 运行超过 {limit_seconds:g} 秒，已终止。",
        ) from exc
    if process.returncode != 0:
        message = stderr.decode("utf-8", "replace")[-STDERR_SHOWN:].strip()
        raise BackupToolFailed(
            f"{Path(arguments[0]).name} failed (exit {process.returncode}): {message}",
            detail_zh=f"{Path(arguments[0]).name} 执行失败（退出码 {process.returncode}）：{message}",
        )
    return stdout.decode("utf-8", "replace")


def _major(version: str) -> int:
    match = re.search(r"(\d+)(?:\.\d+)?", version)
    return int(match.group(1)) if match else 0


async def _postgres_tables(connection: AsyncConnection) -> list[str]:
    rows = await connection.execute(
        text(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
            "AND table_schema NOT LIKE 'pg_toast%' AND table_schema NOT LIKE 'pg_temp%' "
            "ORDER BY 1"
        )
    )
    return [row[0] for row in rows]


def _quoted(qualified: str) -> str:
    schema, _, name = qualified.partition(".")
    return f'"{schema}"."{name}"'


async def _postgres_counts(connection: AsyncConnection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for qualified in await _postgres_tables(connection):
        count = await connection.scalar(text(f"SELECT count(*) FROM {_quoted(qualified)}"))
        # The manifest names public tables as SQLite does: by name alone.
        counts[qualified.removeprefix("public.")] = int(count or 0)
    return counts


async def _postgres_dump(url: str, target: Path, *, limit_seconds: float) -> Snapshot:
    pg_dump = _tool("pg_dump")
    environment = _libpq_environment(make_url(url))
    tool = (await _run([pg_dump, "--version"], environment, limit_seconds=60)).strip()
    engine = create_async_engine(
        url, pool_size=1, max_overflow=0, isolation_level="REPEATABLE READ"
    )
    try:
        async with engine.connect() as connection, connection.begin():
            server_version = str(await connection.scalar(text("SHOW server_version")))
            # pg_dump refuses a newer server; say which client to install instead of its message.
            if _major(tool.rsplit(" ", 1)[-1]) < _major(server_version):
                raise BackupToolFailed(
                    f"{tool} cannot dump PostgreSQL {server_version}: install "
                    f"postgresql-client-{_major(server_version)}.",
                    detail_zh=f"{tool} 不能导出 PostgreSQL {server_version}："
                    f"请安装 postgresql-client-{_major(server_version)}。",
                )
            # pg_dump reads the snapshot this transaction exported: the counts below and the
            # dump are the same data, whatever the portal writes meanwhile.
            snapshot = str(await connection.scalar(text("SELECT pg_export_snapshot()")))
            await _run(
                [
                    pg_dump,
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot}",
                    f"--file={target}",
                ],
                environment,
                limit_seconds=limit_seconds,
            )
            tables = await _postgres_counts(connection)
            revisions = (
                [
                    str(row[0])
                    for row in await connection.execute(
                        text("SELECT version_num FROM alembic_version")
                    )
                ]
                if "alembic_version" in tables
                else []
            )
    finally:
        await engine.dispose()
    return Snapshot(sorted(revisions), tables, tool, server_version)


async def _postgres_restore(
    dump: Path, url: str, *, dumped_with: str, limit_seconds: float
) -> None:
    pg_restore = _tool("pg_restore")
    environment = _libpq_environment(make_url(url))
    tool = (await _run([pg_restore, "--version"], environment, limit_seconds=60)).strip()
    if _major(tool.rsplit(" ", 1)[-1]) < _major(dumped_with.rsplit(" ", 1)[-1]):
        raise BackupToolFailed(
            f"The dump was written by {dumped_with}; {tool} cannot read it.",
            detail_zh=f"该备份由 {dumped_with} 导出，{tool} 无法读取。",
        )
    # One transaction, stopping at the first error: a failed restore leaves the database empty.
    await _run(
        [
            pg_restore,
            "--single-transaction",
            "--exit-on-error",
            "--no-owner",
            "--no-privileges",
            f"--dbname={make_url(url).database}",
            str(dump),
        ],
        environment,
        limit_seconds=limit_seconds,
    )


async def _postgres_table_names(url: str) -> list[str]:
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            return await _postgres_tables(connection)
    finally:
        await engine.dispose()


async def _postgres_snapshot(url: str) -> dict[str, int]:
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            return await _postgres_counts(connection)
    finally:
        await engine.dispose()


# --- either ---------------------------------------------------------------------------------


async def dump(url: str, target: Path, *, limit_seconds: float) -> Snapshot:
    if dialect_of(url) == "sqlite":
        return await asyncio.to_thread(_sqlite_dump, url, target, limit_seconds)
    return await _postgres_dump(url, target, limit_seconds=limit_seconds)


async def tables(url: str) -> list[str]:
    """The tables the database at ``url`` holds (none: a database a restore may fill)."""
    if dialect_of(url) == "sqlite":
        return await asyncio.to_thread(_sqlite_tables_at, url)
    return await _postgres_table_names(url)


async def restore(dump: Path, url: str, *, dumped_with: str, limit_seconds: float) -> None:
    if dialect_of(url) == "sqlite":
        await asyncio.to_thread(_sqlite_restore, dump, url, limit_seconds)
    else:
        await _postgres_restore(dump, url, dumped_with=dumped_with, limit_seconds=limit_seconds)


async def row_counts(url: str) -> dict[str, int]:
    if dialect_of(url) == "sqlite":
        snapshot = await asyncio.to_thread(_sqlite_snapshot, _sqlite_path(url))
        return snapshot.tables
    return await _postgres_snapshot(url)
