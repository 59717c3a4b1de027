"""Search fixtures: a Meilisearch process for the session, engines for the contract suite, and
the regulations corpus (read from ../shared, never copied into the repository)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from search.embedded import EmbeddedEngine
from search.engine import SearchEngine
from search.meili import MeiliEngine
from search.settings import SearchSettings
from tests.search.meili import MeiliServer, find_binary
from tests.search.support import unique_index
from tests.support import service_missing


@pytest.fixture(scope="session")
def meili_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeiliServer]:
    binary = find_binary()
    if binary is None:
        service_missing(
            "Meilisearch binary not found (run scripts/get-meilisearch.sh or set GONGZHI_MEILI_BINARY)"
        )
        raise AssertionError("unreachable")
    server = MeiliServer(binary, tmp_path_factory.mktemp("meili"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["embedded", "meilisearch"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SearchEngine]:
    """A fresh, empty engine of each kind."""
    built: SearchEngine
    if request.param == "embedded":
        built = EmbeddedEngine(tmp_path / "index.sqlite")
    else:
        server: MeiliServer = request.getfixturevalue("meili_server")
        built = MeiliEngine(server.url, server.key, unique_index())
    await built.setup()
    yield built
    if isinstance(built, MeiliEngine):
        for uid in (built.uid, built.sections_uid):
            await built._request("DELETE", f"/indexes/{uid}")
    await built.close()


@pytest.fixture(scope="session")
def corpus_path() -> Path:
    path = SearchSettings().regulations_corpus
    env = os.environ.get("GONGZHI_REGULATIONS_CORPUS")
    if env:
        path = Path(env)
    if not path.exists():
        service_missing(f"the regulations corpus is not at {path} (set GONGZHI_REGULATIONS_CORPUS)")
    return path


@pytest.fixture
async def index_engine(app) -> AsyncIterator[SearchEngine]:  # type: ignore[no-untyped-def]
    """The app's engine (embedded, beside the test database), emptied before each test."""
    from search.engine import engine_for

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
