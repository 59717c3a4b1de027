"""The search engine interface, and the engines an app or worker keeps on its state.

Two engines implement ``SearchEngine``: ``MeiliEngine`` (search/meili.py, production) and
``EmbeddedEngine`` (search/embedded.py, SQLite FTS5 in a file, no server). tests/search/
test_contract.py runs every behaviour against both. The engine only ever holds what the public
may see: publishing indexes a document, withdrawing or expiring deletes it (through the outbox,
search/jobs.py), so a search can never return a withdrawn or expired document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.engine import make_url

from portal.errors import ServiceUnavailable
from portal.facts import NATIONWIDE, DocumentKind, SearchDocument
from portal.settings import Settings
from search.settings import SearchSettings

# What a document is and how an engine stores it are the shell's (portal/facts.py): enforcement
# notices, another domain's documents, are indexed like this domain's own.
Kind = DocumentKind
KINDS: tuple[Kind, ...] = ("article", "notice", "regulation")
__all__ = ["KINDS", "NATIONWIDE", "Kind", "SearchDocument", "SearchQuery", "SearchUnavailable"]


class SearchUnavailable(ServiceUnavailable):
    code = "search_unavailable"
    title = "Search is temporarily unavailable"
    title_zh = "检索服务暂时不可用"


# How deep either engine pages: Meilisearch's maxTotalHits, and the page count the API offers.
SEARCH_WINDOW = 1000


@dataclass(frozen=True)
class SearchQuery:
    q: str = ""
    kind: Kind | None = None
    region: str | None = None  # a region name (facet value) or a 6-digit code (covers below)
    date_from: date | None = None
    date_to: date | None = None
    tag: str | None = None
    page: int = 1
    per_page: int = 10

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass
class Hit:
    kind: Kind
    id: str
    title: str  # plain text, as stored
    title_html: str  # escaped, with <mark>
    snippet_html: str  # escaped, with <mark>
    date: date | None
    region: str
    url: str
    tags: list[str] = field(default_factory=list)
    issuer: str = ""
    status: str = ""


@dataclass
class SearchResult:
    hits: list[Hit]
    total: int
    facets: dict[str, dict[str, int]]  # kind, region, year → value → count
    engine_ms: float = 0.0


@dataclass
class Suggestion:
    kind: Kind
    id: str
    title: str
    url: str


class SearchEngine(Protocol):
    name: str

    async def setup(self) -> None:
        """Create the index and apply its settings; idempotent."""

    async def index(self, documents: list[SearchDocument]) -> None:
        """Add or replace documents (by key)."""

    async def delete(self, keys: list[str]) -> None:
        """Remove documents by key; unknown keys are ignored."""

    async def search(self, query: SearchQuery) -> SearchResult: ...

    async def suggest(self, q: str, *, limit: int = 8) -> list[Suggestion]: ...

    async def health(self) -> dict[str, Any]: ...

    async def stats(self) -> dict[str, Any]:
        """At least ``documents``: how many documents the engine holds."""

    async def keys(self) -> set[str]:
        """Every stored key (for reindexing and checks)."""

    async def replace_all(self, batches: Any) -> int:
        """Rebuild from an async iterator of document batches; searches keep answering from the
        old contents until the new ones are complete. Returns the number indexed."""

    async def close(self) -> None: ...


def embedded_path(settings: Settings) -> Path:
    """The embedded index file: set explicitly, or beside a SQLite database, or in storage."""
    config = settings.of(SearchSettings)
    if config.search_index_path is not None:
        return config.search_index_path
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database = Path(url.database)
        return database.with_name(database.stem + ".search.sqlite")
    return settings.storage_dir / "search-index.sqlite"


def _config_key(settings: Settings) -> tuple[str, ...]:
    config = settings.of(SearchSettings)
    if config.search_backend == "meilisearch":
        return (
            "meilisearch",
            config.meili_url,
            config.meili_index,
            config.meili_key,
            str(config.meili_timeout_seconds),
            config.search_fallback,
        )
    return ("embedded", str(embedded_path(settings).resolve()))


def build(settings: Settings, *, index: str | None = None) -> SearchEngine:
    """A new engine for these settings, owned by the caller (the CLI, benchmarks, tests)."""
    from search.embedded import EmbeddedEngine

    config = settings.of(SearchSettings)
    if config.search_backend == "meilisearch":
        from search.meili import MeiliEngine

        meili = MeiliEngine(
            config.meili_url,
            config.meili_key,
            index or config.meili_index,
            timeout=config.meili_timeout_seconds,
        )
        if config.search_fallback == "embedded":
            from search.fallback import FallbackEngine

            return FallbackEngine(meili, EmbeddedEngine(embedded_path(settings)))
        return meili
    return EmbeddedEngine(embedded_path(settings))


def engine_for(state: Any, settings: Settings) -> SearchEngine:
    """The engine kept on ``state`` for these settings, made on first use.

    ``state`` is the app's ``app.state`` for requests and for the worker inside the server, or a
    separate worker's own state (``JobContext.state``): each process or app owns its engines, and
    nothing is kept at module level. Engines are keyed by their configuration, so changed search
    settings get a new engine; the app closes its engines at shutdown (``shutdown_hooks``).
    """
    engines: dict[tuple[str, ...], SearchEngine] | None = getattr(state, "search_engines", None)
    if engines is None:
        engines = {}
        state.search_engines = engines
        hooks = getattr(state, "shutdown_hooks", None)
        if isinstance(hooks, list):
            hooks.append(lambda: close_all(state))
    key = _config_key(settings)
    engine = engines.get(key)
    if engine is None:
        engine = engines[key] = build(settings)
    return engine


async def close_all(state: Any) -> None:
    """Close the engines kept on ``state``."""
    engines: dict[tuple[str, ...], SearchEngine] = getattr(state, "search_engines", None) or {}
    for engine in list(engines.values()):
        await engine.close()
    engines.clear()
