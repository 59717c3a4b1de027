"""Meilisearch with the embedded engine standing by (``GONGZHI_SEARCH_FALLBACK=embedded``).

Writes go to both engines, the embedded one first, so that when Meilisearch is down the outbox
retries the whole change and the embedded index is already complete; searches go to Meilisearch
and, when it answers ``SearchUnavailable``, to the embedded engine. Without the setting a
Meilisearch outage is a 503 ``search_unavailable`` (docs/reliability.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import structlog

from search.engine import (
    SearchDocument,
    SearchEngine,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
    Suggestion,
)

log = structlog.get_logger(__name__)


class FallbackEngine:
    def __init__(self, primary: SearchEngine, standby: SearchEngine) -> None:
        self.primary = primary
        self.standby = standby
        self.name = f"{primary.name}+{standby.name}"

    async def setup(self) -> None:
        await self.standby.setup()
        await self.primary.setup()

    async def index(self, documents: list[SearchDocument]) -> None:
        await self.standby.index(documents)
        await self.primary.index(documents)

    async def delete(self, keys: list[str]) -> None:
        await self.standby.delete(keys)
        await self.primary.delete(keys)

    async def search(self, query: SearchQuery) -> SearchResult:
        try:
            return await self.primary.search(query)
        except SearchUnavailable:
            log.warning("search_fallback", engine=self.standby.name)
            return await self.standby.search(query)

    async def suggest(self, q: str, *, limit: int = 8) -> list[Suggestion]:
        try:
            return await self.primary.suggest(q, limit=limit)
        except SearchUnavailable:
            return await self.standby.suggest(q, limit=limit)

    async def health(self) -> dict[str, Any]:
        primary = await self.primary.health()
        standby = await self.standby.health()
        # Searches still answer while the standby is healthy; report both.
        return {**primary, "ok": bool(primary.get("ok") or standby.get("ok")), "fallback": standby}

    async def stats(self) -> dict[str, Any]:
        return await self.primary.stats()

    async def keys(self) -> set[str]:
        return await self.primary.keys()

    async def close(self) -> None:
        await self.primary.close()
        await self.standby.close()

    async def replace_all(self, batches: Any) -> int:
        # Both engines rebuild from the same rows; a reindex holds them in memory once.
        collected: list[list[SearchDocument]] = [batch async for batch in batches]

        async def replay() -> AsyncIterator[list[SearchDocument]]:
            for batch in collected:
                yield batch

        await self.standby.replace_all(replay())
        return await self.primary.replace_all(replay())
