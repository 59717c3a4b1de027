"""An outbox handler for the worker-kill test, imported into a real ``gongzhi worker`` process.

Each run appends a byte to ``<dir>/starts`` (outside the database, so the test sees every start)
and writes its effect — an audit entry — in the job's transaction. The first run then sleeps, so
the test can SIGKILL the worker in the middle of the job."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from portal.audit.service import record
from portal.outbox.service import JobContext, handler

TOPIC = "hardening.slow_effect"
EFFECT = "hardening.effect"


@handler(TOPIC)
async def slow_effect(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
    starts = Path(payload["dir"]) / "starts"
    with starts.open("ab") as fh:
        fh.write(b"x")
        fh.flush()
        os.fsync(fh.fileno())
    await record(
        session, actor=None, action=EFFECT, entity_type="test", entity_id=uuid.UUID(payload["id"])
    )
    await session.flush()
    if starts.stat().st_size == 1:
        await asyncio.sleep(120)  # killed here
