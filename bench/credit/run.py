"""Credit scoring throughput: a full run over 100,000 member enterprises, on SQLite and PostgreSQL.

    .venv/bin/python bench/credit/run.py [--enterprises 100000] [--databases sqlite,postgresql]

What is measured, per database (fresh database, migrated to head):

- setup (not timed): one association, N enterprises with memberships and three association-entered
  indicators each, inserted in bulk; facts generated in memory with a fixed seed — about 4
  instruments per enterprise, substantiated complaints for ~5 %, penalties for ~3 %;
- baseline: ``score_all`` alone on those facts (pure Python, no database);
- full run: ``runs.start_run`` exactly as the API calls it — it reads the members and the
  entries, gathers the facts through portal/facts.py (the generated facts are served by a
  provider registered as a domain, in memory, so no fact query is timed: the real providers'
  queries are not on this branch), scores, inserts N drafts with their breakdown and evidence,
  and appends one signed ledger event — then commits;
- publish: ``open_notice`` then ``publish_run`` — N signed ``rating.published`` events, the
  projection rows, commit.

Prints enterprises per second for each and the ratio of the full run to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import types
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from credit import runs
from credit.demo import make_uscc
from credit.methodologies import DEFAULT_METHODOLOGY_FILE
from credit.models import Enterprise, IndicatorEntry, Membership
from credit.schemas import RunCreate
from credit.scoring import Method, score_all
from portal import domains
from portal.accounts.models import Organization, OrganizationKind
from portal.db import Database
from portal.facts import ComplaintFact, InstrumentFact, PenaltyFact
from portal.migrate import upgrade_async
from portal.settings import Environment, Settings

AS_OF = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
REGIONS = ["610402", "610403", "610404", "610422", "610423", "610424", "610481"]
FACTS: dict[str, list[Any]] = {"instruments": [], "complaints": [], "penalties": []}


def install_provider() -> None:
    """Serve FACTS through the portal/facts.py contract, as a domain's facts module would."""

    async def instrument_facts(
        session: Any, *, as_of: date, usccs: Sequence[str] | None
    ) -> list[InstrumentFact]:
        return list(FACTS["instruments"])

    async def complaint_facts(
        session: Any, *, since: datetime, usccs: Sequence[str] | None
    ) -> list[ComplaintFact]:
        return list(FACTS["complaints"])

    async def penalty_facts(
        session: Any, *, as_of: date, usccs: Sequence[str] | None
    ) -> list[PenaltyFact]:
        return list(FACTS["penalties"])

    package = types.ModuleType("credit_bench_provider")
    package.__path__ = []  # a package, so "credit_bench_provider.facts" resolves
    module = types.ModuleType("credit_bench_provider.facts")
    module.instrument_facts = instrument_facts  # type: ignore[attr-defined]
    module.complaint_facts = complaint_facts  # type: ignore[attr-defined]
    module.penalty_facts = penalty_facts  # type: ignore[attr-defined]
    sys.modules[package.__name__] = package
    sys.modules[module.__name__] = module
    domains.DOMAINS.append(package.__name__)


def generate(n: int, seed: int = 2026) -> tuple[list[str], list[tuple[str, str]]]:
    rng = random.Random(seed)
    usccs = [make_uscc(REGIONS[i % len(REGIONS)], 10_000_000 + i) for i in range(n)]
    instruments, complaints, penalties = [], [], []
    for code in usccs:
        for k in range(rng.randint(2, 6)):
            status = rng.choices(["valid", "expiring", "expired", "none"], [80, 8, 9, 3])[0]
            overdue = rng.randint(1, 200) if status in ("expired", "none") else 0
            instruments.append(
                InstrumentFact(
                    instrument_id=uuid.UUID(int=rng.getrandbits(128)),
                    owner_uscc=code,
                    region_code=code[2:8],
                    category_code="加油机",
                    status=status,  # type: ignore[arg-type]
                    certificate_number=None if status == "none" else f"JD{k}{code[-8:]}",
                    valid_until=AS_OF + timedelta(days=rng.randint(-200, 300)),
                    overdue_days=overdue,
                    failures_24m=1 if rng.random() < 0.05 else 0,
                    verifications_24m=4,
                )
            )
        if rng.random() < 0.05:
            complaints.append(
                ComplaintFact(
                    case_id=uuid.UUID(int=rng.getrandbits(128)),
                    tracking_number=f"TS{rng.randint(10**9, 10**10)}",
                    business_uscc=code,
                    category="计量作弊",
                    concluded_at=NOW - timedelta(days=rng.randint(1, 700)),
                )
            )
        if rng.random() < 0.03:
            penalties.append(
                PenaltyFact(
                    notice_id=uuid.UUID(int=rng.getrandbits(128)),
                    decision_number=f"咸市监处罚〔2025〕{rng.randint(1, 9999)}号",
                    party_uscc=code,
                    penalty_kind=rng.choice(["警告", "罚款", "没收违法所得"]),
                    amount=Decimal(rng.randint(1, 100) * 1000),
                    decided_on=AS_OF - timedelta(days=rng.randint(1, 600)),
                    display_until=AS_OF + timedelta(days=rng.randint(1, 900)),
                )
            )
    FACTS.update(instruments=instruments, complaints=complaints, penalties=penalties)
    entries = [
        (code, indicator)
        for code in usccs
        for indicator in ("self_commitment", "metrology_officer", "management_system")
        if rng.random() < 0.8
    ]
    return usccs, entries


async def setup(
    database: Database, usccs: list[str], entries: list[tuple[str, str]]
) -> Organization:
    async with database.transaction() as session:
        org = Organization(
            kind=OrganizationKind.association,
            code="BENCH",
            name="基准测试行业协会",
            region_code="610400",
            industry="成品油零售",
        )
        session.add(org)
        await session.flush()
        chunk = 5000
        for start in range(0, len(usccs), chunk):
            part = usccs[start : start + chunk]
            await session.execute(
                insert(Enterprise.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "uscc": u,
                        "name": f"基准加油站{i + start:06d}",
                        "industry": "成品油零售",
                        "region_code": u[2:8],
                        "address": "",
                        "created_at": NOW,
                    }
                    for i, u in enumerate(part)
                ],
            )
            await session.execute(
                insert(Membership.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "id": uuid.uuid4(),
                        "association_id": org.id,
                        "uscc": u,
                        "name": f"基准加油站{i + start:06d}",
                        "joined_on": date(2025, 1, 1),
                        "left_on": None,
                    }
                    for i, u in enumerate(part)
                ],
            )
        for start in range(0, len(entries), chunk):
            await session.execute(
                insert(IndicatorEntry.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "id": uuid.uuid4(),
                        "association_id": org.id,
                        "uscc": u,
                        "indicator": i,
                        "value": True,
                        "note": "",
                        "entered_by": None,
                        "entered_at": NOW,
                    }
                    for u, i in entries[start : start + chunk]
                ],
            )
    return org


async def create_postgres() -> tuple[str, str]:
    import asyncpg

    admin = os.environ.get(
        "GONGZHI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    name = f"gongzhi_bench_{uuid.uuid4().hex[:10]}"
    connection = await asyncpg.connect(admin, timeout=5)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    url = admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + name
    return url, name


async def drop_postgres(name: str) -> None:
    import asyncpg

    admin = os.environ.get(
        "GONGZHI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    connection = await asyncpg.connect(admin, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def bench_database(
    kind: str, usccs: list[str], entries: list[tuple[str, str]], tmp: Path
) -> dict[str, float]:
    pg_name = None
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    else:
        url, pg_name = await create_postgres()
    try:
        await upgrade_async(url)
        settings = Settings(
            env=Environment.test,
            database_url=url,
            storage_dir=tmp / "storage",
            signing_key_file=tmp / "signing-key.pem",
        )
        database = Database.from_settings(settings)
        try:
            org = await setup(database, usccs, entries)
            started = time.perf_counter()
            async with database.transaction() as session:
                run = await runs.start_run(
                    session,
                    actor=None,
                    association=org,
                    data=RunCreate(),
                    settings=settings,
                    now=NOW,
                )
            run_seconds = time.perf_counter() - started
            assert run.enterprise_count == len(usccs)
            started = time.perf_counter()
            async with database.transaction() as session:
                org = await session.get(Organization, org.id)  # type: ignore[assignment]
                actor = types.SimpleNamespace(id=None, role="association")
                await runs.open_notice(
                    session, actor=actor, association=org, run_id=run.id, settings=settings, now=NOW
                )  # type: ignore[arg-type]
                await runs.publish_run(
                    session,
                    actor=actor,
                    association=org,
                    run_id=run.id,
                    settings=settings,
                    now=NOW + timedelta(days=15),  # type: ignore[arg-type]
                )
            publish_seconds = time.perf_counter() - started
        finally:
            await database.dispose()
    finally:
        if pg_name:
            await drop_postgres(pg_name)
    return {"run": run_seconds, "publish": publish_seconds}


def baseline(usccs: list[str], entries: list[tuple[str, str]]) -> float:
    data = json.loads(DEFAULT_METHODOLOGY_FILE.read_text(encoding="utf-8"))
    method = Method.from_definition(data["code"], data["version"], data["definition"])
    values = dict.fromkeys(entries, True)
    started = time.perf_counter()
    scores = score_all(method, usccs, as_of=AS_OF, entries=values, **FACTS)
    elapsed = time.perf_counter() - started
    assert len(scores) == len(usccs)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--enterprises", type=int, default=100_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    domains.import_models()
    install_provider()
    t0 = time.perf_counter()
    usccs, entries = generate(args.enterprises)
    print(
        f"generated {len(usccs):,} enterprises, {len(FACTS['instruments']):,} instruments, "
        f"{len(FACTS['complaints']):,} complaints, {len(FACTS['penalties']):,} penalties, "
        f"{len(entries):,} entries in {time.perf_counter() - t0:.1f} s"
    )
    pure = baseline(usccs, entries)
    n = len(usccs)
    print(
        f"baseline  score_all only (no database):      {pure:7.2f} s  {n / pure:9,.0f} enterprises/s"
    )
    for kind in args.databases.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(bench_database(kind, usccs, entries, Path(tmp)))
        print(
            f"{kind:11s}full run (start_run, commit):        {result['run']:7.2f} s  "
            f"{n / result['run']:9,.0f} enterprises/s  ({result['run'] / pure:.1f}× baseline)"
        )
        print(
            f"{kind:11s}公示 + publish ({n:,} signed events): {result['publish']:7.2f} s  "
            f"{n / result['publish']:9,.0f} enterprises/s"
        )


if __name__ == "__main__":
    main()
