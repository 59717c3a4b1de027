"""Revision 8e1f4b2c9a70: the search documents of individuals' notices, indexed before their
names were masked in the title and texts too, are asked to be written again."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

from sqlmodel import select

from portal import clock
from portal.db import Database
from portal.facts import INDEX_TOPIC
from portal.migrate import upgrade
from portal.outbox.models import OutboxEvent


async def test_the_upgrade_asks_the_worker_to_index_each_individuals_notice_again(
    tmp_path: Path,
) -> None:
    path = tmp_path / "old.db"
    url = f"sqlite+aiosqlite:///{path}"
    # In a thread: the migrations run their own event loop.
    await asyncio.to_thread(upgrade, url, "9e4b7c1d2a60")  # the revision before
    individuals = [uuid.uuid4() for _ in range(3)]
    enterprise = uuid.uuid4()
    with sqlite3.connect(path) as db:  # foreign keys off: only the notices matter here
        db.executemany(
            "INSERT INTO search_notice (id, title, decision_number, party_name, party_kind,"
            " violation, legal_basis, penalty_kind, authority, region_code, decision_date,"
            " published_on, display_until, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?,"
            " ?, '《计量法》第二十六条', '警告', '秦都区市场监管局', '610402', '2026-01-05',"
            " '2026-01-06', '2029-01-06', 'published', '2026-01-06 00:00:00',"
            " '2026-01-06 00:00:00')",
            [
                (notice.hex, f"{name}使用未经检定电子秤案", f"秦市监罚〔2026〕{n}号", name, kind,
                 f"当事人{name}在集贸市场使用未经检定的电子秤。")
                for n, (notice, name, kind) in enumerate(
                    [(i, "张建国", "individual") for i in individuals]
                    + [(enterprise, "咸阳某某商贸有限公司", "enterprise")]
                )
            ],
        )  # fmt: skip
    asked_before = clock.now()

    await asyncio.to_thread(upgrade, url)

    database = Database(url)
    try:
        async with database.transaction() as session:
            events = list((await session.scalars(select(OutboxEvent))).all())
    finally:
        await database.dispose()
    assert [e.topic for e in events] == [INDEX_TOPIC]
    # Every individual's notice, and only theirs: an enterprise's name is shown as written.
    assert events[0].payload == {"kind": "notice", "ids": sorted(str(i) for i in individuals)}
    # Due at once for the worker (read back through the ORM's UTC type, as the worker reads it).
    assert events[0].processed_at is None
    assert asked_before <= events[0].available_at <= clock.now()


def test_an_upgrade_without_individuals_notices_asks_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM outbox_event").fetchone() == (0,)
