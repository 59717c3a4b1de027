"""Bulk registration throughput (issue 15): an owner's GB18030 CSV of N instruments into a fresh
SQLite database (or PostgreSQL), the way POST /api/v1/instruments/import stores it.

    .venv/bin/python bench/registrations.py [--rows 20000] [--db sqlite|postgresql]

Every row is checked against the catalogue (category by its Chinese name, a water meter's DN for
its cycle, the usage area), stored with its first event in one transaction. Prints rows/s, the
ratio against parsing the same file with the csv module alone (the floor any importer pays) and a
second run, which registers nothing (the key is serial + category + manufacturer).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEADER = [
    "器具类别",
    "型号规格",
    "出厂编号",
    "制造单位",
    "安装位置",
    "用途",
    "公称口径",
    "上次检定日期",
]


def write_csv(path: Path, rows: int) -> None:
    from portal import clock

    today = clock.today()
    with path.open("w", encoding="gb18030", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            water = i % 3 == 0
            writer.writerow(
                [
                    "水表" if water else "电子计价秤",
                    "LXS-20" if water else "ACS-15",
                    f"R{i:08d}",
                    "宁波水表股份有限公司" if water else "上海友声衡器有限公司",
                    f"{i % 500} 号摊位",
                    "贸易结算",
                    "20" if water else "",
                    (today.replace(day=1)).isoformat() if i % 2 else "",
                ]
            )


async def prepare(url: str) -> None:
    from portal.accounts.models import OrganizationKind, Role
    from portal.accounts.schemas import OrganizationCreate, StaffUserCreate
    from portal.accounts.service import create_organization, create_staff_user
    from portal.db import Database
    from portal.domains import import_models
    from portal.migrate import upgrade_async

    import_models()
    await upgrade_async(url)
    database = Database(url)
    try:
        async with database.transaction() as session:
            await create_organization(
                session,
                OrganizationCreate(
                    kind=OrganizationKind.owner,
                    code="BENCH",
                    name="咸阳市秦都区人民路农贸市场有限公司",
                    region_code="610402",
                    uscc="91610402MA6XY00010",
                ),
                actor=None,
            )
            await create_staff_user(
                session,
                StaffUserCreate(
                    email="bench-owner@example.cn",
                    password="bench-password-2026",
                    role=Role.owner,
                    region_code="610402",
                    organization_code="BENCH",
                ),
                actor=None,
            )
    finally:
        await database.dispose()


async def run_import(url: str, path: Path) -> tuple[float, object]:
    from sqlmodel import select

    from api.instruments.imports import import_registrations
    from api.instruments.settings import InstrumentsSettings
    from portal.accounts.models import User
    from portal.db import Database

    database = Database(url)
    try:
        async with database.transaction() as session:
            user = (
                await session.execute(select(User).where(User.email == "bench-owner@example.cn"))
            ).scalar_one()
            started = time.perf_counter()
            report = await import_registrations(
                session,
                filename=path.name,
                data=path.read_bytes(),
                actor=user,
                settings=InstrumentsSettings(registration_import_max_rows=1_000_000),
            )
        return time.perf_counter() - started, report  # includes the commit
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="gongzhi-registrations-"))
    path = workdir / "登记.csv"
    write_csv(path, args.rows)

    started = time.perf_counter()
    with path.open(encoding="gb18030", newline="") as handle:
        parsed = sum(1 for _ in csv.reader(handle)) - 1
    parse_rate = parsed / (time.perf_counter() - started)

    from bench.scratch import scratch_database

    try:
        with scratch_database(args.db, workdir / "registrations.db") as url:
            asyncio.run(prepare(url))
            seconds, report = asyncio.run(run_import(url, path))
            again_seconds, again = asyncio.run(run_import(url, path))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    rate = args.rows / seconds
    print(
        f"file: {args.rows:,} rows GB18030 CSV; csv.reader alone {parse_rate:,.0f} rows/s (baseline)"
    )
    print(
        f"registration import on {args.db}: {seconds:.1f} s, {rate:,.0f} rows/s, "
        f"created {report.created}, failed {report.failed}; "  # type: ignore[attr-defined]
        f"ratio to csv.reader {rate / parse_rate:.3f}"
    )
    print(
        f"again: {again_seconds:.1f} s, {args.rows / again_seconds:,.0f} rows/s, "
        f"created {again.created}, unchanged {again.unchanged}"  # type: ignore[attr-defined]
    )


if __name__ == "__main__":
    main()
