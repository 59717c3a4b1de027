"""Regional statistics at scale (issue 15): N registered instruments (default 1,000,000) in a
scratch PostgreSQL database or a fresh SQLite file, and the regulator's regional summary
(api/instruments/statistics.py) timed at city and province level, each as a ratio to a bare
``SELECT count(*) FROM registered_instrument`` measured in the same run.

    .venv/bin/python bench/instrument_stats.py [--rows 1000000] [--db postgresql|sqlite]

The data is written by the database itself (generate_series on PostgreSQL, a recursive CTE on
SQLite) in the shapes the portal writes: half the instruments in 咸阳市 (6104), half in 西安市
(6101), six categories, 2% retired, 2% rejected, 2% pending; 70% with a certificate in the
registry (1% failure notices, 0.5% revoked), 10% entered and never verified, 20% declared by the
owner only; 50,000 applications to three institutions over the last year. Each summary is the
whole answer of GET /api/v1/instrument-statistics (states by category, rates, institutions, 12
months); the best of three runs after one warm-up is reported, and the status GROUP BY and the
months' verifications alone.
The registrations' copy of their current certificates and the copy of the certificates per
region (api/instruments/current.py) are filled by the migrations' backfill statements after the
rows are written, and their times printed; on PostgreSQL the registrations' table is then
compacted (VACUUM FULL), as rows written once would be.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
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

COUNTIES = [
    "610402", "610403", "610404", "610422", "610423", "610424",
    "610102", "610103", "610104", "610111", "610112", "610113",
]  # fmt: skip
CATEGORIES = [  # (code, verification form, cycle in months)
    ("scale-pc", "periodic", 12),
    ("water-meter", "initial_rotation", 72),
    ("fuel-dispenser", "periodic", 6),
    ("taximeter", "periodic", 12),
    ("sphygmomanometer", "periodic", 12),
    ("gas-meter", "initial_rotation", 120),
]
OWNERS = 192  # 16 in each county


def _migration_constant(revision_file: str, name: str) -> str:
    """A backfill as its migration runs it on an existing database: read from the migration
    itself, so the bench measures exactly the statement shipped."""
    path = ROOT / "portal" / "migrations" / "versions" / revision_file
    spec = importlib.util.spec_from_file_location(f"bench_migration_{path.stem}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    value: str = getattr(module, name)
    return value


# The registrations' copy of their registry instrument's current certificate, and the registry's
# certificates copied per region the instruments are registered in (api/instruments/current.py).
BACKFILL = _migration_constant(
    "20261130_1330_e5a1c3d7f902_instruments_current_certificate_copy.py", "BACKFILL"
)
VERIFICATIONS_BACKFILL = _migration_constant(
    "20261130_1700_b5ab36cdf373_instruments_verification_copy.py", "BACKFILL"
)
INSTITUTIONS = 3
APPLICATIONS = 50_000


class Sql:
    """The few expressions that differ between the two databases."""

    def __init__(self, dialect: str, today: str) -> None:
        self.pg = dialect == "postgresql"
        self.today = today

    def series(self, n: int) -> tuple[str, str]:
        """(WITH clause, FROM clause) giving i = 1..n."""
        if self.pg:
            return "", f"generate_series(1, {n}) AS s(i)"
        return (
            f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) ",
            "s",
        )

    def uid(self, tag: int, expr: str) -> str:
        if self.pg:
            return f"(lpad(to_hex({tag}), 8, '0') || lpad(to_hex({expr}), 24, '0'))::uuid"
        return f"printf('%08x%024x', {tag}, {expr})"

    def day(self, offset: str) -> str:
        if self.pg:
            return f"(DATE '{self.today}' + ({offset}))"
        return f"date('{self.today}', ({offset}) || ' days')"

    def moment(self, offset: str) -> str:
        if self.pg:
            return f"(TIMESTAMPTZ '{self.today} 02:00:00+00' + ({offset}) * INTERVAL '1 day')"
        return f"datetime('{self.today} 02:00:00', ({offset}) || ' days')"

    def json(self, text: str) -> str:
        return f"'{text}'::json" if self.pg else f"'{text}'"

    @staticmethod
    def pick(values: list[str], expr: str) -> str:
        whens = " ".join(f"WHEN {n} THEN '{v}'" for n, v in enumerate(values))
        return f"(CASE {expr} {whens} END)"


def statements(sql: Sql, rows: int) -> list[str]:
    w, s = sql.series(rows)
    county = sql.pick(COUNTIES, "i % 12")
    category = sql.pick([c for c, _, _ in CATEGORIES], "i % 6")
    form = sql.pick([f for _, f, _ in CATEGORIES], "i % 6")
    cycle = f"(CASE i % 6 {' '.join(f'WHEN {n} THEN {m}' for n, (_, _, m) in enumerate(CATEGORIES))} END)"
    owner = sql.uid(1, "12 * ((i / 12) % 16) + i % 12")
    institution = sql.uid(2, f"i % {INSTITUTIONS}")
    registered = sql.uid(10, "i")
    instrument = sql.uid(11, "i")
    certificate = sql.uid(12, "i")
    verified = "-(i % 420)"
    # j = i % 10: 0-6 certified in the registry, 7 entered never verified, 8 declared, 9 new.
    status = (
        "(CASE WHEN i % 50 = 0 THEN 'retired' WHEN i % 50 = 1 THEN 'rejected' "
        "WHEN i % 50 = 2 THEN 'pending' ELSE 'confirmed' END)"
    )
    last = f"(CASE WHEN i % 10 = 8 THEN {sql.day('-(i % 400)')} END)"
    in_use = f"(CASE WHEN i % 10 = 9 THEN {sql.day('(i % 40) - 20')} ELSE {sql.day('-(i % 900) - 30')} END)"
    due = (
        f"(CASE WHEN i % 10 = 8 THEN {sql.day('-(i % 400) + 365')} "
        f"WHEN i % 10 = 9 THEN {sql.day('(i % 40) - 20')} ELSE {sql.day('-(i % 900) - 30')} END)"
    )
    return [
        f"{w}INSERT INTO instrument (id, sticker_token, category_code, model, serial, manufacturer,"
        " owner_name, owner_type, owner_uscc, address, region_code, current_certificate_id,"
        f" created_at) SELECT {instrument}, 'T' || i, {category}, 'M-1', 'B' || i, '制造单位',"
        f" '使用单位', 'enterprise', NULL, '地址', {county},"
        f" CASE WHEN i % 10 < 7 THEN {certificate} END, {sql.moment('-(i % 900) - 30')}"
        f" FROM {s} WHERE i % 10 < 8",
        f"{w}INSERT INTO certificate (id, number, kind, institution_id, instrument_id, regulation,"
        " conclusion, verified_on, valid_until, verifier, content_hash, created_at)"
        f" SELECT {certificate}, 'C' || i, CASE WHEN i % 97 = 0 THEN 'notice' ELSE 'certificate'"
        f" END, {institution}, {instrument}, 'JJG', '合格', {sql.day(verified)},"
        f" CASE WHEN i % 97 = 0 THEN NULL ELSE {sql.day(verified + ' + 365')} END, '检定员',"
        f" 'h', {sql.moment(verified)} FROM {s} WHERE i % 10 < 7",
        f"{w}INSERT INTO certificate_event (id, certificate_id, kind, at, reason)"
        f" SELECT {sql.uid(13, 'i')}, {certificate}, 'revoked', {sql.moment('-1')}, '注销'"
        f" FROM {s} WHERE i % 10 < 7 AND i % 199 = 0",
        f"{w}INSERT INTO registered_instrument (id, owner_id, category_code, model, serial,"
        " manufacturer, location, usage_area, attributes, region_code, address, in_use_since,"
        " last_verified_on, verification_form, cycle_months, due_on, status, review_reason,"
        f" registry_instrument_id, created_at) SELECT {registered}, {owner}, {category}, 'M-1',"
        f" 'B' || i, '制造单位', '1 号摊位', '贸易结算', {sql.json('{}')}, {county}, '地址',"
        f" {in_use}, {last}, {form}, {cycle}, {due}, {status}, '',"
        f" CASE WHEN i % 10 < 8 AND i % 50 <> 1 THEN {instrument} END,"
        f" {sql.moment('-(i % 400)')} FROM {s}",
        f"{w}INSERT INTO registration_event (id, registration_id, kind, at, reason, data)"
        f" SELECT {sql.uid(14, 'i')}, {registered}, 'retired', {sql.moment('-(i % 380)')}, '报废',"
        f" {sql.json('{}')} FROM {s} WHERE i % 50 = 0",
        f"{w}INSERT INTO registration_event (id, registration_id, kind, at, reason, data)"
        f" SELECT {sql.uid(16, 'i')}, {registered}, 'registered', {sql.moment('-(i % 400)')}, '',"
        f" {sql.json('{}')} FROM {s}",
    ]


def application_statement(sql: Sql) -> str:
    w, s = sql.series(APPLICATIONS)
    state = sql.pick(["completed", "completed", "completed", "accepted", "submitted"], "i % 5")
    made = "-(i % 365)"
    return (
        f"{w}INSERT INTO verification_application (id, owner_id, institution_id, region_code, mode,"
        " preferred_on, note, status, appointment_address, staff, refuse_reason, created_at,"
        f" completed_at) SELECT {sql.uid(15, 'i')}, {sql.uid(1, 'i % ' + str(OWNERS))},"
        f" {sql.uid(2, f'i % {INSTITUTIONS}')}, {sql.pick(COUNTIES, f'(i % {OWNERS}) % 12')},"
        f" 'in_lab', {sql.day(made)}, '', {state}, '', '', '', {sql.moment(made)},"
        f" CASE WHEN i % 5 < 3 THEN {sql.moment(made + ' + i % 30')} END FROM {s}"
    )


async def prepare(url: str, rows: int) -> float:
    """Migrate, add the organisations, generate the rows; seconds spent generating."""
    from sqlalchemy import text

    from portal import clock
    from portal.accounts.models import Organization, OrganizationKind
    from portal.db import Database
    from portal.domains import import_models
    from portal.migrate import upgrade_async

    import_models()
    await upgrade_async(url)
    database = Database(url)
    try:
        async with database.transaction() as session:
            for k in range(OWNERS):
                session.add(
                    Organization(
                        id=uuid.UUID(f"{1:08x}{k:024x}"),
                        kind=OrganizationKind.owner,
                        code=f"OWNER{k:03d}",
                        name=f"使用单位{k}",
                        region_code=COUNTIES[k % 12],
                    )
                )
            for k in range(INSTITUTIONS):
                session.add(
                    Organization(
                        id=uuid.UUID(f"{2:08x}{k:024x}"),
                        kind=OrganizationKind.institution,
                        code=f"LAB{k}",
                        name=f"检定机构{k}",
                        region_code="610400",
                    )
                )
        sql = Sql(database.engine.dialect.name, clock.today().isoformat())
        started = time.perf_counter()
        async with database.transaction() as session:
            for statement in [*statements(sql, rows), application_statement(sql)]:
                await session.execute(text(statement))
        # The registrations' copy of their current certificates, as the migration fills it on
        # an existing database (the portal keeps it as certificates attach).
        backfill_started = time.perf_counter()
        async with database.transaction() as session:
            await session.execute(text(BACKFILL))
        print(
            f"backfill of the current certificates: {time.perf_counter() - backfill_started:.1f} s"
        )
        backfill_started = time.perf_counter()
        async with database.transaction() as session:
            await session.execute(text(VERIFICATIONS_BACKFILL))
        print(
            "backfill of the certificates per region: "
            f"{time.perf_counter() - backfill_started:.1f} s"
        )
        async with database.engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            if sql.pg:
                # The backfill rewrote every linked row: compact the table as rows written once
                # with their copy would be (the portal writes it as certificates attach).
                await autocommit.execute(text("VACUUM FULL registered_instrument"))
            await autocommit.execute(text("VACUUM ANALYZE" if sql.pg else "ANALYZE"))
        return time.perf_counter() - started
    finally:
        await database.dispose()


async def best(run: Callable[[], Awaitable[Any]], times: int = 3) -> tuple[float, Any]:
    await run()  # warm-up: caches, plans
    seconds = []
    result = None
    for _ in range(times):
        started = time.perf_counter()
        result = await run()
        seconds.append(time.perf_counter() - started)
    return min(seconds), result


async def measure(url: str) -> list[tuple[str, float, Any]]:
    from sqlalchemy import func, select

    from api.instruments import statistics
    from api.instruments.models import RegisteredInstrument
    from api.instruments.settings import InstrumentsSettings
    from portal import clock
    from portal.db import Database
    from portal.regions.models import Region

    database = Database(url)
    today = clock.today()
    settings = InstrumentsSettings()
    results: list[tuple[str, float, Any]] = []
    try:
        async with database.transaction() as session:

            async def count() -> Any:
                return await session.scalar(select(func.count()).select_from(RegisteredInstrument))

            results.append(("SELECT count(*)", *(await best(count))))
            for code in ("610400", "610000"):
                region = await session.get(Region, code)
                assert region is not None

                async def whole(region: Region = region) -> Any:
                    await statistics.tune_for_report(session)
                    return await statistics.summary(
                        session, region=region, today=today, settings=settings
                    )

                async def states(code: str = code) -> Any:
                    await statistics.tune_for_report(session)
                    return await statistics.status_counts(session, region=code, today=today)

                async def verified(code: str = code) -> Any:
                    await statistics.tune_for_report(session)
                    return await statistics.verifications_by_month(
                        session, region=code, today=today
                    )

                results.append((f"summary {code} {region.name}", *(await best(whole))))
                results.append((f"  of which states {code}", *(await best(states))))
                results.append((f"  of which verifications {code}", *(await best(verified))))
    finally:
        await database.dispose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--keep", action="store_true", help="keep the database (say where)")
    parser.add_argument("--reuse", help="a kept database (name or SQLite path): measure only")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="gongzhi-instrument-stats-"))
    pg_name = None
    if args.db == "sqlite":
        url = f"sqlite+aiosqlite:///{args.reuse or workdir / 'stats.db'}"
    else:
        from tests.support import _postgres_admin, postgres_async_url

        pg_name = args.reuse or f"gongzhi_bench_{uuid.uuid4().hex[:8]}"
        if not args.reuse:
            asyncio.run(_postgres_admin(f'CREATE DATABASE "{pg_name}"'))
        url = postgres_async_url(pg_name)
    try:
        generated = 0.0 if args.reuse else asyncio.run(prepare(url, args.rows))
        results = asyncio.run(measure(url))
    finally:
        if args.keep:
            print(f"kept: {url}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        if pg_name and not args.keep and not args.reuse:
            from tests.support import _postgres_admin

            asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
    print(f"{args.db}: {args.rows:,} registered instruments generated in {generated:.1f} s")
    baseline = results[0][1]
    print(f"SELECT count(*) FROM registered_instrument: {baseline * 1000:.1f} ms (baseline)")
    for name, seconds, result in results[1:]:
        extra = ""
        if hasattr(result, "registered"):
            extra = (
                f"; {result.registered:,} registered, verification rate "
                f"{result.verification_rate:.1%}, overdue rate {result.overdue_rate:.1%}"
            )
        print(f"{name}: {seconds * 1000:.0f} ms, ratio {seconds / baseline:.1f}{extra}")


if __name__ == "__main__":
    main()
