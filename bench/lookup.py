"""Public certificate lookup under load, against a bare FastAPI endpoint served the same way.

    .venv/bin/python bench/lookup.py --db sqlite      [--rows 1000000] [--workers 1] [--seconds 15]
    .venv/bin/python bench/lookup.py --db postgresql  (GONGZHI_TEST_POSTGRES_URL, as the tests)

1. Builds a database with ``--rows`` certificates (and as many instruments) by bulk inserts:
   sqlite3 ``executemany`` on SQLite, ``COPY`` (asyncpg) on PostgreSQL; 2 % are failure notices,
   1 % revoked, validity dates spread so that every status occurs.
2. Serves the app as production would (``gongzhi serve`` → uvicorn, httptools, uvloop, JSON log
   lines to /dev/null, no in-process worker) and the baseline (bench/baseline_app.py: one route
   returning constant JSON) with the same uvicorn options and worker count.
3. Drives ``GET /api/v1/certificates/{number}`` with wrk: 80 % random existing numbers, 20 %
   random missing ones (404 problem+json), and the same paths against the baseline.
4. Prints requests/s, p99 latency, socket errors and the ratio app / baseline (target ≥ 0.5).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LUA = """
math.randomseed(os.time())
local rows = %d
request = function()
  local path
  if math.random() < 0.8 then
    path = string.format("/api/v1/certificates/B%%07d", math.random(1, rows))
  else
    path = string.format("/api/v1/certificates/MISSING%%07d", math.random(1, rows))
  end
  return wrk.format("GET", path)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rows_iter(n: int, institution_id: uuid.UUID):  # type: ignore[no-untyped-def]
    today = date.today()
    now = datetime.now(UTC)
    for i in range(1, n + 1):
        instrument_id = uuid.uuid4()
        certificate_id = uuid.uuid4()
        verified = today - timedelta(days=i % 400)
        notice = i % 50 == 0
        instrument = (
            instrument_id,
            secrets.token_urlsafe(16),
            "scale-pc",
            "ACS-15",
            f"S{i:07d}",
            "上海友声衡器有限公司",
            "张建国" if i % 3 == 0 else "咸阳市秦都区人民路农贸市场有限公司",
            "individual" if i % 3 == 0 else "enterprise",
            None if i % 3 == 0 else "91610402MA6XY00010",
            "人民路农贸市场",
            "610402",
            None,
            None,
            certificate_id,
            now,
        )
        certificate = (
            certificate_id,
            f"B{i:07d}",
            "notice" if notice else "certificate",
            institution_id,
            instrument_id,
            "JJG 539-2016",
            "不合格" if notice else "合格",
            verified,
            None if notice else verified + timedelta(days=364),
            "陈工",
            None,
            "0" * 40,
            now,
        )
        event = (
            (uuid.uuid4(), certificate_id, "revoked", now, None, "bench", None)
            if i % 100 == 0
            else None
        )
        yield instrument, certificate, event


INSTRUMENT_COLUMNS = (
    "id, sticker_token, category_code, model, serial, manufacturer, owner_name, owner_type, "
    "owner_uscc, address, region_code, latitude, longitude, current_certificate_id, created_at"
)
CERTIFICATE_COLUMNS = (
    "id, number, kind, institution_id, instrument_id, regulation, conclusion, verified_on, "
    "valid_until, verifier, issued_by, content_hash, created_at"
)
EVENT_COLUMNS = "id, certificate_id, kind, at, actor_id, reason, successor_id"


def _sqlite_value(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def build_sqlite(path: Path, n: int) -> None:
    from portal.migrate import upgrade

    upgrade(f"sqlite+aiosqlite:///{path}")
    connection = sqlite3.connect(path)
    fill_sqlite(connection, n)
    connection.close()


def fill_sqlite(connection: sqlite3.Connection, n: int) -> None:
    """N instruments with a certificate each (and a revocation for one in a hundred), issued by
    an institution BENCH of its own; also used by bench/pages.py --scale on the demo database."""
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=OFF")
    institution_id = uuid.uuid4()
    connection.execute(
        "INSERT INTO organization (id, kind, code, name, region_code, authorisation_number, "
        "industry, created_at) VALUES (?, 'institution', 'BENCH', '咸阳市计量检定测试所', "
        "'610400', '(陕)法计(2024)61040001号', NULL, ?)",
        (institution_id.hex, _sqlite_value(datetime.now(UTC))),
    )
    batch: tuple[list[tuple[object, ...]], list[tuple[object, ...]], list[tuple[object, ...]]] = (
        [],
        [],
        [],
    )

    def flush() -> None:
        connection.executemany(
            f"INSERT INTO instrument ({INSTRUMENT_COLUMNS}) VALUES ({','.join('?' * 15)})",
            batch[0],
        )
        connection.executemany(
            f"INSERT INTO certificate ({CERTIFICATE_COLUMNS}) VALUES ({','.join('?' * 13)})",
            batch[1],
        )
        connection.executemany(
            f"INSERT INTO certificate_event ({EVENT_COLUMNS}) VALUES ({','.join('?' * 7)})",
            batch[2],
        )
        for part in batch:
            part.clear()

    for instrument, certificate, event in rows_iter(n, institution_id):
        batch[0].append(tuple(_sqlite_value(v) for v in instrument))
        batch[1].append(tuple(_sqlite_value(v) for v in certificate))
        if event:
            batch[2].append(tuple(_sqlite_value(v) for v in event))
        if len(batch[0]) >= 50_000:
            flush()
    flush()
    connection.commit()
    connection.execute("ANALYZE")


async def build_postgres(url: str, n: int) -> None:
    import asyncpg

    from portal.migrate import upgrade_async

    await upgrade_async(url)
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        institution_id = uuid.uuid4()
        await connection.execute(
            "INSERT INTO organization (id, kind, code, name, region_code, authorisation_number, "
            "created_at) VALUES ($1, 'institution', 'BENCH', '咸阳市计量检定测试所', '610400', "
            "'(陕)法计(2024)61040001号', now())",
            institution_id,
        )
        instruments: list[tuple[object, ...]] = []
        certificates: list[tuple[object, ...]] = []
        events: list[tuple[object, ...]] = []

        async def flush() -> None:
            await connection.copy_records_to_table(
                "instrument",
                records=instruments,
                columns=[c.strip() for c in INSTRUMENT_COLUMNS.split(",")],
            )
            await connection.copy_records_to_table(
                "certificate",
                records=certificates,
                columns=[c.strip() for c in CERTIFICATE_COLUMNS.split(",")],
            )
            await connection.copy_records_to_table(
                "certificate_event",
                records=events,
                columns=[c.strip() for c in EVENT_COLUMNS.split(",")],
            )
            for part in (instruments, certificates, events):
                part.clear()

        for instrument, certificate, event in rows_iter(n, institution_id):
            instruments.append(instrument)
            certificates.append(certificate)
            if event:
                events.append(event)
            if len(instruments) >= 50_000:
                await flush()
        await flush()
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


def serve(target: str, port: int, workers: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    # The same uvicorn options as `gongzhi serve` (portal/cli.py) for both servers.
    code = (
        f"import uvicorn; uvicorn.run({target!r}, host='127.0.0.1', port={port}, workers={workers},"
        " proxy_headers=True, log_level='warning', access_log=False, loop='asyncio')"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{target} did not start")


def wrk(port: int, rows: int, seconds: int, connections: int, threads: int) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % rows)
    try:
        out = subprocess.run(
            [
                "wrk",
                f"-t{threads}",
                f"-c{connections}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                script.name,
                f"http://127.0.0.1:{port}",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(script.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99_text = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99_text is not None, out
    p99 = float(p99_text.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99_text.group(2)]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    socket_errors = sum(int(x) for x in errors.groups()) if errors else 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = re.search(r"(\d+) requests in", out)
    return {
        "rps": rps,
        "p99_ms": p99,
        "socket_errors": socket_errors,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "requests": int(total.group(1)) if total else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (scripts/install-system-deps.sh)")

    workdir = Path(tempfile.mkdtemp(prefix="gongzhi-bench-"))
    pg_name = None
    started = time.perf_counter()
    if args.db == "sqlite":
        db_path = workdir / "bench.db"
        url = f"sqlite+aiosqlite:///{db_path}"
        build_sqlite(db_path, args.rows)
    else:
        from tests.support import (
            _postgres_admin,
            postgres_async_url,
        )

        pg_name = f"gongzhi_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(_postgres_admin(f'CREATE DATABASE "{pg_name}"'))
        url = postgres_async_url(pg_name)
        asyncio.run(build_postgres(url, args.rows))
    print(f"built {args.rows:,} certificates on {args.db} in {time.perf_counter() - started:.0f} s")

    env = {
        **os.environ,
        "GONGZHI_DATABASE_URL": url,
        "GONGZHI_ENV": "production",
        "GONGZHI_SECRET_KEY": secrets.token_hex(32),
        # production refuses to start without keys for personal data at rest (portal/crypto.py)
        "GONGZHI_DATA_KEYS": "bench:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "GONGZHI_LOG_JSON": "true",
        "GONGZHI_RUN_WORKER_IN_PROCESS": "false",
        "GONGZHI_SIGNING_KEY_FILE": str(workdir / "key.pem"),
        "GONGZHI_DATABASE_POOL_SIZE": "16",
    }
    results = {}
    try:
        for name, target in (
            ("baseline", "bench.baseline_app:app"),
            ("lookup", "portal.main:app"),
        ):
            port = free_port()
            process = serve(target, port, args.workers, env)
            try:
                wrk(port, args.rows, 3, args.connections, args.threads)  # warm-up
                results[name] = wrk(port, args.rows, args.seconds, args.connections, args.threads)
            finally:
                process.terminate()
                process.wait(timeout=30)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if pg_name:
            from tests.support import _postgres_admin

            asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))

    for name, r in results.items():
        print(
            f"{name:9s} {r['rps']:9.0f} req/s  p99 {r['p99_ms']:7.2f} ms  "
            f"requests {r['requests']}  non-2xx {r['non_2xx']}  socket errors {r['socket_errors']}"
        )
    ratio = results["lookup"]["rps"] / results["baseline"]["rps"]
    missing_share = results["lookup"]["non_2xx"] / max(results["lookup"]["requests"], 1)
    print(
        f"ratio lookup/baseline = {ratio:.2f} (target >= 0.5) on {args.db}, "
        f"{args.workers} worker(s); 404 share {missing_share:.0%} (20 % of paths are missing numbers)"
    )


if __name__ == "__main__":
    main()
