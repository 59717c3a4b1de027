"""Backup and restore throughput, beyond the demo data the drill test uses.

Builds a deployment (migrations, the demo data, then ``--photos`` extra stored files of
``--kib`` KiB of random bytes, which compress like JPEGs: not at all), and times, in this
process, ``create_backup``, ``check_backup`` (what ``gongzhi restore --check`` does) and
``restore_backup`` into a new empty database and store, with the peak RSS of the process.
One JSON line per database.

    .venv/bin/python bench/backup.py [--photos 2000] [--kib 256] [--database sqlite postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get(
    "GONGZHI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


async def _admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _url(kind: str, work: Path, name: str) -> str:
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{work / name}.db"
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


async def run(kind: str, photos: int, kib: int) -> dict[str, Any]:
    from api.complaints.storage import LocalPhotoStorage
    from portal import crypto
    from portal.backup.restore import check_backup, restore_backup
    from portal.backup.service import create_backup
    from portal.demo import load_demo
    from portal.migrate import upgrade_async
    from portal.settings import Environment, Settings

    work = Path(tempfile.mkdtemp(prefix=f"bench-backup-{kind}-"))
    tag = os.urandom(4).hex()
    names = [f"bench_backup_src_{tag}", f"bench_backup_dst_{tag}"]
    if kind == "postgresql":
        for name in names:
            await _admin(f'CREATE DATABASE "{name}"')

    def settings_for(name: str) -> Settings:
        return Settings(
            env=Environment.test,
            database_url=_url(kind, work, name),
            storage_dir=work / name / "storage",
            signing_key_file=work / "signing-key.pem",  # the same key: the operator restored it
            secret_key="bench-secret-key-bench-secret-key-bench",
            run_worker_in_process=False,
        )

    source, target = settings_for(names[0]), settings_for(names[1])
    try:
        crypto.configure(source)
        await upgrade_async(source.database_url)
        await load_demo(source)
        store = LocalPhotoStorage(Path(source.storage_dir) / "photos")
        for index in range(photos):
            await store.save_bytes(
                f"originals/{index % 256:02x}/bench-{index}", os.urandom(kib * 1024)
            )

        started = time.perf_counter()
        report = await create_backup(source, work / "backup")
        backed_up = time.perf_counter() - started
        started = time.perf_counter()
        await asyncio.to_thread(check_backup, target, work / "backup")
        checked = time.perf_counter() - started
        started = time.perf_counter()
        restored = await restore_backup(target, work / "backup")
        restore_seconds = time.perf_counter() - started
        total = report.manifest.files.bytes + report.manifest.database.size
        return {
            "database": kind,
            "files": restored.files,
            "rows": sum(report.manifest.database.tables.values()),
            "backup_mb": round(total / 1e6, 1),
            "backup_s": round(backed_up, 2),
            "check_s": round(checked, 2),
            "restore_s": round(restore_seconds, 2),
            "restore_mb_per_s": round(total / 1e6 / restore_seconds, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    finally:
        if kind == "postgresql":
            for name in names:
                await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=2000)
    parser.add_argument("--kib", type=int, default=256)
    parser.add_argument("--database", nargs="+", default=["sqlite", "postgresql"])
    arguments = parser.parse_args()

    import logging

    from portal import clock

    logging.disable(logging.INFO)
    clock.start_from_environment(production=False)
    for kind in arguments.database:
        print(json.dumps(asyncio.run(run(kind, arguments.photos, arguments.kib))), flush=True)


if __name__ == "__main__":
    main()
