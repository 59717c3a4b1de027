"""The search engine interface and the registry that picks one from the settings.

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
from typing import Any, Literal, Protocol

from sqlalchemy.engine import make_url

from portal.errors import ServiceUnavailable
from portal.settings import Settings

Kind = Literal["article", "notice", "regulation"]
KINDS: tuple[Kind, ...] = ("article", "notice", "regulation")
NATIONWIDE = "全国"


class SearchUnavailable(ServiceUnavailable):
    code = "search_unavailable"
    title = "Search is temporarily unavailable"
    title_zh = "检索服务暂时不可用"


@dataclass(frozen=True)
class SearchDocument:
    """What an engine stores for one published document (built by search/service.py)."""

    kind: Kind
    id: str
    title: str
    body: str  # plain text
    url: str
    summary: str = ""
    keywords: str = ""  # tags, category, party name, decision number: weighted between the two
    tags: tuple[str, ...] = ()
    category: str = ""
    region: str = NATIONWIDE  # display name of the region, 全国 for national documents
    region_codes: tuple[str, ...] = ()  # the GB/T 2260 code and its ancestors, when known
    date: date | None = None

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.id}"

    @property
    def year(self) -> int | None:
        return self.date.year if self.date else None

    @property
    def ts(self) -> int:
        """Days since 1970 (0 when undated): the sort key for 'newest first'."""
        return (self.date - date(1970, 1, 1)).days if self.date else 0


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
    title_html: str  # escaped, with <mark>
    snippet_html: str  # escaped, with <mark>
    date: date | None
    region: str
    url: str
    tags: list[str] = field(default_factory=list)


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
    if settings.search_index_path is not None:
        return settings.search_index_path
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        database = Path(url.database)
        return database.with_name(database.stem + ".search.sqlite")
    return settings.storage_dir / "search-index.sqlite"


def _config_key(settings: Settings) -> tuple[str, ...]:
    if settings.search_backend == "meilisearch":
        return (
            "meilisearch",
            settings.meili_url,
            settings.meili_index,
            settings.meili_key,
            settings.search_fallback,
        )
    return ("embedded", str(embedded_path(settings).resolve()))


_engines: dict[tuple[str, ...], SearchEngine] = {}
_by_database: dict[str, SearchEngine] = {}


def build(settings: Settings, *, index: str | None = None) -> SearchEngine:
    """A new engine for these settings (not cached): the benchmarks and tests use this."""
    from search.embedded import EmbeddedEngine

    if settings.search_backend == "meilisearch":
        from search.meili import MeiliEngine

        meili = MeiliEngine(
            settings.meili_url,
            settings.meili_key,
            index or settings.meili_index,
            timeout=settings.meili_timeout_seconds,
        )
        if settings.search_fallback == "embedded":
            from search.fallback import FallbackEngine

            return FallbackEngine(meili, EmbeddedEngine(embedded_path(settings)))
        return meili
    return EmbeddedEngine(embedded_path(settings))


def for_settings(settings: Settings) -> SearchEngine:
    """The process's engine for these settings (one per configuration)."""
    key = _config_key(settings)
    engine = _engines.get(key)
    if engine is None:
        engine = _engines[key] = build(settings)
    _by_database[_normal_url(settings.database_url)] = engine
    return engine


def _normal_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=False)


def for_database_url(url: str) -> SearchEngine:
    """The engine that belongs to the database a job runs on. Outbox handlers only get a session;
    the app, the CLI and the tests register their settings through ``for_settings`` first, and a
    separate ``gongzhi worker`` process falls back to the environment's settings."""
    engine = _by_database.get(_normal_url(url))
    if engine is not None:
        return engine
    from portal.settings import get_settings

    return for_settings(get_settings())


def register(database_url: str, engine: SearchEngine) -> SearchEngine | None:
    """Make ``engine`` the one jobs on this database use (tests, benchmarks); returns the
    previous one."""
    key = _normal_url(database_url)
    previous = _by_database.get(key)
    _by_database[key] = engine
    return previous


async def close_all() -> None:
    for engine in list(_engines.values()):
        await engine.close()
    _engines.clear()
    _by_database.clear()
