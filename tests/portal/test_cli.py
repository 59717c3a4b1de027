"""The ``gongzhi`` command, run as a user would run it, against SQLite and an empty PostgreSQL."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support import (
    GONGZHI,
    create_postgres_database,
    drop_postgres_database,
    postgres_async_url,
)


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GONGZHI, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


def test_help_lists_every_command() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("serve", "db", "demo", "org", "user", "worker"):
        assert command in result.stdout
    for group in (("db", "upgrade"), ("org", "create"), ("user", "create")):
        sub = run(*group, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "Usage" in sub.stdout
    assert "--workers" in run("serve", "--help").stdout


def test_upgrade_demo_and_accounts_on_sqlite(tmp_path: Path) -> None:
    env = {
        "GONGZHI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "GONGZHI_STORAGE_DIR": str(tmp_path / "storage"),
    }
    assert run("db", "upgrade", env=env).returncode == 0
    first = run("demo", env=env)
    assert first.returncode == 0, first.stderr
    assert "demo data loaded" in first.stdout
    again = run("demo", env=env)
    assert "already loaded" in again.stdout
    org = run(
        "org", "create", "--kind", "institution", "--code", "QDJL", "--name", "秦都区计量所",
        "--region", "610402", env=env,
    )  # fmt: skip
    assert org.returncode == 0, org.stderr
    user = run(
        "user", "create", "--email", "lab@example.cn", "--password", "liang-cheng-2026",
        "--role", "institution", "--region", "610402", "--org", "QDJL", env=env,
    )  # fmt: skip
    assert user.returncode == 0, user.stderr
    bad = run(
        "user", "create", "--email", "x@example.cn", "--password", "liang-cheng-2026",
        "--role", "regulator", "--region", "999999", env=env,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "unknown_region" in bad.stderr


async def test_upgrade_on_an_empty_postgresql_database() -> None:
    name = await create_postgres_database()
    try:
        env = {"GONGZHI_DATABASE_URL": postgres_async_url(name)}
        result = run("db", "upgrade", env=env)
        assert result.returncode == 0, result.stderr
        assert run("demo", env=env).returncode == 0
        assert run("db", "upgrade", env=env).returncode == 0  # idempotent
    finally:
        await drop_postgres_database(name)


@pytest.mark.parametrize("secret", ["", "change-me-gongzhi-development-secret-key", "short"])
def test_production_refuses_default_secrets(secret: str, tmp_path: Path) -> None:
    env = {"GONGZHI_ENV": "production", "GONGZHI_SECRET_KEY": secret}
    result = run("db", "upgrade", env=env)
    assert result.returncode != 0
    assert "GONGZHI_SECRET_KEY" in result.stderr


def test_worker_writes_json_lines_when_asked_and_stops_on_sigterm(tmp_path: Path) -> None:
    """Production runs ``gongzhi worker`` beside the server: same log format (GONGZHI_LOG_JSON)."""
    import json
    import signal
    import time

    env = {
        **os.environ,
        "GONGZHI_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'worker.db'}",
        "GONGZHI_STORAGE_DIR": str(tmp_path / "storage"),
        "GONGZHI_LOG_JSON": "true",
    }
    assert run("db", "upgrade", env=env).returncode == 0
    worker = subprocess.Popen(
        [GONGZHI, "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        assert worker.stdout is not None
        started = worker.stdout.readline()  # blocks until the first line: the start event
        assert json.loads(started)["event"] == "outbox_worker_started"
    finally:
        time.sleep(0.2)
        worker.send_signal(signal.SIGTERM)
        rest, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0
    lines = [json.loads(line) for line in rest.splitlines() if line.strip()]
    assert lines[-1]["event"] == "outbox_worker_stopped"
