"""The Meilisearch engine, spoken to over HTTP.

Plain HTTP calls rather than meilisearch-python-sdk: the dozen endpoints used here (documents,
settings, search, tasks, swap) are stable REST calls, and owning the calls keeps timeouts, error
mapping (a down engine is a 503 ``search_unavailable``, never a 500) and waiting for tasks
explicit, with no second client library to keep in step with the server's versions.

The client is aiohttp (already the S3 photo store's, through aioboto3) with orjson, not httpx:
every API search makes two of these calls (the documents, then their sections), and httpx spent
1.3–1.8 ms of CPU on each where aiohttp spends ~0.6 ms (issue 12: on a 6–12 ms search that
difference was most of what kept the API above 1.3× Meilisearch called directly).

Settings are managed by the code (``index_settings``) and applied at start-up when they differ
from the server's, so applying them is idempotent. Writes are Meilisearch tasks; ``index`` and
``delete`` wait for their task and raise if it failed, so an outbox event is marked done only
once the engine has really applied it.
"""

from __future__ import annotations

import asyncio
import io
import time
import weakref
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import aiohttp
import orjson

from search import sections, text
from search.engine import (
    SEARCH_WINDOW,
    Hit,
    SearchDocument,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
    Suggestion,
)
from search.vocabulary import DICTIONARY, synonyms_map

SEARCHED = ["title", "keywords", "summary", "body"]
FACETS = ["kind", "region", "year"]
RETRIEVED = ["key", "kind", "id", "title", "url", "tags", "date", "region", "issuer", "status"]
# The sections of each document (search/sections.py) live in a second index, ``{index}_sections``:
# the documents' own index, its ranking and facet counts stay as they were, and highlighting and
# cropping work on the one article a hit is shown with, never on a whole law (issue 12).
SECTIONS_SUFFIX = "_sections"
SECTION_RETRIEVED = ["doc", "label", "anchor", "chapter"]
# Meilisearch 1.21's built-in rules in their default order, then, as the last tie-break, the
# version in force before older versions of the same regulation (issue 12).
RANKING_RULES = [
    "words",
    "typo",
    "proximity",
    "attribute",
    "sort",
    "exactness",
    "version_rank:asc",
]
EPOCH = date(1970, 1, 1)
ORDERED_SETTINGS = {"searchableAttributes", "rankingRules"}


def index_settings(*, tuned: bool = True) -> dict[str, Any]:
    """The index settings. ``tuned=False`` is Meilisearch's defaults plus only what the query
    API needs to run (filters, facets, sort): the baseline of the relevance comparison."""
    required: dict[str, Any] = {
        "filterableAttributes": ["kind", "region", "region_codes", "year", "ts", "tags"],
        "sortableAttributes": ["ts", "key", "version_rank"],
    }
    if not tuned:
        return required
    return {
        **required,
        # The title first: Meilisearch's "attribute" rule ranks a match in the title above one
        # in the body. pinyin (syllable-aligned suffixes) is searched only by suggest.
        "searchableAttributes": [*SEARCHED, "pinyin"],
        "rankingRules": RANKING_RULES,
        "displayedAttributes": [*RETRIEVED, "summary", "lead", "body"],
        # Kanji-only text can be detected as Japanese; the content is Mandarin.
        "localizedAttributes": [{"attributePatterns": SEARCHED, "locales": ["cmn"]}],
        "dictionary": sorted(DICTIONARY),
        "synonyms": synonyms_map(),
        # 12315 must not find 12345; pinyin keys are matched exactly.
        "typoTolerance": {"disableOnNumbers": True, "disableOnAttributes": ["pinyin"]},
        "faceting": {"maxValuesPerFacet": 100},
        "pagination": {"maxTotalHits": SEARCH_WINDOW},
    }


def section_settings(*, tuned: bool = True) -> dict[str, Any]:
    """The sections index: searched on its text, filtered by the document it belongs to."""
    required: dict[str, Any] = {"filterableAttributes": ["doc"]}
    if not tuned:
        return required
    return {
        **required,
        "searchableAttributes": ["text"],
        # As in the embedded engine: most query words first, then, on a tie, an article before
        # the text ahead of the first one (it repeats the title).
        "rankingRules": ["words", "named:desc", *RANKING_RULES[1:-1]],
        "sortableAttributes": ["named"],
        "displayedAttributes": ["key", *SECTION_RETRIEVED, "text"],
        "localizedAttributes": [{"attributePatterns": ["text"], "locales": ["cmn"]}],
        "dictionary": sorted(DICTIONARY),
        "synonyms": synonyms_map(),
        "typoTolerance": {"disableOnNumbers": True},
    }


def client_headers(key: str) -> dict[str, str]:
    """No compression: Meilisearch gzips an answer by default, sends it chunked, and its last
    small chunk waits for the client's delayed ACK (Nagle's algorithm): about 40 ms on a search
    whose engine time is 2–5 ms (issue 12; the p95 above 100 ms of every shape with words). A
    search answer is ~10 KB; not compressing it costs nothing next to that stall."""
    headers = {"Accept-Encoding": "identity"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def as_meili_document(doc: SearchDocument) -> dict[str, Any]:
    return {
        "key": doc.key,
        "kind": doc.kind,
        "id": doc.id,
        "title": doc.title,
        "summary": doc.summary,
        "keywords": doc.keywords,
        "body": doc.body,
        "url": doc.url,
        "tags": list(doc.tags),
        "category": doc.category,
        "region": doc.region,
        "region_codes": list(doc.region_codes),
        "year": doc.year,
        "date": doc.date.isoformat() if doc.date else None,
        "ts": doc.ts,
        "issuer": doc.issuer,
        "status": doc.status,
        "version_rank": doc.version_rank,
        "pinyin": text.pinyin_suffixes(doc.title),
        "lead": sections.lead(doc.body),
    }


def as_meili_sections(doc: SearchDocument) -> list[dict[str, Any]]:
    return [
        {
            "key": f"{doc.key}-{n}",
            "doc": doc.key,
            "label": part.label,
            "anchor": part.anchor,
            "chapter": part.chapter,
            "text": part.text,
            "named": 1 if part.label else 0,
        }
        for n, part in enumerate(sections.split(doc.body))
    ]


class MeiliError(RuntimeError):
    """Meilisearch refused a request or a task failed (a bug or a bad document, not an outage)."""


class MeiliEngine:
    name = "meilisearch"

    def __init__(
        self, url: str, key: str, index: str, *, timeout: float = 10.0, tuned: bool = True
    ) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.uid = index
        self.sections_uid = index + SECTIONS_SUFFIX
        self.timeout = timeout
        self.tuned = tuned
        self._client: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._release: weakref.finalize[[aiohttp.ClientSession], MeiliEngine] | None = None
        self._ready = False

    # -- plumbing ---------------------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        """The headers of every request (the benchmark's direct calls send them too)."""
        return client_headers(self.key)

    def _http(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            # A session's pool belongs to one event loop (the CLI runs several in turn): one
            # left on another loop is let go. So is the session of an engine that is dropped
            # without close() (a worker's throwaway JobContext), as httpx's client was, instead
            # of warning that it was left open.
            if self._release is not None:
                self._release()
            self._client = aiohttp.ClientSession(
                headers=self.headers(), timeout=aiohttp.ClientTimeout(total=self.timeout)
            )
            self._release = weakref.finalize(self, _let_go, self._client)
            self._loop = loop
        return self._client

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, str | int] | None = None,
    ) -> Any:
        body = None if json is None else orjson.dumps(json)
        # A batch of documents is sent in parts: aiohttp warns a large bytes body may hold up
        # the event loop.
        data = io.BytesIO(body) if body is not None and len(body) > _LARGE_BODY else body
        headers = None if json is None else _JSON
        try:
            async with self._http().request(
                method, self.url + path, data=data, params=params, headers=headers
            ) as response:
                status = response.status
                content = await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SearchUnavailable(f"Meilisearch at {self.url} is unreachable: {exc!r}") from exc
        if status >= 500:
            raise SearchUnavailable(f"Meilisearch answered {status}")
        if status >= 400:
            detail = content[:500].decode("utf-8", "replace")
            raise MeiliError(f"{method} {path}: {status} {detail}")
        return orjson.loads(content) if content else None

    async def _wait(self, task: dict[str, Any], *, limit_s: float = 120.0) -> dict[str, Any]:
        uid = task["taskUid"]
        deadline = time.monotonic() + limit_s
        delay = 0.01
        while True:
            info: dict[str, Any] = await self._request("GET", f"/tasks/{uid}")
            if info["status"] == "succeeded":
                return info
            if info["status"] in ("failed", "canceled"):
                raise MeiliError(f"task {uid} {info['status']}: {info.get('error')}")
            if time.monotonic() > deadline:
                raise SearchUnavailable(f"Meilisearch task {uid} did not finish in {limit_s}s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _ensure_index(self, uid: str) -> None:
        try:
            await self._request("GET", f"/indexes/{uid}")
        except MeiliError:
            task = await self._request("POST", "/indexes", json={"uid": uid, "primaryKey": "key"})
            try:
                await self._wait(task)
            except MeiliError as exc:  # created concurrently by another process
                if "index_already_exists" not in str(exc):
                    raise

    async def _apply_settings(self, uid: str) -> None:
        if uid.endswith(SECTIONS_SUFFIX):
            wanted = section_settings(tuned=self.tuned)
        else:
            wanted = index_settings(tuned=self.tuned)
        current = await self._request("GET", f"/indexes/{uid}/settings")
        changed = {
            k: v
            for k, v in wanted.items()
            if (current.get(k) != v if k in ORDERED_SETTINGS else not _same(current.get(k), v))
        }
        if changed:
            await self._wait(
                await self._request("PATCH", f"/indexes/{uid}/settings", json=changed),
                limit_s=600,
            )

    async def setup(self) -> None:
        for uid in (self.uid, self.sections_uid):
            await self._ensure_index(uid)
            await self._apply_settings(uid)
        self._ready = True

    async def _ready_or_setup(self) -> None:
        if not self._ready:
            await self.setup()

    async def close(self) -> None:
        if self._client is not None:
            try:
                await self._client.close()
            except RuntimeError:  # its event loop is gone; nothing left to release
                pass
        if self._release is not None:
            self._release()  # nothing left to do for a closed session; drops the reference
        self._release = None
        self._client = None
        self._ready = False

    # -- writing ----------------------------------------------------------------------------

    async def _add(self, uid: str, documents: list[SearchDocument]) -> dict[str, Any]:
        payload = [as_meili_document(doc) for doc in documents]
        task: dict[str, Any] = await self._request(
            "POST", f"/indexes/{uid}/documents", params={"primaryKey": "key"}, json=payload
        )
        return task

    async def _add_sections(self, uid: str, documents: list[SearchDocument]) -> dict[str, Any]:
        payload = [part for doc in documents for part in as_meili_sections(doc)]
        task: dict[str, Any] = await self._request(
            "POST", f"/indexes/{uid}/documents", params={"primaryKey": "key"}, json=payload
        )
        return task

    async def _delete_sections(self, keys: list[str]) -> dict[str, Any]:
        """Every section of these documents (a changed text may have fewer articles)."""
        task: dict[str, Any] = await self._request(
            "POST",
            f"/indexes/{self.sections_uid}/documents/delete",
            json={"filter": f"doc IN [{', '.join(_quote(k) for k in keys)}]"},
        )
        return task

    async def index(self, documents: list[SearchDocument]) -> None:
        if not documents:
            return
        await self._ready_or_setup()
        # Tasks of one index run in the order given: old sections go before the new arrive.
        tasks = [
            await self._add(self.uid, documents),
            await self._delete_sections([doc.key for doc in documents]),
            await self._add_sections(self.sections_uid, documents),
        ]
        for task in tasks:
            await self._wait(task)

    async def delete(self, keys: list[str]) -> None:
        if not keys:
            return
        await self._ready_or_setup()
        task = await self._request(
            "POST", f"/indexes/{self.uid}/documents/delete-batch", json=list(keys)
        )
        await self._wait(task)
        await self._wait(await self._delete_sections(list(keys)))

    async def replace_all(self, batches: AsyncIterator[list[SearchDocument]]) -> int:
        """Build a fresh index beside the live one, then swap them atomically."""
        await self._ready_or_setup()
        staging = f"{self.uid}_rebuild"
        staging_sections = staging + SECTIONS_SUFFIX
        for uid in (staging, staging_sections):
            await self._request("DELETE", f"/indexes/{uid}")  # a leftover of a failed rebuild
            await self._ensure_index(uid)
            await self._apply_settings(uid)
        count = 0
        tasks = []
        async for batch in batches:
            tasks.append(await self._add(staging, batch))
            tasks.append(await self._add_sections(staging_sections, batch))
            count += len(batch)
        for task in tasks:
            await self._wait(task, limit_s=1800)
        # Both pairs in one swap: searches never see documents without their sections.
        swap = await self._request(
            "POST",
            "/swap-indexes",
            json=[
                {"indexes": [self.uid, staging]},
                {"indexes": [self.sections_uid, staging_sections]},
            ],
        )
        await self._wait(swap)
        for uid in (staging, staging_sections):
            await self._wait(await self._request("DELETE", f"/indexes/{uid}"))
        return count

    # -- reading ----------------------------------------------------------------------------

    @staticmethod
    def _filters(query: SearchQuery) -> list[str]:
        filters: list[str] = []
        if query.kind:
            filters.append(f"kind = {_quote(query.kind)}")
        if query.region:
            field = "region_codes" if query.region.isdigit() else "region"
            filters.append(f"{field} = {_quote(query.region)}")
        if query.date_from:
            filters.append(f"ts >= {(query.date_from - EPOCH).days} AND year IS NOT NULL")
        if query.date_to:
            filters.append(f"ts <= {(query.date_to - EPOCH).days} AND year IS NOT NULL")
        if query.tag:
            filters.append(f"tags = {_quote(query.tag)}")
        return filters

    def search_body(self, query: SearchQuery) -> dict[str, Any]:
        """The search request sent to Meilisearch (the benchmark sends it directly too)."""
        q = text.normalize(query.q).strip()
        body: dict[str, Any] = {
            "q": q,
            "page": query.page,
            "hitsPerPage": query.per_page,
            "filter": self._filters(query),
            "facets": FACETS,
            "attributesToRetrieve": RETRIEVED,
        }
        if self.tuned:
            body["attributesToSearchOn"] = SEARCHED
            body["locales"] = ["cmn"]
        if q:
            # Not the body: cropping and highlighting whole laws made p95 159 ms; the snippet
            # comes from the matching section (section_body), the lead when none matches.
            body.update(
                {
                    "attributesToHighlight": ["title", "summary", "lead"],
                    "attributesToCrop": ["summary", "lead"],
                    "cropLength": 48,
                    "cropMarker": "…",
                    "highlightPreTag": text.MARK_START,
                    "highlightPostTag": text.MARK_END,
                }
            )
        else:
            body["sort"] = ["ts:desc", "key:asc"]
            body["attributesToCrop"] = ["summary", "lead"]
            body["cropLength"] = 48
        return body

    def section_body(self, q: str, keys: list[str]) -> dict[str, Any]:
        """The search for the best-matching section of each of these documents (one each)."""
        body: dict[str, Any] = {
            "q": text.normalize(q).strip(),
            "filter": f"doc IN [{', '.join(_quote(k) for k in keys)}]",
            "distinct": "doc",
            "limit": len(keys),
            "attributesToRetrieve": SECTION_RETRIEVED,
            "attributesToHighlight": ["text"],
            "attributesToCrop": ["text"],
            "cropLength": 48,
            "cropMarker": "…",
            "highlightPreTag": text.MARK_START,
            "highlightPostTag": text.MARK_END,
        }
        if self.tuned:
            body["locales"] = ["cmn"]
        return body

    async def search(self, query: SearchQuery) -> SearchResult:
        await self._ready_or_setup()
        body = self.search_body(query)
        started = time.perf_counter()
        answer = await self._request("POST", f"/indexes/{self.uid}/search", json=body)
        found: dict[str, dict[str, Any]] = {}
        keys = [raw["key"] for raw in answer["hits"] if "key" in raw]
        if body["q"] and keys:
            parts = await self._request(
                "POST",
                f"/indexes/{self.sections_uid}/search",
                json=self.section_body(body["q"], keys),
            )
            found = {part["doc"]: part for part in parts["hits"]}
        elapsed = (time.perf_counter() - started) * 1000
        hits = [self._hit(raw, found.get(raw.get("key", ""))) for raw in answer["hits"]]
        distribution = answer.get("facetDistribution") or {}
        facets = {
            name: dict(sorted(distribution.get(name, {}).items(), key=lambda kv: -kv[1]))
            for name in FACETS
        }
        return SearchResult(
            hits=hits, total=int(answer.get("totalHits", 0)), facets=facets, engine_ms=elapsed
        )

    @staticmethod
    def _hit(raw: dict[str, Any], section: dict[str, Any] | None = None) -> Hit:
        formatted = raw.get("_formatted") or {}
        summary = formatted.get("summary") or ""
        part = ((section or {}).get("_formatted") or {}).get("text") or ""
        # The matching section when the summary does not hold the query's words.
        named = section is not None and text.MARK_START in part and text.MARK_START not in summary
        if named:
            excerpt = part
        else:
            excerpt = summary or formatted.get("lead") or ""
        where = section if named and section is not None else {}
        return Hit(
            kind=raw["kind"],
            id=raw["id"],
            title=raw["title"],
            title_html=text.marked_to_html(formatted.get("title") or raw["title"]),
            snippet_html=text.marked_to_html(" ".join(excerpt.split())),
            date=date.fromisoformat(raw["date"]) if raw.get("date") else None,
            region=raw.get("region") or "",
            url=raw["url"],
            tags=list(raw.get("tags") or []),
            issuer=raw.get("issuer") or "",
            status=raw.get("status") or "",
            section=where.get("label") or "",
            chapter=where.get("chapter") or "",
            anchor=where.get("anchor") or "",
        )

    async def suggest(self, q: str, *, limit: int = 8) -> list[Suggestion]:
        needle = text.normalize(q).strip()
        if not needle:
            return []
        await self._ready_or_setup()
        if text.is_pinyin_query(needle):
            needle = needle.replace(" ", "")
        body: dict[str, Any] = {
            "q": needle,
            "limit": limit,
            "attributesToRetrieve": ["kind", "id", "title", "url"],
            "attributesToSearchOn": ["title", "pinyin"],
            "matchingStrategy": "all",
        }
        answer = await self._request("POST", f"/indexes/{self.uid}/search", json=body)
        return [
            Suggestion(kind=h["kind"], id=h["id"], title=h["title"], url=h["url"])
            for h in answer["hits"]
        ]

    async def keys(self) -> set[str]:
        await self._ready_or_setup()
        found: set[str] = set()
        offset = 0
        while True:
            page = await self._request(
                "GET",
                f"/indexes/{self.uid}/documents",
                params={"fields": "key", "limit": 1000, "offset": offset},
            )
            found.update(doc["key"] for doc in page["results"])
            offset += len(page["results"])
            if not page["results"] or offset >= page["total"]:
                return found

    async def stats(self) -> dict[str, Any]:
        await self._ready_or_setup()
        info = await self._request("GET", f"/indexes/{self.uid}/stats")
        return {"documents": int(info["numberOfDocuments"]), "indexing": info["isIndexing"]}

    async def health(self) -> dict[str, Any]:
        try:
            status = await self._request("GET", "/health")
            stats = await self.stats()
        except Exception as exc:
            return {"ok": False, "engine": self.name, "url": self.url, "error": str(exc)[:200]}
        return {
            "ok": status.get("status") == "available",
            "engine": self.name,
            "url": self.url,
            "documents": stats["documents"],
        }


_JSON = {"Content-Type": "application/json"}
_LARGE_BODY = 1 << 20


def _let_go(session: aiohttp.ClientSession) -> None:
    """Drop a session that will not be closed by ``close()``: close its connections if their
    event loop still runs (nothing to do once it is closed) and mark it and its pool closed, so
    that neither warns about being left open when collected. ``_close`` is the synchronous part
    of the pool's ``close()``, a coroutine no one would be there to await."""
    connector = session.connector
    session.detach()
    if connector is not None:
        connector._close()


def _same(current: Any, wanted: Any) -> bool:
    """Meilisearch returns lists in its own order; compare without caring about that where the
    order carries no meaning (searchableAttributes' order does)."""
    if isinstance(current, dict) and isinstance(wanted, dict):
        return all(_same(current.get(k), v) for k, v in wanted.items())
    if isinstance(current, list) and isinstance(wanted, list):
        if current == wanted:
            return True
        try:
            return sorted(map(repr, current)) == sorted(map(repr, wanted))
        except TypeError:
            return False
    return bool(current == wanted)
