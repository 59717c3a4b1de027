"""Work started when the application starts, so that requests do not pay for it.

The first search after start-up took 7-9 s (issue 12): jieba loads its dictionary (and ours) on
first use (0.7 s on an idle machine, 5-8 s on a loaded one), and the engine is set up (schema,
settings, a rebuild after a format change) on its first call. Both start here, in worker threads,
as soon as the app starts. The start-up itself does not wait for them, so the server comes up at
once; a search or a /readyz probe that arrives before they finish waits for the rest (the engine's
``setup`` and jieba's loading are each done once, under a lock).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from search import text
from search.engine import engine_for

log = logging.getLogger(__name__)


async def warm_up(app: FastAPI) -> None:
    await asyncio.to_thread(text.warm_up)
    engine = engine_for(app.state, app.state.settings)
    try:
        await engine.setup()
    except Exception as exc:
        # A search engine that is down must not keep the portal from starting: the first
        # search will try again and answer 503 search_unavailable if it still cannot.
        log.warning("search engine set-up failed at start-up: %s", exc)


async def start(app: FastAPI) -> None:
    task = app.state.search_warm_up = asyncio.create_task(warm_up(app))
    app.state.warm_ups.append(task)

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # Before the engines' own close hook (added by engine_for inside the task): stop first.
    app.state.shutdown_hooks.insert(0, stop)
