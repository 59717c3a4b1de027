"""Risk scores at scale (issue 17): N synthetic owner sites (default 100,000) with three registered
instruments each in a scratch PostgreSQL database or a fresh SQLite file, then

- the bare set-based query: ``facts.site_instrument_facts`` for the city (the GROUP BY that
  every recomputation starts from) — the baseline;
- scoring alone: ``scores.score_rows`` on the gathered inputs (pure Python, no database);
- the whole recomputation: ``scores.recompute`` (facts, scoring, and writing every score with
  its inputs, the old ones kept);

each as a ratio to the baseline measured in the same run (best of three after a warm-up; the
recomputation once, since it writes).

    .venv/bin/python bench/risk.py [--sites 100000] [--db postgresql|sqlite]

    .venv/bin/python bench/risk.py --region all   # every site, as the nightly job scores them

The data: sites spread over the 12 counties of 咸阳市 and 西安市 (by default only 咸阳市's are
scored, as a bureau's recomputation would), instruments alternating 电子计价秤 and 加油机; one in three never verified and
due, one in twelve overdue, the rest valid; one site in fifty entered in the serious dishonesty
list by an enforcement notice (严重违法失信名单, model version 2's last part).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.instrument_stats import COUNTIES, Sql  # noqa: E402

INSTRUMENTS_PER_SITE = 3


def statements(sql: Sql, sites: int) -> list[str]:
    w, s = sql.series(sites)
    county = sql.pick(COUNTIES, "i % 12")
    owner = sql.uid(21, "i")
    w3, s3 = sql.series(sites * INSTRUMENTS_PER_SITE)
    site_of = f"((i - 1) / {INSTRUMENTS_PER_SITE} + 1)"
    j = f"(i % {INSTRUMENTS_PER_SITE})"
    category = sql.pick(["scale-pc", "fuel-dispenser"], "i % 2")
    # j = 0: never verified and due 10 days ago; j = 2 and every fourth site: overdue.
    last = (
        f"(CASE WHEN {j} = 0 THEN NULL WHEN {j} = 2 AND {site_of} % 4 = 0 "
        f"THEN {sql.day('-500')} ELSE {sql.day('-30')} END)"
    )
    due = (
        f"(CASE WHEN {j} = 0 THEN {sql.day('-10')} WHEN {j} = 2 AND {site_of} % 4 = 0 "
        f"THEN {sql.day('-135')} ELSE {sql.day('335')} END)"
    )
    # Each site's own credit code (PostgreSQL's substr counts a negative start differently from
    # SQLite's: substr(x, -12, 12) gave every site the same code there).
    uscc = "'916104' || " + ("lpad(i::text, 12, '0')" if sql.pg else "printf('%012d', i)")
    return [
        f"{w}INSERT INTO organization (id, kind, code, name, region_code, uscc, created_at)"
        f" SELECT {owner}, 'owner', 'SITE' || i, '使用单位' || i, {county},"
        f" {uscc}, {sql.moment('-400')} FROM {s}",
        f"{w3}INSERT INTO registered_instrument (id, owner_id, category_code, model, serial,"
        " manufacturer, location, usage_area, attributes, region_code, address, in_use_since,"
        " last_verified_on, verification_form, cycle_months, due_on, status, review_reason,"
        f" created_at) SELECT {sql.uid(22, 'i')}, {sql.uid(21, site_of)}, {category}, 'M-1',"
        f" 'R' || i, '制造单位', '', '贸易结算', {sql.json('{}')},"
        f" {sql.pick(COUNTIES, f'{site_of} % 12')}, '地址', {sql.day('-600')}, {last},"
        f" 'periodic', 12, {due}, 'confirmed', '', {sql.moment('-400')} FROM {s3}",
        # One site in fifty on the serious dishonesty list (a notice of the listing alone).
        f"{w}INSERT INTO search_notice (id, title, decision_number, party_name, party_uscc,"
        " party_kind, violation, legal_basis, penalty_kind, authority, region_code,"
        " decision_date, published_on, display_until, status, created_at, updated_at)"
        f" SELECT {sql.uid(23, 'i')}, '列入严重违法失信名单', '信列' || i, '使用单位' || i,"
        f" {uscc}, 'enterprise', '违法行为',"
        f" '依据', '列入严重违法失信名单', '市场监督管理局', {county}, {sql.day('-40')},"
        f" {sql.day('-37')}, {sql.day('1000')}, 'published', {sql.moment('-37')},"
        f" {sql.moment('-37')} FROM {s} WHERE i % 50 = 0",
    ]


async def prepare(url: str, sites: int) -> float:
    from sqlalchemy import text

    from portal import clock
    from portal.db import Database
    from portal.domains import import_models
    from portal.migrate import upgrade_async

    import_models()
    await upgrade_async(url)
    database = Database(url)
    try:
        sql = Sql(database.engine.dialect.name, clock.today().isoformat())
        started = time.perf_counter()
        async with database.transaction() as session:
            for statement in statements(sql, sites):
                await session.execute(text(statement))
        async with database.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.execute(text("VACUUM ANALYZE" if sql.pg else "ANALYZE"))
        return time.perf_counter() - started
    finally:
        await database.dispose()


async def best(run: Callable[[], Awaitable[Any]], times: int = 3) -> tuple[float, Any]:
    await run()
    seconds = []
    result = None
    for _ in range(times):
        started = time.perf_counter()
        result = await run()
        seconds.append(time.perf_counter() - started)
    return min(seconds), result


async def measure(url: str, region: str | None) -> dict[str, tuple[float, Any]]:
    from enforcement import risk_models, scores
    from portal import clock, facts
    from portal.db import Database

    database = Database(url)
    today, now = clock.today(), clock.now()
    out: dict[str, tuple[float, Any]] = {}
    try:
        async with database.transaction() as session:
            model, params = await risk_models.current(session)

            async def bare() -> Any:
                return await facts.site_instrument_facts(session, as_of=today, region=region)

            out["bare"] = await best(bare)
            gathered = await scores.gather(
                session, as_of=today, now=now, params=params, region=region
            )

            async def scoring() -> Any:
                return scores.score_rows(
                    gathered, params=params, version=model.version, as_of=today, now=now
                )

            out["scoring"] = await best(scoring)
            listed = sum(1 for site in gathered if site.dishonesty_list)
            out["listed"] = (0.0, (listed, model.version))
        async with database.transaction() as session:
            started = time.perf_counter()
            done = await scores.recompute(session, region=region)
            out["recompute"] = (time.perf_counter() - started, done)
        async with database.transaction() as session:
            started = time.perf_counter()
            done = await scores.recompute(session, region=region)
            out["recompute again"] = (time.perf_counter() - started, done)
    finally:
        await database.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sites", type=int, default=100_000)
    parser.add_argument(
        "--region",
        default="610400",
        help="the scope scored: a region code (a bureau's recomputation), or 'all' (the nightly "
        "job: every site, as periodic.enforcement.risk_scores does)",
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="gongzhi-risk-"))
    pg_name = None
    if args.db == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / 'risk.db'}"
    else:
        from tests.support import _postgres_admin, postgres_async_url

        pg_name = f"gongzhi_bench_{uuid.uuid4().hex[:8]}"
        asyncio.run(_postgres_admin(f'CREATE DATABASE "{pg_name}"'))
        url = postgres_async_url(pg_name)
    try:
        generated = asyncio.run(prepare(url, args.sites))
        out = asyncio.run(measure(url, None if args.region == "all" else args.region))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if pg_name:
            from tests.support import _postgres_admin

            asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
    print(
        f"{args.db}: {args.sites:,} sites, {args.sites * INSTRUMENTS_PER_SITE:,} instruments "
        f"generated in {generated:.1f} s"
    )
    baseline, rows = out["bare"]
    print(
        f"bare set-based query ({args.region}): {baseline * 1000:.0f} ms, {len(rows):,} rows "
        "(baseline)"
    )
    listed, version = out["listed"][1]
    print(f"model version {version}: {listed:,} scored sites on the serious dishonesty list")
    for name in ("scoring", "recompute", "recompute again"):
        seconds, result = out[name]
        sites = len(result) if isinstance(result, list) else result.sites
        print(
            f"{name}: {seconds * 1000:.0f} ms for {sites:,} sites, ratio {seconds / baseline:.1f}"
        )


if __name__ == "__main__":
    main()
