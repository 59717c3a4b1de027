"""The embedded engine: SQLite FTS5 in its own file, no server.

It lives in a separate SQLite file (also when the main database is PostgreSQL) so that the index
can be rebuilt or deleted without touching the data, and so that one engine serves both database
backends. Tables:

- ``doc``: one row per published document (the fields filters, facets and snippets need);
- ``doc_fts``: a contentless FTS5 table over CJK bigram tokens (search/text.py) in three columns,
  title, keywords and body, ranked by bm25 with the title weighted highest.

Query semantics follow Meilisearch's default ``matchingStrategy: last``: documents containing every
query word come first, then those missing the last word, and so on; within a tier, documents whose
title holds more query words come first (Meilisearch's ``attribute`` rule), then a title that is
the query, then a title the query covers more of (``exactness``), then bm25 (``PAGE_SQL``).
SQLite calls run in worker threads (one connection per thread, WAL), so searches do not block the
event loop and read concurrently with a writer.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from search import sections, text
from search.embedded_sql import (
    EXACT_SQL,
    HIT_TABLE,
    ORDER_SQL,
    WEIGHTS,
    exact_params,
    in_title_sql,
    newest_sql,
    ranked_sql,
)
from search.embedded_store import (
    SCHEMA,
    SCHEMA_VERSION,
    TOKENIZER_VERSION,
    delete_rows,
    fts_values,
    insert_rows,
    insert_sections,
    optimize,
    upgrade_doc,
)
from search.engine import (
    Hit,
    SearchDocument,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
    Suggestion,
)

T = TypeVar("T")


class EmbeddedEngine:
    name = "embedded"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._ready = False

    # -- plumbing ---------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            _use_wal(connection)
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute("PRAGMA busy_timeout=30000")
            self._local.connection = connection
        return connection

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if not self._ready:
            await self.setup()

        def call() -> T:
            try:
                return fn(self._connection())
            except sqlite3.OperationalError as exc:
                raise SearchUnavailable(f"Embedded search index: {exc}") from exc

        return await asyncio.to_thread(call)

    def _setup_sync(self) -> None:
        connection = self._connection()
        with self._write_lock:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            )
            built = dict(connection.execute("SELECT key, value FROM meta").fetchall())
            has_fts = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'doc_fts'"
            ).fetchone()
            stale_schema = has_fts is not None and built.get("schema") != SCHEMA_VERSION
            if stale_schema:
                # The full-text tables' definitions changed: only new tables can have them.
                for table in ("doc_fts", "section_fts", "section"):
                    connection.execute(f"DROP TABLE IF EXISTS {table}")
                connection.execute("DROP INDEX IF EXISTS doc_ts")
            upgrade_doc(connection)
            connection.executescript(SCHEMA)
            stale_tokens = "tokenizer" in built and built["tokenizer"] != TOKENIZER_VERSION
            if stale_schema or stale_tokens:
                # The documents are all in ``doc``: the index is rebuilt from them, no data lost.
                self._rebuild_fts(connection)
            connection.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [("tokenizer", TOKENIZER_VERSION), ("schema", SCHEMA_VERSION)],
            )

    def _rebuild_fts(self, connection: sqlite3.Connection) -> None:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("INSERT INTO doc_fts(doc_fts) VALUES ('delete-all')")
        connection.execute("INSERT INTO section_fts(section_fts) VALUES ('delete-all')")
        connection.execute("DELETE FROM section")
        rows = connection.execute(
            "SELECT d.rowid, d.title, d.keywords, t.summary, t.body"
            " FROM doc d JOIN doc_text t ON t.rowid = d.rowid"
        )
        for rowid, title, keywords, summary, body in rows.fetchall():
            connection.execute(
                "INSERT INTO doc_fts (rowid, title, keywords, body) VALUES (?, ?, ?, ?)",
                (rowid, *fts_values(title, keywords, summary, body)),
            )
            insert_sections(connection, rowid, body)
        connection.execute("COMMIT")
        optimize(connection)

    async def setup(self) -> None:
        if self._ready:
            return
        await asyncio.to_thread(self._setup_sync)
        await asyncio.to_thread(text.warm_up)
        self._ready = True

    async def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
        self._ready = False

    # -- writing ----------------------------------------------------------------------------

    def _write(self, work: Callable[[sqlite3.Connection], None]) -> Callable[..., None]:
        def run(connection: sqlite3.Connection) -> None:
            with self._write_lock:
                connection.execute("BEGIN IMMEDIATE")
                try:
                    work(connection)
                except BaseException:
                    connection.execute("ROLLBACK")
                    raise
                connection.execute("COMMIT")

        return run

    async def index(self, documents: list[SearchDocument]) -> None:
        if not documents:
            return

        def work(connection: sqlite3.Connection) -> None:
            delete_rows(connection, [doc.key for doc in documents])
            insert_rows(connection, documents)

        await self._run(self._write(work))

    async def delete(self, keys: list[str]) -> None:
        if keys:
            await self._run(self._write(lambda c: delete_rows(c, keys)))

    async def replace_all(self, batches: AsyncIterator[list[SearchDocument]]) -> int:
        """One write transaction: readers (WAL) see the old index until it commits."""
        collected: list[list[SearchDocument]] = [batch async for batch in batches]

        def work(connection: sqlite3.Connection) -> None:
            connection.execute("DELETE FROM doc")
            connection.execute("DELETE FROM doc_text")
            connection.execute("INSERT INTO doc_fts(doc_fts) VALUES ('delete-all')")
            connection.execute("INSERT INTO section_fts(section_fts) VALUES ('delete-all')")
            connection.execute("DELETE FROM section")
            for batch in collected:
                insert_rows(connection, batch)

        await self._run(self._write(work))
        await self._run(optimize)
        return sum(len(batch) for batch in collected)

    # -- reading ----------------------------------------------------------------------------

    @staticmethod
    def _filters(query: SearchQuery) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if query.kind:
            clauses.append("d.kind = ?")
            params.append(query.kind)
        if query.region:
            if query.region.isdigit():
                clauses.append("instr(d.region_codes, ?) > 0")
                params.append(f" {query.region} ")
            else:
                clauses.append("d.region = ?")
                params.append(query.region)
        if query.date_from:
            clauses.append("d.date >= ?")
            params.append(query.date_from.isoformat())
        if query.date_to:
            clauses.append("d.date <= ?")
            params.append(query.date_to.isoformat())
        if query.tag:
            clauses.append("EXISTS (SELECT 1 FROM json_each(d.tags) WHERE value = ?)")
            params.append(query.tag)
        return (" AND " + " AND ".join(clauses)) if clauses else "", params

    def _search_sync(self, connection: sqlite3.Connection, query: SearchQuery) -> SearchResult:
        started = time.perf_counter()
        where, params = self._filters(query)
        words = list(text.query_words(query.q))
        expressions = [e for e in (text.fts_word(w) for w in words) if e]
        if not expressions:
            return self._newest_sync(connection, query, where, params, started)
        weights = ", ".join(str(w) for w in WEIGHTS)
        title_terms = [[w, *text.synonyms_of(w)] for w in words]
        # Matches are collected, ranked and counted inside SQLite (a per-connection temporary
        # table): ranking a very common word's 3,000 matches row by row in Python took 300 ms.
        connection.execute(HIT_TABLE)
        connection.execute("DELETE FROM temp.hit")
        found = 0
        admitted: int | None = None  # how many documents the filters let through at all
        for keep in range(len(expressions), 0, -1):
            # Like Meilisearch's matchingStrategy "last": drop words from the end only while
            # the documents found so far do not fill the requested page.
            if found >= query.offset + query.per_page:
                break
            if keep < len(expressions) and where:
                # Nor once every document the filters admit is found: a whole title under a
                # filter few documents pass ran every shorter tier down to 中华人民共和国
                # alone, 2,000 matches ranked for nothing (issue 12).
                if admitted is None:
                    admitted = connection.execute(
                        f"SELECT count(*) FROM doc d INDEXED BY doc_newest WHERE 1 = 1{where}",
                        params,
                    ).fetchone()[0]
                if found >= admitted:
                    break
            # Meilisearch's "attribute" rule: within a tier, more query words in the title first.
            # Worked out as the matches are inserted: an UPDATE pass after the insert rewrote
            # every row again (管理, 30,530 matches on the tenfold corpus: insert and update
            # 69–86 ms, the insert alone 54–56 ms; 3,053 on the corpus: 5.3–5.9 and 4.7–4.8 ms).
            in_title, title_params = in_title_sql(title_terms[:keep])
            tier = len(expressions) - keep
            connection.execute(
                "INSERT OR IGNORE INTO temp.hit"
                " (rowid, kind, region, year, title, ts, version_rank, score, tier, in_title, exact) "
                + ranked_sql(weights, where, also=f"?, {in_title}, 0"),
                [" AND ".join(expressions[:keep]), tier, *title_params, *params],
            )
            # Only a title holding a query word can be the query: a very common word matches
            # 3,000 bodies but a few dozen titles.
            connection.execute(
                f"UPDATE temp.hit SET exact = {EXACT_SQL} WHERE tier = ? AND in_title > 0",
                [*exact_params(query.q), tier],
            )
            found = connection.execute("SELECT count(*) FROM temp.hit").fetchone()[0]
        page = self._page(connection, query)
        facets: dict[str, dict[str, int]] = {}
        for name in ("kind", "region", "year"):
            rows = connection.execute(
                f"SELECT {name}, count(*) FROM temp.hit WHERE {name} IS NOT NULL"
                f" GROUP BY {name} ORDER BY count(*) DESC, {name}"
            ).fetchall()
            facets[name] = {str(value): count for value, count in rows}
        return SearchResult(
            hits=self._hits(connection, page, query.q),
            total=found,
            facets=facets,
            engine_ms=(time.perf_counter() - started) * 1000,
        )

    @staticmethod
    def _page(connection: sqlite3.Connection, query: SearchQuery) -> list[int]:
        """The rowids of the requested page. Versions of one regulation (same title, in the same
        tier and title-word count) stay together at the best one's place, the version in force
        first (issue 12). Only the groups of the first offset + per_page hits can reach the
        page, so only their members are fetched: a window over every hit of a very common word
        (3,000 rows) cost 6 ms."""
        wanted = query.offset + query.per_page
        leaders = connection.execute(
            f"SELECT tier, in_title, title FROM temp.hit ORDER BY {ORDER_SQL} LIMIT ?", (wanted,)
        ).fetchall()
        groups: dict[tuple[int, int, str], list[int]] = {
            (tier, in_title, title): [] for tier, in_title, title in leaders
        }
        titles = list({title for _, _, title in groups})
        marks = ",".join("?" * len(titles))
        members = connection.execute(
            f"SELECT tier, in_title, title, rowid FROM temp.hit WHERE title IN ({marks})"
            " ORDER BY version_rank, score, ts DESC",
            titles,
        )
        for tier, in_title, title, rowid in members:
            group = groups.get((tier, in_title, title))
            if group is not None:
                group.append(rowid)
        ordered = [rowid for group in groups.values() for rowid in group]
        return ordered[query.offset : wanted]

    def _newest_sync(
        self,
        connection: sqlite3.Connection,
        query: SearchQuery,
        where: str,
        params: list[Any],
        started: float,
    ) -> SearchResult:
        """No query words: the newest documents, with facet counts (``newest_sql``)."""
        page_sql, facets_sql = newest_sql(where)
        page = [
            row[0] for row in connection.execute(page_sql, [*params, query.per_page, query.offset])
        ]
        counts: dict[str, dict[str, int]] = {"kind": {}, "region": {}, "year": {}}
        total = 0
        for kind, region, year, count in connection.execute(facets_sql, params):
            total += count
            for name, value in (("kind", kind), ("region", region), ("year", year)):
                if value is not None:
                    counts[name][str(value)] = counts[name].get(str(value), 0) + count
        facets = {
            name: dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))
            for name, values in counts.items()
        }
        return SearchResult(
            hits=self._hits(connection, page, ""),
            total=total,
            facets=facets,
            engine_ms=(time.perf_counter() - started) * 1000,
        )

    @staticmethod
    def _best_sections(
        connection: sqlite3.Connection, page: list[int], q: str
    ) -> dict[int, tuple[str, str, str, str]]:
        """For each document of the page, its section holding the most of the query's words (the
        earliest of those), as (label, anchor, chapter, text); the first section when none holds
        any. Only these short texts are read and highlighted, never a whole law's body.

        One query per word and document, for the word alone within the document's rowid range
        (a few microseconds each): neither bm25 (its statistics walk every section of a common
        word once per statement: 45 ms for a sentence-long query) nor an AND of many words
        (FTS5 then reads the words' whole lists when the document has no such section)."""
        words = text.query_words(q) if q else ()
        expressions = [e for e in (text.fts_word(w) for w in words) if e]
        ranges = " UNION ALL ".join(
            "SELECT rowid FROM section_fts WHERE section_fts MATCH ?1 AND rowid BETWEEN ? AND ?"
            for _ in page
        )
        bounds = [
            b for rowid in page for b in (rowid * sections.SLOTS, (rowid + 1) * sections.SLOTS - 1)
        ]
        held: dict[int, int] = {}
        for expression in expressions:
            for (key,) in connection.execute(ranges, [expression, *bounds]):
                held[key] = held.get(key, 0) + 1
        best = {rowid: rowid * sections.SLOTS for rowid in page}
        most = dict.fromkeys(page, (0, False))
        for key in sorted(held):
            rowid = key // sections.SLOTS
            # Most words first; on a tie an article before the text ahead of the first one,
            # which repeats the title (and the whole title would always win it).
            score = (held[key], key % sections.SLOTS > 0)
            if score > most.get(rowid, (0, False)):
                best[rowid], most[rowid] = key, score
        if not best:
            return {}
        marks = ",".join("?" * len(best))
        rows = connection.execute(
            f"SELECT rowid, label, anchor, chapter, text FROM section WHERE rowid IN ({marks})",
            list(best.values()),
        ).fetchall()
        by_key = {key: (label, anchor, chapter, part) for key, label, anchor, chapter, part in rows}
        return {rowid: by_key[key] for rowid, key in best.items() if key in by_key}

    @classmethod
    def _hits(cls, connection: sqlite3.Connection, page: list[int], q: str) -> list[Hit]:
        if not page:
            return []
        marks = ",".join("?" * len(page))
        # Not the body: reading ten laws' bodies (up to 100,000 characters each) from their
        # overflow pages was most of a page's cost; the snippet comes from a section.
        rows = connection.execute(
            f"SELECT d.rowid, d.kind, d.doc_id, d.title, t.summary, d.url, d.tags, d.date,"
            f" d.region, d.issuer, d.status FROM doc d JOIN doc_text t ON t.rowid = d.rowid"
            f" WHERE d.rowid IN ({marks})",
            page,
        ).fetchall()
        by_rowid = {row[0]: row for row in rows}
        best = cls._best_sections(connection, page, q)
        terms = text.highlight_terms(q) if q else []
        hits: list[Hit] = []
        for rowid in page:
            _, kind, doc_id, title, summary, url, tags, day, region, issuer, status = by_rowid[
                rowid
            ]
            label, anchor, chapter, part = best.get(rowid, ("", "", "", ""))
            # The matching section when the summary does not hold the query's words.
            named = bool(terms) and _contains(part, terms) and not _contains(summary, terms)
            excerpt = part if named or not summary else summary
            hits.append(
                Hit(
                    kind=kind,
                    id=doc_id,
                    title=title,
                    title_html=text.mark(title, terms),
                    snippet_html=text.snippet(excerpt, terms),
                    date=date.fromisoformat(day) if day else None,
                    region=region,
                    url=url,
                    tags=json.loads(tags),
                    issuer=issuer,
                    status=status,
                    section=label if named else "",
                    chapter=chapter if named else "",
                    anchor=anchor if named else "",
                )
            )
        return hits

    async def search(self, query: SearchQuery) -> SearchResult:
        return await self._run(lambda c: self._search_sync(c, query))

    def _suggest_sync(self, connection: sqlite3.Connection, q: str, limit: int) -> list[Suggestion]:
        needle = text.normalize(q).strip()
        if not needle:
            return []
        if text.is_pinyin_query(needle):
            needle = needle.replace(" ", "")
            rows = connection.execute(
                "SELECT kind, doc_id, title, url FROM doc"
                " WHERE instr(pinyin, ?) > 0 OR instr(initials, ?) > 0"
                " ORDER BY (instr(pinyin, ?) = 1 OR instr(initials, ?) = 1) DESC,"
                " length(title), ts DESC LIMIT ?",
                (needle, needle, needle, needle, limit),
            ).fetchall()
        else:
            rows = connection.execute(
                "SELECT kind, doc_id, title, url FROM doc WHERE instr(lower(title), ?) > 0"
                " ORDER BY instr(lower(title), ?) = 1 DESC, length(title), ts DESC LIMIT ?",
                (needle, needle, limit),
            ).fetchall()
        return [Suggestion(kind=k, id=i, title=t, url=u) for k, i, t, u in rows]

    async def suggest(self, q: str, *, limit: int = 8) -> list[Suggestion]:
        return await self._run(lambda c: self._suggest_sync(c, q, limit))

    async def keys(self) -> set[str]:
        rows = await self._run(lambda c: c.execute("SELECT key FROM doc").fetchall())
        return {row[0] for row in rows}

    async def stats(self) -> dict[str, Any]:
        count = await self._run(lambda c: c.execute("SELECT count(*) FROM doc").fetchone()[0])
        size = self.path.stat().st_size if self.path.exists() else 0
        return {"documents": int(count), "bytes": size, "path": str(self.path)}

    async def health(self) -> dict[str, Any]:
        try:
            stats = await self.stats()
        except Exception as exc:
            return {"ok": False, "engine": self.name, "error": str(exc)[:200]}
        return {"ok": True, "engine": self.name, "documents": stats["documents"]}


def _use_wal(connection: sqlite3.Connection, *, seconds: float = 30.0) -> None:
    """WAL mode, which the file keeps once set. Switching needs the file to itself, and SQLite
    answers "database is locked" at once, without its busy wait, while another connection (the
    web process and the worker starting together, or the app's own setup) is creating the
    index: so the mode is only set when the file is not in it yet, and retried meanwhile."""
    deadline = time.monotonic() + seconds
    while connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            connection.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _contains(value: str, terms: list[str]) -> bool:
    lowered = value.lower()
    return any(term in lowered for term in terms)
