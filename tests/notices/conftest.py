"""Notice fixtures: the app's search engine (notices are found through search) and a worker run."""

from __future__ import annotations

import pytest

from search.engine import SearchEngine, engine_for


@pytest.fixture
async def index_engine(app) -> SearchEngine:  # type: ignore[no-untyped-def]
    """The app's engine (embedded, beside the test database), emptied before each test."""
    built = engine_for(app.state, app.state.settings)
    await built.setup()
    await built.delete(sorted(await built.keys()))
    return built


@pytest.fixture
def run_worker(database):  # type: ignore[no-untyped-def]
    from portal.outbox.worker import OutboxWorker

    async def run() -> int:
        return await OutboxWorker(database).run_once()

    return run
