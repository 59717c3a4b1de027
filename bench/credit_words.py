"""The public credit list's word filter at 100,000 rated enterprises: LIKE alone against the
substring index (FTS5 trigram on SQLite, pg_trgm on PostgreSQL), in one run (issue 13).

    .venv/bin/python bench/credit_words.py [--db sqlite|postgresql|both] [--enterprises 100000]

Per database (SQLite in a temporary directory; PostgreSQL: a scratch database on the server of
GONGZHI_TEST_POSTGRES_URL, dropped at the end): ``gongzhi db upgrade`` and ``gongzhi demo``, then
N enterprises, each a member of the demo association (its label: the name, a short form, or the
only name when the registry does not know the enterprise) with a current grade, names and
addresses drawn from a few cities, trades and roads with a fixed seed. The index is filled by
what the migration installed (triggers on SQLite, GIN indexes on PostgreSQL), then ANALYZE (and
VACUUM on PostgreSQL, as autovacuum would after a bulk load).

Then for each query shape (1, 2, 3+ characters, a name word, an address word, a word matching
nothing, one matching many, several words, mixed Chinese/ASCII, wildcards) it times
``credit.public.list_ratings`` (the first page of 20 and the total, as ``GET /credit?q=…`` reads
them, no totals cache) before (the filter's LIKE alone: ``credit.words.plan`` replaced by one
without the index) and after, median of 5 after a warm-up, and checks that both give the same rows and total.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

CITIES = ("咸阳", "西安", "宝鸡", "渭南", "延安", "汉中", "榆林", "安康")
TRADES = ("商贸", "超市", "加油站", "眼镜", "农贸市场", "医药", "燃气", "计量检测", "餐饮", "五金")
BRANDS = ("", "", "", "", "", "", "", "XYZ", "Mart", "华润万家")
SUFFIXES = ("有限公司", "有限责任公司", "经营部", "店", "分公司")
ROADS = ("人民路", "渭阳西路", "文林路", "朱雀大街", "经二路", "中山街", "长安北路", "宝光路")
GRADES = ("AAA", "AA", "A", "B", "C")
INDUSTRIES = ("农贸市场", "成品油零售", "医疗机构", "出租汽车", "供水供气")

QUERIES = (
    ("1 char, many", "超"),
    ("1 char ASCII", "X"),
    ("2 chars, a trade", "超市"),
    ("2 chars, a city", "西安"),
    ("2 chars, none", "火星"),
    ("3 chars, name word", "加油站"),
    ("3 chars, address word", "人民路"),
    ("4 chars, many", "有限公司"),
    ("a whole name", "NAME"),  # replaced by a real name
    ("a word matching nothing", "不存在的企业"),
    ("digits in the address", "1234号"),
    ("2 words: city + trade", "西安 超市"),
    ("2 words: 2 + 3 chars", "西安 加油站"),
    ("mixed Chinese/ASCII", "XYZ超市"),
    ("ASCII brand, other case", "mart"),
    ("wildcards", "%_%"),
    ("the code", "USCC"),  # replaced by a real code
)


def rows(count: int) -> list[tuple[str, str | None, str, str, str]]:
    from credit.demo import make_uscc

    rng = random.Random(13)
    made = []
    regions = ("610402", "610403", "610404", "610422", "610481", "610102", "610302")
    for i in range(count):
        city = rng.choice(CITIES)
        trade = rng.choice(TRADES)
        name = f"{city}{rng.choice(BRANDS)}{trade}{i}{rng.choice(SUFFIXES)}"
        address = f"{city}市{rng.choice(ROADS)}{rng.randint(1, 3000)}号"
        label = rng.choice((name, name, f"{city}{trade}{i}"))
        registered: str | None = name if rng.random() > 0.05 else None
        made.append((make_uscc(regions[i % len(regions)], 700_000 + i), registered, address, label))
    return made  # type: ignore[return-value]


def gongzhi(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [str(BIN / "gongzhi"), *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


async def grow(url: str, made: list[Any]) -> None:
    """The rated enterprises, written in plain SQL (as an import would): the index follows."""
    from sqlalchemy import text

    from portal.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            association, run, score, code, version = (
                await connection.execute(
                    text(
                        "SELECT association_id, run_id, score_id, methodology_code, "
                        "methodology_version FROM credit_rating LIMIT 1"
                    )
                )
            ).one()
            await connection.execute(
                text(
                    "INSERT INTO credit_enterprise (uscc, name, industry, region_code, address, "
                    "created_at) VALUES (:uscc, :name, :industry, :region, :address, :at)"
                ),
                [
                    {
                        "uscc": u,
                        "name": n,
                        "industry": INDUSTRIES[i % 5],
                        "region": u[2:8],
                        "address": a,
                        "at": _at(),
                    }
                    for i, (u, n, a, _) in enumerate(made)
                ],
            )
            await connection.execute(
                text(
                    "INSERT INTO credit_membership (id, association_id, uscc, joined_on, name) "
                    "VALUES (:id, :association, :uscc, :joined, :name)"
                ),
                [
                    {
                        "id": _id(url),
                        "association": association,
                        "uscc": u,
                        "joined": _day(2025, 1, 1),
                        "name": label,
                    }
                    for u, _, _, label in made
                ],
            )
            await connection.execute(
                text(
                    "INSERT INTO credit_rating (id, association_id, uscc, status, grade, score, "
                    "run_id, score_id, methodology_code, methodology_version, valid_from, "
                    "valid_until, under_review, published_seq, last_seq) VALUES (:id, "
                    ":association, :uscc, 'active', :grade, :score, :run, :score_id, :code, "
                    ":version, :start, :end, false, 1000, 1000)"
                ),
                [
                    {
                        "id": _id(url),
                        "association": association,
                        "uscc": u,
                        "grade": GRADES[i % 5],
                        "score": (i * 7919) % 10000 / 100,
                        "run": run,
                        "score_id": score,
                        "code": code,
                        "version": version,
                        "start": _day(2025, 11, 1),
                        "end": _day(2028, 10, 31),
                    }
                    for i, (u, _, _, _) in enumerate(made)
                ],
            )
            await connection.execute(text("ANALYZE"))
        if not url.startswith("sqlite"):
            # What autovacuum does after a bulk load: the GIN indexes' pending entries merged
            # (before, every trigram lookup also reads the whole pending list).
            async with engine.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                await autocommit.execute(text("VACUUM ANALYZE"))
    finally:
        await engine.dispose()


def _id(url: str) -> Any:
    return uuid.uuid4().hex if url.startswith("sqlite") else uuid.uuid4()


def _at() -> Any:
    from datetime import UTC, datetime

    return datetime(2026, 1, 1, tzinfo=UTC)


def _day(year: int, month: int, day: int) -> Any:
    from datetime import date

    return date(year, month, day)


async def measure(url: str, made: list[Any], repeat: int) -> list[str]:
    from credit import public, words
    from portal import clock
    from portal.db import Database
    from portal.settings import Environment, Settings

    settings = Settings(env=Environment.test, database_url=url)
    database = Database.from_settings(settings)
    indexed = words.plan

    async def like_alone(session: Any, q: str, *, rows: int | None) -> words.WordFilter:
        return words.WordFilter(None, selective=False)

    today = clock.today()
    lines = []
    try:
        for label, query in QUERIES:
            q = {"USCC": made[len(made) // 2][0], "NAME": made[40404][3]}.get(query, query)
            figures = {}
            answers = {}
            for mode, planned in (("LIKE", like_alone), ("index", indexed)):
                words.plan = planned
                times = []
                for attempt in range(repeat + 1):
                    async with database.transaction() as session:
                        started = time.perf_counter()
                        found, total = await public.list_ratings(session, today=today, q=q)
                        elapsed = time.perf_counter() - started
                    if attempt:  # the first one warms the caches
                        times.append(elapsed)
                figures[mode] = statistics.median(times) * 1000
                answers[mode] = ([(r.rating.id, r.name) for r in found], total)
            words.plan = indexed
            same = "same" if answers["LIKE"] == answers["index"] else "DIFFERENT"
            lines.append(
                f"  {label:<26} {q!r:<22} {answers['index'][1]:>7} "
                f"{figures['LIKE']:>9.1f} {figures['index']:>9.1f} "
                f"{figures['LIKE'] / max(figures['index'], 0.001):>7.1f}×  {same}"
            )
    finally:
        await database.dispose()
    return lines


def run_database(db: str, enterprises: int, repeat: int, workdir: Path) -> list[str]:
    from bench.scratch import scratch_database

    with scratch_database(db, workdir / "bench.db") as url:
        env = {
            **os.environ,
            "GONGZHI_DATABASE_URL": url,
            "GONGZHI_ENV": "development",
            "GONGZHI_SECRET_KEY": secrets.token_hex(32),
            "GONGZHI_DATA_KEYS": "bench:" + base64.b64encode(secrets.token_bytes(32)).decode(),
            "GONGZHI_STORAGE_DIR": str(workdir / "storage"),
            "GONGZHI_SIGNING_KEY_FILE": str(workdir / "key.pem"),
            "GONGZHI_SIGNING_KEYS_DIR": str(workdir / "keys"),
        }
        started = time.perf_counter()
        gongzhi(env, "db", "upgrade")
        gongzhi(env, "demo")
        made = rows(enterprises)
        asyncio.run(grow(url, made))
        ready = time.perf_counter() - started
        header = [
            f"[{db}] {enterprises:,} rated enterprises, ready in {ready:.0f} s; "
            f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
            f"  {'query':<26} {'q':<22} {'total':>7} {'LIKE ms':>9} {'index ms':>9} {'speed-up':>8}",
        ]
        return header + asyncio.run(measure(url, made, repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    databases = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    output = []
    for db in databases:
        with tempfile.TemporaryDirectory(prefix="gongzhi-words-") as tmp:
            lines = run_database(db, args.enterprises, args.repeat, Path(tmp))
        print("\n".join(lines), flush=True)
        output += lines
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
