"""Meilisearch goes down mid-way (the process is killed), publishing goes on, Meilisearch comes
back, the worker runs, and the index holds exactly what the public may see."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from sqlmodel import select

from portal import facts
from portal.accounts.models import Role
from portal.db import Database
from portal.outbox.models import OutboxEvent
from portal.outbox.service import JobContext
from portal.outbox.worker import OutboxWorker
from search import service
from search.engine import SearchQuery
from search.meili import MeiliEngine
from search.schemas import ArticleCreate
from search.settings import SearchSettings
from tests.search.meili import MeiliServer
from tests.search.support import unique_index
from tests.support import make_settings


async def test_index_catches_up_after_meilisearch_was_killed(
    client, database: Database, meili_server: MeiliServer, make_user, settings, tmp_path
) -> None:
    meili = MeiliEngine(meili_server.url, meili_server.key, unique_index(), timeout=3)
    # A worker process configured for this Meilisearch index: it makes its own engine from its
    # settings, on its own state.
    worker_settings = make_settings(
        settings.database_url,
        tmp_path,
        search_backend="meilisearch",
        meili_url=meili_server.url,
        meili_key=meili_server.key,
        meili_index=meili.uid,
        meili_timeout_seconds=3,
    )
    assert worker_settings.of(SearchSettings).meili_index == meili.uid
    editor = await make_user(Role.editor)
    worker = OutboxWorker(
        database, context=JobContext(settings=worker_settings, state=SimpleNamespace())
    )
    try:
        await meili.setup()

        async def publish(title: str) -> str:
            async with database.transaction() as session:
                article = await service.create_article(
                    session,
                    ArticleCreate(title=title, body=f"{title}：计量科普正文。", publish=True),
                    actor=editor,
                )
                return str(article.id)

        before = [await publish(f"停机前的文章{i}") for i in range(3)]
        await worker.run_once()
        assert await meili.keys() == {f"article-{i}" for i in before}

        meili_server.kill()
        assert (await meili.health())["ok"] is False
        during = [await publish(f"停机期间的文章{i}") for i in range(3)]
        async with database.transaction() as session:
            await service.withdraw_article(
                session, service_uuid(before[0]), reason="停机期间撤回", actor=editor
            )
        assert await worker.run_once() == 0  # every index event failed and was rescheduled
        async with database.sessionmaker() as session:
            pending = list(
                await session.scalars(
                    select(OutboxEvent).where(OutboxEvent.topic == facts.INDEX_TOPIC)
                )
            )
        waiting = [e for e in pending if e.processed_at is None]
        assert len(waiting) == 4
        assert all(e.attempts == 1 and e.last_error for e in waiting)

        meili_server.start()  # same port, same data directory
        await asyncio.sleep(2.2)  # the first retry is due 2 s after the failure
        assert await worker.run_once() == 4
        expected = {f"article-{i}" for i in [*before[1:], *during]}
        assert await meili.keys() == expected
        result = await meili.search(SearchQuery(q="停机期间"))
        assert {h.id for h in result.hits[:3]} == set(during)
        assert (await meili.health())["ok"] is True
    finally:
        if meili_server.process is None or meili_server.process.poll() is not None:
            meili_server.start()
        await meili._request("DELETE", f"/indexes/{meili.uid}")
        await meili.close()


def service_uuid(value: str):  # type: ignore[no-untyped-def]
    import uuid

    return uuid.UUID(value)
