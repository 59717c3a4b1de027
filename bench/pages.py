"""Every public page and API a citizen or a mobile app hits, under load, against bare FastAPI (issue 13).

    .venv/bin/python bench/pages.py [--db sqlite|postgresql|both] [--seconds 5] [--connections 64]
    .venv/bin/python bench/pages.py --db sqlite --scale    # + 1,000,000 certificates, 100,000 grades

For each database (SQLite in a temporary directory; PostgreSQL: a scratch database on the server
of GONGZHI_TEST_POSTGRES_URL, 127.0.0.1:5432 by default, dropped at the end):

1. ``gongzhi db upgrade`` and ``gongzhi demo``, then ``gongzhi serve`` (one process, production
   settings: JSON log lines to /dev/null, no in-process worker) and the baseline app
   (bench/baseline_pages.py, the same uvicorn options): a Jinja template as large as the sticker
   page, and constant JSON.
2. Finds the URLs to drive from the demo data (a signed sticker made with the demo institution's
   key; a forged one is the same with its signature altered; the first enterprise, notice and
   credit batch linked from the public pages).
3. Drives each URL with ``wrk -t2 -c64 --latency`` (a warm-up second first), the baselines at the
   start and at the end of the run, and prints requests/s, p50/p99, non-2xx responses and the ratio
   to the mean of the matching baseline (HTML pages → template, APIs → JSON). Targets: sticker
   page ≥ 0.5 × the template baseline, every other page and API ≥ 0.3 ×, and p99 ≤ 100 ms.
   Rows "with a cookie" send one, so the page cache (portal/pagecache.py) never serves them: what
   the page itself costs, run every time from whatever is kept beneath it. They and the "… each
   time" rows are shown for what they tell (no ratio target; their p99 is checked all the same).

``--scale`` (SQLite) adds to the demo data 1,000,000 instruments with their certificates (as
bench/lookup.py makes them) and 100,000 enterprises each rated by the demo association (then
analyses, as the worker's hourly job would: portal/upkeep), and drives the credit list with each
of its filters and a deep page, with a cookie; and, with a wrk script, URLs that change with
every request ("… each time": another certificate, another page of a filter, other words), which
nothing kept can answer: each request runs the page and its queries.

The figures are ratios measured in the same run on purpose: on a shared machine the absolute
requests/s move with everyone else's load, the ratio much less.
"""

from __future__ import annotations

import argparse
import base64
import html
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

STICKER_TARGET = 0.5
OTHER_TARGET = 0.3
P99_TARGET_MS = 100  # at 64 connections, every page (issue 13)

SIGNED_TOKEN = """
import asyncio
from sqlmodel import select
from portal import crypto
from portal.settings import get_settings
from portal.db import Database
from portal.accounts.models import User
from api.certificates import stickers

async def main():
    settings = get_settings()
    crypto.configure(settings)
    database = Database(settings.database_url, settings=settings)
    async with database.transaction() as session:
        user = (await session.execute(
            select(User).where(User.email == "institution@gongzhi.demo"))).scalar_one()
        print(await stickers.sticker_url(session, "XYJC2026-0001", actor=user, settings=settings))
    await database.engine.dispose()

asyncio.run(main())
"""


@dataclass
class Case:
    name: str
    path: str
    kind: str  # "html" or "json": which baseline it is compared with
    target: float | None = OTHER_TARGET  # None: shown for what it tells, no target
    cookie: bool = False  # sent with a cookie, so the page cache (portal/pagecache.py) is skipped
    # Each request asks for another URL: "{n}" in the path is replaced by a number no other
    # request of the run uses, so neither the page cache nor any kept answer can serve it.
    varying: bool = False
    numbers: tuple[int, int] = (1, 5_000_000)  # (the measured run's first, the warm-up's first)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{what} did not start")


def fetch(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def settle(port: int, limit_seconds: float = 120) -> None:
    """Wait until the server answers /readyz promptly: requests wrk gave up on are still being
    served after a slow case, and would otherwise be measured as part of the next one. /readyz
    queries the database, so it waits behind them for a pooled connection (/healthz does not)."""
    deadline = time.monotonic() + limit_seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        fetch(port, "/readyz")
        if time.perf_counter() - started < 0.05:
            return
        time.sleep(0.5)


# wrk's request hook for a varying case: each thread numbers its requests apart from the others'
# (thread k of T asks for k, k + T, k + 2T, ...), the path's "{n}" replaced by the number.
VARYING_LUA = """
local threads = 0
function setup(thread)
  thread:set("index", threads)
  threads = threads + 1
end
function init(args)
  template = args[1]
  step = tonumber(args[2])
  n = index
end
function request()
  n = n + step
  return wrk.format(nil, (template:gsub("{n}", tostring(n))))
end
"""


def wrk(
    port: int,
    path: str,
    seconds: int,
    connections: int,
    threads: int,
    *,
    cookie: bool = False,
    varying: bool = False,
    start: int = 1,
) -> dict[str, float]:
    script: list[str] = []
    if varying:
        lua = Path(tempfile.mkstemp(suffix=".lua")[1])
        lua.write_text(VARYING_LUA.replace("n = index", f"n = index + {start - threads}"))
        script = ["-s", str(lua)]
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            *(["-H", "Cookie: bench=1"] if cookie else []),
            *script,
            f"http://127.0.0.1:{port}{path.replace('{n}', '0')}",
            *([path, str(threads)] if varying else []),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if script:
        Path(script[1]).unlink()

    def latency(percent: str) -> float:
        found = re.search(rf"{percent}%\s+([\d.]+)(us|ms|s)\b", out)
        assert found is not None, out
        return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    assert rps is not None, out
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(rps.group(1)),
        "p50": latency("50"),
        "p99": latency("99"),
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "errors": sum(int(x) for x in errors.groups()) if errors else 0,
    }


def serve(app: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    if app == "portal":
        command = [str(BIN / "gongzhi"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    else:  # the same uvicorn options as `gongzhi serve` (portal/cli.py uvicorn_options)
        command = [
            sys.executable,
            "-c",
            f"import uvicorn; uvicorn.run({app!r}, host='127.0.0.1', port={port}, "
            "log_level='warning', access_log=False, proxy_headers=False, loop='asyncio')",
        ]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for(port, process, app)
    return process


def gongzhi(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [str(BIN / "gongzhi"), *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


def first_link(port: int, pages: list[str], pattern: str) -> str | None:
    for page in pages:
        _, body = fetch(port, page)
        found = re.search(pattern, body)
        if found:
            return html.unescape(found.group(0))
    return None


GRADES = ("AAA", "AA", "A", "B", "C")
INDUSTRIES = ("农贸市场", "成品油零售", "医疗机构", "出租汽车", "供水供气")


def grow_sqlite(path: Path, certificates: int, enterprises: int) -> None:
    """The demo database plus N certificates and M rated enterprises (--scale)."""
    import sqlite3

    from bench.lookup import fill_sqlite
    from credit.demo import make_uscc

    connection = sqlite3.connect(path)
    fill_sqlite(connection, certificates)
    association, run, score, code, version = connection.execute(
        "SELECT association_id, run_id, score_id, methodology_code, methodology_version "
        "FROM credit_rating LIMIT 1"
    ).fetchone()
    regions = ("610402", "610403", "610404", "610422", "610481")
    rows = []
    for i in range(enterprises):
        region = regions[i % len(regions)]
        rows.append((make_uscc(region, 500_000 + i), f"咸阳测试商贸{i}有限公司", region, i))
    connection.executemany(
        "INSERT INTO credit_enterprise (uscc, name, industry, region_code, address, created_at) "
        "VALUES (?, ?, ?, ?, ?, '2026-01-01 00:00:00')",
        [(u, n, INDUSTRIES[i % 5], r, f"咸阳市人民路{i}号") for u, n, r, i in rows],
    )
    connection.executemany(
        "INSERT INTO credit_membership (id, association_id, uscc, joined_on, name) "
        "VALUES (?, ?, ?, '2025-01-01', ?)",
        [(uuid.uuid4().hex, association, u, n) for u, n, _, _ in rows],
    )
    connection.executemany(
        "INSERT INTO credit_rating (id, association_id, uscc, status, grade, score, run_id, "
        "score_id, methodology_code, methodology_version, valid_from, valid_until, under_review, "
        "published_seq, last_seq) VALUES (?, ?, ?, 'active', ?, ?, ?, ?, ?, ?, '2025-11-01', "
        "'2028-10-31', 0, 1000, 1000)",
        [
            (uuid.uuid4().hex, association, u, GRADES[i % 5], (i * 7919) % 10000 / 100, run, score)
            + (code, version)
            for u, _, _, i in rows
        ],
    )
    connection.commit()
    # What the worker's hourly job (portal/upkeep) would have done since: the statistics
    # fill_sqlite's ANALYZE left describe the demo's dozen grades, not these 100,000.
    from portal.upkeep.statistics import STATEMENTS

    for statement in STATEMENTS:
        connection.execute(statement)
    connection.close()


def cases(port: int, env: dict[str, str], scale: bool = False) -> list[Case]:
    signed_url = subprocess.run(
        [sys.executable, "-c", SIGNED_TOKEN],
        cwd=ROOT,
        env={**env, "GONGZHI_ENV": "development"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    signed = signed_url.rsplit("/v/", 1)[1]
    # The same claims with another signature: what a copied-and-edited sticker looks like.
    head, payload, signature = signed.split(".")
    forged = f"{head}.{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    listed = [
        Case("sticker valid (plain token)", "/v/DEMO-SCALE-VALID", "html", STICKER_TARGET),
        Case("sticker valid (signed)", f"/v/{signed}", "html", STICKER_TARGET),
        Case("sticker expired", "/v/DEMO-SCALE-EXPIRED", "html", STICKER_TARGET),
        Case("sticker revoked", "/v/DEMO-FUEL-REVOKED", "html", STICKER_TARGET),
        Case("sticker forged", f"/v/{forged}", "html", STICKER_TARGET),
        Case("sticker unknown (404)", "/v/NO-SUCH-STICKER", "html", STICKER_TARGET),
        Case("certificate page", "/certificates?q=XYJC2026-0001", "html"),
        Case("certificate API", "/api/v1/certificates/XYJC2026-0001", "json"),
        Case("home", "/", "html"),
        Case("search page", f"/search?q={quote('电子秤')}", "html"),
        Case("search API", f"/api/v1/search?q={quote('电子秤')}", "json"),
        Case("credit list", "/credit", "html"),
        Case("credit notices", "/credit/notices", "html"),
    ]
    enterprise = first_link(port, ["/credit", "/"], r"/credit/enterprises/[0-9A-Z]{18}")
    if enterprise:
        uscc = enterprise.rsplit("/", 1)[1]
        listed.append(Case("enterprise page", enterprise, "html"))
        listed.append(Case("enterprise API", f"/api/v1/credit/enterprises/{uscc}", "json"))
    batch = first_link(port, ["/credit/notices", "/credit"], r"/credit/notices/[0-9a-f-]{36}")
    if batch:
        listed.append(Case("credit notice batch", batch, "html"))
    notice = first_link(
        port, ["/", f"/search?q={quote('处罚')}", "/search?q=notice"], r"/notices/[0-9a-f-]{36}"
    )
    if notice:
        listed.append(Case("enforcement notice page", notice, "html"))
        listed.append(Case("enforcement notice API", f"/api/v1{notice}", "json"))
    listed += [
        Case("complaint form", "/complaints/new", "html"),
        Case("tracking page", "/complaints/track", "html"),
        # The same pages for a visitor whose browser sends any cookie (the page cache serves no
        # request with one): each is run every time, from whatever answers are kept beneath it.
        Case("sticker valid, with a cookie", "/v/DEMO-SCALE-VALID", "html", None, cookie=True),
        Case("home, with a cookie", "/", "html", None, cookie=True),
        Case("credit list, with a cookie", "/credit", "html", None, cookie=True),
    ]
    if scale:
        listed += [
            Case(
                f"credit list, {name}, with a cookie", f"/credit?{query}", "html", None, cookie=True
            )
            for name, query in (
                ("page 2,000", "page=2000"),
                ("grade A", "grade=A"),
                ("industry", f"industry={quote('农贸市场')}"),
                ("region", f"region={quote('秦都区')}"),
                ("words", f"q={quote('测试商贸77')}"),
            )
        ]
        listed += [
            Case(
                "certificate API (1M), with a cookie",
                "/api/v1/certificates/B0777777",
                "json",
                cookie=True,
            ),
            Case(
                "credit API, grade A page 100, with a cookie",
                "/api/v1/credit/ratings?grade=A&page=100",
                "json",
                None,
                cookie=True,
            ),
        ]
        # Every request another URL: a sticker campaign over many instruments, visitors paging
        # and filtering as they like. Nothing kept can answer; each one runs the page.
        each_time: list[tuple[str, str, str, float | None, tuple[int, int]]] = [
            # A sticker campaign or citizens typing numbers: the hot path alone, nothing kept.
            (
                "another certificate each time, page",
                "/certificates?q=B0{n}",
                "html",
                None,
                (100_000, 600_000),
            ),
            (
                "another certificate each time, API",
                "/api/v1/certificates/B0{n}",
                "json",
                None,
                (100_000, 600_000),
            ),
            ("credit list, another page each time", "/credit?page={n}", "html", None, (1, 3_000)),
            (
                "credit list, grade A, another page each time",
                "/credit?grade=A&page={n}",
                "html",
                None,
                (1, 600),
            ),
            (
                "credit list, industry, another page each time",
                f"/credit?industry={quote('农贸市场')}&page={{n}}",
                "html",
                None,
                (1, 600),
            ),
            (
                "credit list, region, another page each time",
                f"/credit?region={quote('秦都区')}&page={{n}}",
                "html",
                None,
                (1, 600),
            ),
            (
                "credit list, other words each time",
                f"/credit?q={quote('测试商贸')}{{n}}",
                "html",
                None,
                (1_000, 50_000),
            ),
            (
                "credit API, another page each time",
                "/api/v1/credit/ratings?page={n}",
                "json",
                None,
                (1, 3_000),
            ),
        ]
        listed += [
            Case(name, path, kind, target, varying=True, numbers=numbers)
            for name, path, kind, target, numbers in each_time
        ]
    return listed


def _warmed(port: int, path: str, args: argparse.Namespace) -> dict[str, float]:
    wrk(port, path, 1, args.connections, args.threads)
    return wrk(port, path, args.seconds, args.connections, args.threads)


def run_database(db: str, args: argparse.Namespace, workdir: Path) -> list[str]:
    from bench.scratch import scratch_database

    with scratch_database(db, workdir / "bench.db") as url:
        return _measure_database(db, url, args, workdir)


def _measure_database(db: str, url: str, args: argparse.Namespace, workdir: Path) -> list[str]:
    env = {
        **os.environ,
        "GONGZHI_DATABASE_URL": url,
        "GONGZHI_ENV": "production",
        "GONGZHI_SECRET_KEY": secrets.token_hex(32),
        "GONGZHI_DATA_KEYS": "bench:" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "GONGZHI_LOG_JSON": "true",
        "GONGZHI_RUN_WORKER_IN_PROCESS": "false",
        "GONGZHI_STORAGE_DIR": str(workdir / "storage"),
        "GONGZHI_SIGNING_KEY_FILE": str(workdir / "key.pem"),
        "GONGZHI_SIGNING_KEYS_DIR": str(workdir / "keys"),
        "GONGZHI_RATE_LIMIT_STORAGE": "memory://",
        "GONGZHI_SINGLE_PROCESS": "true",  # one server process: its own counters count all
        "GONGZHI_DATABASE_POOL_SIZE": "16",
        "BENCH_TEMPLATE_DIR": str(workdir / "templates"),
    }
    processes: list[subprocess.Popen[bytes]] = []
    lines: list[str] = []
    try:
        started = time.perf_counter()
        # The demo refuses production (its accounts' password is published); it is loaded as in
        # development, with the same keys, and served as in production.
        setup = {**env, "GONGZHI_ENV": "development"}
        gongzhi(setup, "db", "upgrade")
        gongzhi(setup, "demo")
        if args.scale:
            grow_sqlite(workdir / "bench.db", certificates=1_000_000, enterprises=100_000)
        print(f"[{db}] database and demo data ready in {time.perf_counter() - started:.0f} s")
        portal_port = free_port()
        processes.append(serve("portal", portal_port, env))
        listed = cases(portal_port, env, scale=args.scale)
        _, sticker_html = fetch(portal_port, "/v/DEMO-SCALE-VALID")
        (workdir / "templates").mkdir(exist_ok=True)
        # The sticker page's own text, a variable and a loop: as many bytes as the real page.
        (workdir / "templates" / "page.html").write_text(
            "{% for _ in range(n) %}<!-- {{ title }} -->{% endfor %}{% raw %}"
            + sticker_html
            + "{% endraw %}"
        )
        baseline_port = free_port()
        processes.append(serve("bench.baseline_pages:app", baseline_port, env))

        def measure(port: int, case: Case | None = None, path: str = "") -> dict[str, float]:
            settle(port)
            if case is None:
                return _warmed(port, path, args)
            options = {"cookie": case.cookie, "varying": case.varying}
            # A varying case's warm-up asks for numbers its measured run never reaches.
            measured, warm_up = case.numbers
            wrk(port, case.path, 1, args.connections, args.threads, **options, start=warm_up)
            return wrk(
                port,
                case.path,
                args.seconds,
                args.connections,
                args.threads,
                **options,
                start=measured,
            )

        base: dict[str, list[dict[str, float]]] = {"html": [], "json": []}
        base["html"].append(measure(baseline_port, path="/page"))
        base["json"].append(measure(baseline_port, path="/json"))
        results = []
        for case in listed:
            status, _ = fetch(portal_port, case.path.replace("{n}", str(case.numbers[0])))
            results.append((case, status, measure(portal_port, case)))
        base["html"].append(measure(baseline_port, path="/page"))
        base["json"].append(measure(baseline_port, path="/json"))
        load = os.getloadavg()

        mean = {kind: sum(r["rps"] for r in runs) / len(runs) for kind, runs in base.items()}
        lines.append(
            f"### {db}: wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, "
            f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"
        )
        lines.append("")
        lines.append("| URL | status | req/s | p50 ms | p99 ms | × baseline | target |")
        lines.append("|---|---|---|---|---|---|---|")
        for kind, label in (("html", "bare FastAPI + Jinja template"), ("json", "bare JSON")):
            runs = base[kind]
            lines.append(
                f"| baseline: {label} | 200 | "
                + " / ".join(f"{r['rps']:,.0f}" for r in runs)
                + f" | {runs[0]['p50']:.1f} | {runs[0]['p99']:.1f} | 1 | |"
            )
        for case, status, r in results:
            ratio = r["rps"] / mean[case.kind]
            checks = []
            if case.target is not None:
                checks.append(f"≥ {case.target} " + ("ok" if ratio >= case.target else "MISS"))
            checks.append(
                f"p99 ≤ {P99_TARGET_MS} " + ("ok" if r["p99"] <= P99_TARGET_MS else "MISS")
            )
            target = "; ".join(checks)
            extra = f" ({r['errors']} socket errors)" if r["errors"] else ""
            lines.append(
                f"| {case.name} | {status} | {r['rps']:,.0f} | {r['p50']:.1f} | {r['p99']:.1f} "
                f"| {ratio:.2f} | {target}{extra} |"
            )
        print("\n".join(lines), flush=True)
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--scale", action="store_true", help="SQLite + 1M certificates and 100k rated enterprises"
    )
    args = parser.parse_args()
    if args.scale and args.db != "sqlite":
        parser.error("--scale is measured on SQLite (--db sqlite)")
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (scripts/install-system-deps.sh)")
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        workdir = Path(tempfile.mkdtemp(prefix="gongzhi-pages-"))
        try:
            run_database(db, args, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
