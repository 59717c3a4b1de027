"""The outbox worker killed in the middle of a job: a real ``gongzhi worker`` process is SIGKILLed
while the handler sleeps, after it wrote its effect (uncommitted). A second worker runs the job
again once its lease runs out: the job runs twice, its effect exists exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import func, select

from portal.audit.models import AuditEntry
from portal.db import Database
from portal.outbox import service as outbox
from portal.outbox.models import OutboxEvent
from portal.settings import Settings
from tests.hardening.slow_job import EFFECT, TOPIC
from tests.support import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 2


def start_worker(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GONGZHI_ENV": "test",
        "GONGZHI_DATABASE_URL": settings.database_url,
        "GONGZHI_STORAGE_DIR": str(settings.storage_dir),
        "GONGZHI_SIGNING_KEY_FILE": str(settings.signing_key_file),
        "GONGZHI_SECRET_KEY": TEST_SECRET,
        "GONGZHI_OUTBOX_LEASE_SECONDS": str(LEASE_SECONDS),
        "GONGZHI_WORKER_POLL_SECONDS": "0.2",
    }
    # `gongzhi worker` itself, with the test's handler registered first.
    code = "import tests.hardening.slow_job; from portal.cli import app; app(['worker'])"
    # The child keeps its own copy of the log's descriptor; ours is closed at once.
    with log.open("ab") as output:
        return subprocess.Popen(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def counts(database: Database, event_id: uuid.UUID) -> tuple[int, OutboxEvent]:
    async with database.transaction() as session:
        effects = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.action == EFFECT)
        )
        event = await session.get(OutboxEvent, event_id)
        assert event is not None
        session.expunge(event)
        return int(effects or 0), event


async def test_killed_worker_job_runs_again_once(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    async with database.transaction() as session:
        event = await outbox.enqueue(
            session, TOPIC, {"dir": str(tmp_path), "id": str(uuid.uuid4())}
        )
        assert event is not None
        event_id = event.id
    starts = tmp_path / "starts"
    log = tmp_path / "worker.log"

    first = start_worker(settings, log)
    try:
        for _ in range(600):  # up to 60 s for the process to start and claim the job
            if starts.exists() and starts.stat().st_size >= 1:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"the job never started: {log.read_text()}")
        await asyncio.sleep(0.3)  # the effect is flushed, the handler sleeps
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(timeout=10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()

    effects, event = await counts(database, event_id)
    assert effects == 0  # the half-done job was rolled back with the process
    assert event.processed_at is None
    assert event.attempts == 0

    second = start_worker(settings, log)
    try:
        for _ in range(600):
            effects, event = await counts(database, event_id)
            if event.processed_at is not None:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"the job never ran again: {log.read_text()}")
        await asyncio.sleep(LEASE_SECONDS + 0.5)  # would a third run happen? (it must not)
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=30) == 0, log.read_text()

    effects, event = await counts(database, event_id)
    assert starts.stat().st_size == 2  # killed once, run again once
    assert effects == 1  # and its effect exists once
    assert event.attempts == 1
    assert event.failed_at is None
