"""Bulk import throughput: a 100,000-row CSV into a fresh SQLite database (or PostgreSQL).

    .venv/bin/python bench/import.py [--rows 100000] [--db sqlite|postgresql]

Writes a GB18030 CSV with Chinese headers (what Chinese Excel saves), then imports it the way
``gongzhi certificates import`` does (imports.import_file with bulk=True, in one transaction,
batches of GONGZHI_CERTIFICATE_IMPORT_BATCH_SIZE). Prints rows/s, the ratio against parsing the same file
with the csv module alone (the floor any importer pays), peak memory, and a second run to show
that re-importing changes nothing, and the CPU time of the import (all threads: wall time on a
shared machine depends on the other tenants). Target: ≥ 20,000 rows/s on SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import resource
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEADER = [
    "证书编号", "器具类别", "型号规格", "出厂编号", "制造单位", "送检单位", "统一社会信用代码",
    "所有人类型", "使用地址", "行政区划代码", "检定依据", "检定结论", "检定日期", "有效期至", "检定员",
]  # fmt: skip


def write_csv(path: Path, rows: int) -> None:
    from stdnum.cn import uscc

    from portal import clock

    codes = [f"91610402MA6X{i:05d}" for i in range(200)]
    codes = [c + uscc.calc_check_digit(c) for c in codes]
    today = clock.today()
    with path.open("w", encoding="gb18030", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            verified = today - timedelta(days=i % 360)
            individual = i % 4 == 0
            scale = i % 3 != 0
            # Each category's validity within its cycle (电子计价秤 1 year, 燃油加油机 6 months,
            # JJG 443-2023), so that every row is stored and the bench measures storing them.
            valid_until = verified + timedelta(days=364 if scale else 180)
            writer.writerow(
                [
                    f"XYJC2026-{i:07d}",
                    "电子计价秤" if scale else "燃油加油机",
                    "ACS-15",
                    f"SN{i:08d}",
                    "上海友声衡器有限公司",
                    "张建国" if individual else f"咸阳市秦都区第{i % 200}农贸市场有限公司",
                    "" if individual else codes[i % 200],
                    "个人" if individual else "企业",
                    f"人民路农贸市场 {i % 500} 号摊位",
                    "610402",
                    "",
                    "合格",
                    verified.isoformat(),
                    valid_until.isoformat(),
                    "陈工",
                ]
            )


async def run_import(url: str, path: Path) -> tuple[float, object]:
    from api.certificates.imports import import_file
    from api.certificates.settings import CertificatesSettings
    from portal.accounts.models import Organization
    from portal.db import Database
    from portal.settings import Settings

    settings = Settings(database_url=url, signing_key_file=path.parent / "key.pem")
    database = Database(url)
    try:
        async with database.transaction() as session:
            org = (
                await session.execute(
                    __import__("sqlmodel").select(Organization).where(Organization.code == "XYJC")
                )
            ).scalar_one()
            started = time.perf_counter()
            with path.open("rb") as stream:
                report = await import_file(
                    session,
                    stream,
                    path.name,
                    institution=org,
                    actor=None,
                    settings=settings.of(CertificatesSettings),
                    bulk=True,
                )
        return time.perf_counter() - started, report  # includes the commit
    finally:
        await database.dispose()


async def prepare(url: str) -> None:
    from portal.accounts.models import OrganizationKind
    from portal.accounts.schemas import OrganizationCreate
    from portal.accounts.service import create_organization
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
                    kind=OrganizationKind.institution,
                    code="XYJC",
                    name="咸阳市计量检定测试所",
                    region_code="610400",
                ),
                actor=None,
            )
    finally:
        await database.dispose()


def _cpu_seconds() -> float:
    # the process and its reader child (import_worker.py), once ended
    return sum(
        usage.ru_utime + usage.ru_stime
        for usage in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="gongzhi-import-"))
    path = workdir / "certificates.csv"
    write_csv(path, args.rows)
    size_mb = path.stat().st_size / 1e6

    started = time.perf_counter()
    with path.open(encoding="gb18030", newline="") as handle:
        parsed = sum(1 for _ in csv.reader(handle)) - 1
    parse_seconds = time.perf_counter() - started

    from bench.scratch import scratch_database

    try:
        with scratch_database(args.db, workdir / "import.db") as url:
            asyncio.run(prepare(url))
            cpu_before = _cpu_seconds()
            seconds, report = asyncio.run(run_import(url, path))
            cpu_seconds = _cpu_seconds() - cpu_before
            again_seconds, again = asyncio.run(run_import(url, path))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = args.rows / seconds
    print(f"file: {args.rows:,} rows, {size_mb:.1f} MB GB18030 CSV")
    print(f"csv.reader alone: {parsed / parse_seconds:,.0f} rows/s (baseline)")
    print(
        f"import on {args.db}: {seconds:.1f} s, {rate:,.0f} rows/s, created {report.created}, "  # type: ignore[attr-defined]
        f"failed {report.failed}; ratio to csv.reader {rate / (parsed / parse_seconds):.2f}"  # type: ignore[attr-defined]
    )
    print(
        f"CPU time of the import (all threads and the reader process): {cpu_seconds:.1f} s, "
        f"{args.rows / cpu_seconds:,.0f} rows per CPU-second (steadier than wall time on a "
        "shared machine)"
    )
    print(
        f"re-import: {again_seconds:.1f} s, created {again.created}, unchanged {again.unchanged}"  # type: ignore[attr-defined]
    )
    print(f"peak RSS of the process: {peak_mb:.0f} MB; target >= 20,000 rows/s on SQLite")


if __name__ == "__main__":
    main()
