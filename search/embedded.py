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
from search.engine import (
    Hit,
    SearchDocument,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
    Suggestion,
)

T = TypeVar("T")

# Bump when index_tokens() changes: a file built by another version is rebuilt on setup.
TOKENIZER_VERSION = "bigram-1"
# Bump when doc_fts's definition changes: setup drops and rebuilds the full-text table.
# 3: a prefix index of one character (issue 12). 4: sections (articles 第X条) of each document.
SCHEMA_VERSION = "4"
# bm25 weights of the title, keywords and body columns.
WEIGHTS = (10.0, 4.0, 1.0)

DOC_SCHEMA = """
CREATE TABLE IF NOT EXISTS doc (
    rowid INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    region TEXT NOT NULL,
    region_codes TEXT NOT NULL,
    year INTEGER,
    date TEXT,
    ts INTEGER NOT NULL,
    tags TEXT NOT NULL,
    category TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    pinyin TEXT NOT NULL,
    initials TEXT NOT NULL,
    keywords TEXT NOT NULL,
    issuer TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT '',
    version_rank INTEGER NOT NULL DEFAULT 0
);
-- The long columns in a table of their own: every match of a query is joined to its ``doc`` row
-- to be ranked, counted and faceted, and a row that held the start of its body cost a page read
-- per match (管理's 3,053 matches: 18 ms joined, 5 ms without, issue 12).
CREATE TABLE IF NOT EXISTS doc_text (
    rowid INTEGER PRIMARY KEY,
    summary TEXT NOT NULL,
    body TEXT NOT NULL
);
-- Newest first, with every column a filter or a facet reads: an empty query pages and counts
-- from this index alone, never reading the rows (each holds the start of a body, issue 12).
CREATE INDEX IF NOT EXISTS doc_newest
    ON doc (ts DESC, key, kind, region, year, date, region_codes, tags);
CREATE INDEX IF NOT EXISTS doc_kind ON doc (kind);
CREATE INDEX IF NOT EXISTS doc_region ON doc (region);
CREATE INDEX IF NOT EXISTS doc_year ON doc (year);
"""
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    + DOC_SCHEMA
    + """
-- prefix='1': a one-character query word (法 of 标准化法, which jieba leaves alone) is the
-- prefix query 法*; without its own index FTS5 merges the doclists of every bigram starting with
-- 法, 120-700 ms on the corpus (issue 12), with it one doclist is read.
CREATE VIRTUAL TABLE IF NOT EXISTS doc_fts USING fts5 (
    title, keywords, body, content='', prefix='1', tokenize='unicode61 remove_diacritics 0'
);
-- A document's sections (search/sections.py): rowid = the document's rowid × SLOTS + n, so one
-- document's sections are one rowid range of section_fts.
CREATE TABLE IF NOT EXISTS section (
    rowid INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    anchor TEXT NOT NULL,
    chapter TEXT NOT NULL,
    text TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS section_fts USING fts5 (
    text, content='', prefix='1', tokenize='unicode61 remove_diacritics 0'
);
"""
)


def ranked_sql(weights: str, where: str) -> str:
    """The full-text query with filters. It must start from the FTS5 index: joined directly,
    SQLite's planner may drive the join from ``doc`` (through an index on a filtered column) and
    probe the full-text index once per row, which took 85 s for 标准化法 with kind=regulation on
    the 3,475 laws of the corpus (issue 12). The matching rowids are therefore materialised
    first and ``CROSS JOIN`` (SQLite's documented way to fix the join order) keeps them the
    outer loop; each filter is then checked on the few matching rows by primary key.
    tests/search/test_query_plan.py asserts the plan of every filter combination."""
    return (
        f"WITH matched(rowid, score) AS MATERIALIZED ("
        f"SELECT rowid, bm25(doc_fts, {weights}) FROM doc_fts WHERE doc_fts MATCH ?)"
        f" SELECT d.rowid, d.kind, d.region, d.year, d.title, d.ts, d.version_rank, matched.score"
        f" FROM matched CROSS JOIN doc d ON d.rowid = matched.rowid WHERE 1 = 1{where}"
    )


def newest_sql(where: str) -> tuple[str, str]:
    """An empty query's page and its facet counts (one pass: a few hundred kind, region and
    year groups), both read from the covering index ``doc_newest`` alone: reading the rows (each
    holds the start of a body) made the empty query 27 ms p95 on the corpus (issue 12).
    tests/search/test_query_plan.py asserts both plans."""
    return (
        f"SELECT d.rowid FROM doc d INDEXED BY doc_newest WHERE 1 = 1{where}"
        " ORDER BY d.ts DESC, d.key LIMIT ? OFFSET ?",
        f"SELECT d.kind, d.region, d.year, count(*) FROM doc d INDEXED BY doc_newest"
        f" WHERE 1 = 1{where} GROUP BY d.kind, d.region, d.year",
    )


# The matches of one search, in the searching connection's own temporary database.
HIT_TABLE = """
CREATE TEMP TABLE IF NOT EXISTS hit (
    rowid INTEGER PRIMARY KEY, kind TEXT, region TEXT, year INTEGER, title TEXT, ts INTEGER,
    version_rank INTEGER, score REAL, tier INTEGER, in_title INTEGER, exact INTEGER
)
"""

# The order of hits, like Meilisearch's rules: documents with more of the query's words first
# (tier), then more of them in the title, then a title that is the query (exactness), then a title
# the query covers more of (among titles that hold query words, the shorter: 产品质量法 before
# 山东省实施《产品质量法》办法), then bm25. See _page for versions of one regulation.
ORDER_SQL = (
    "tier, in_title DESC, exact DESC, CASE WHEN in_title > 0 THEN length(title) ELSE 0 END,"
    " score, ts DESC"
)


# Columns a file made before them lacks, and those that moved to doc_text (see _upgrade_doc).
DOC_COLUMNS_ADDED = ("issuer", "status", "version_rank")
DOC_COLUMNS_MOVED = ("summary", "body")


def _in_title_sql(title_terms: list[list[str]]) -> tuple[str, list[str]]:
    """How many query words (or one of their synonyms) the title holds, as an SQL expression."""
    parts: list[str] = []
    params: list[str] = []
    for alternatives in title_terms:
        parts.append("(" + " OR ".join("instr(lower(title), ?) > 0" for _ in alternatives) + ")")
        params.extend(alternatives)
    return ("(" + " + ".join(parts) + ")" if parts else "0"), params


# Meilisearch's "exactness" rule, on the title: the title is the query (产品质量法, also as
# 中华人民共和国产品质量法), then a title that starts with it, before titles that merely hold its
# words (山东省实施《产品质量法》办法).
EXACT_SQL = (
    "(CASE WHEN lower(title) IN (?, ?) THEN 2 WHEN instr(lower(title), ?) = 1 THEN 1 ELSE 0 END)"
)


def _exact_params(q: str) -> list[str]:
    whole = "".join(text.normalize(q).split())
    return [whole, "中华人民共和国" + whole, whole]


def _fts_values(title: str, keywords: str, summary: str, body: str) -> tuple[str, str, str]:
    return (
        text.index_tokens(title),
        text.index_tokens(keywords),
        text.index_tokens(summary + "\n" + body),
    )


def _optimize(connection: sqlite3.Connection) -> None:
    connection.execute("INSERT INTO doc_fts(doc_fts) VALUES ('optimize')")
    connection.execute("INSERT INTO section_fts(section_fts) VALUES ('optimize')")


def _insert_sections(connection: sqlite3.Connection, rowid: int, body: str) -> None:
    parts = list(enumerate(sections.split(body), start=rowid * sections.SLOTS))
    connection.executemany(
        "INSERT INTO section (rowid, label, anchor, chapter, text) VALUES (?, ?, ?, ?, ?)",
        [(key, part.label, part.anchor, part.chapter, part.text) for key, part in parts],
    )
    connection.executemany(
        "INSERT INTO section_fts (rowid, text) VALUES (?, ?)",
        [(key, text.index_tokens(part.text)) for key, part in parts],
    )


def _delete_sections(connection: sqlite3.Connection, rowid: int) -> None:
    low, high = rowid * sections.SLOTS, (rowid + 1) * sections.SLOTS - 1
    rows = connection.execute(
        "SELECT rowid, text FROM section WHERE rowid BETWEEN ? AND ?", (low, high)
    ).fetchall()
    for key, part in rows:
        # A contentless table forgets a row only when given the exact tokens it indexed.
        connection.execute(
            "INSERT INTO section_fts (section_fts, rowid, text) VALUES ('delete', ?, ?)",
            (key, text.index_tokens(part)),
        )
    connection.execute("DELETE FROM section WHERE rowid BETWEEN ? AND ?", (low, high))


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
            connection.execute("PRAGMA journal_mode=WAL")
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
            self._upgrade_doc(connection)
            connection.executescript(SCHEMA)
            stale_tokens = "tokenizer" in built and built["tokenizer"] != TOKENIZER_VERSION
            if stale_schema or stale_tokens:
                # The documents are all in ``doc``: the index is rebuilt from them, no data lost.
                self._rebuild_fts(connection)
            connection.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [("tokenizer", TOKENIZER_VERSION), ("schema", SCHEMA_VERSION)],
            )

    @staticmethod
    def _upgrade_doc(connection: sqlite3.Connection) -> None:
        """A ``doc`` table of an older shape (before the version columns, or still holding the
        summaries and bodies) is copied into the current one, same rowids, so the full-text
        index stays valid; the long columns go to ``doc_text``."""
        columns = {row[1] for row in connection.execute("PRAGMA table_info(doc)")}
        if not columns or (
            all(name in columns for name in DOC_COLUMNS_ADDED)
            and not any(name in columns for name in DOC_COLUMNS_MOVED)
        ):
            return
        kept = ", ".join(sorted(columns - set(DOC_COLUMNS_MOVED)))
        connection.execute("BEGIN IMMEDIATE")
        if all(name in columns for name in DOC_COLUMNS_MOVED):
            connection.execute(
                "CREATE TABLE IF NOT EXISTS doc_text"
                " (rowid INTEGER PRIMARY KEY, summary TEXT NOT NULL, body TEXT NOT NULL)"
            )
            connection.execute(
                "INSERT OR REPLACE INTO doc_text (rowid, summary, body)"
                " SELECT rowid, summary, body FROM doc"
            )
        connection.execute("ALTER TABLE doc RENAME TO doc_before_versions")
        for index in ("doc_ts", "doc_newest", "doc_kind", "doc_region", "doc_year"):
            connection.execute(f"DROP INDEX IF EXISTS {index}")
        for statement in DOC_SCHEMA.split(";"):
            if statement.strip():
                connection.execute(statement)
        connection.execute(
            f"INSERT INTO doc (rowid, {kept}) SELECT rowid, {kept} FROM doc_before_versions"
        )
        connection.execute("DROP TABLE doc_before_versions")
        connection.execute("COMMIT")

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
                (rowid, *_fts_values(title, keywords, summary, body)),
            )
            _insert_sections(connection, rowid, body)
        connection.execute("COMMIT")
        _optimize(connection)

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

    @staticmethod
    def _delete_rows(connection: sqlite3.Connection, keys: list[str]) -> None:
        for key in keys:
            row = connection.execute(
                "SELECT d.rowid, d.title, d.keywords, t.summary, t.body"
                " FROM doc d JOIN doc_text t ON t.rowid = d.rowid WHERE d.key = ?",
                (key,),
            ).fetchone()
            if row is None:
                continue
            rowid, title, keywords, summary, body = row
            # A contentless table forgets a row only when given the exact tokens it indexed.
            connection.execute(
                "INSERT INTO doc_fts (doc_fts, rowid, title, keywords, body)"
                " VALUES ('delete', ?, ?, ?, ?)",
                (rowid, *_fts_values(title, keywords, summary, body)),
            )
            connection.execute("DELETE FROM doc WHERE rowid = ?", (rowid,))
            connection.execute("DELETE FROM doc_text WHERE rowid = ?", (rowid,))
            _delete_sections(connection, rowid)

    @staticmethod
    def _insert_rows(connection: sqlite3.Connection, documents: list[SearchDocument]) -> None:
        for doc in documents:
            pinyin, initials = text.pinyin_keys(doc.title)
            cursor = connection.execute(
                "INSERT INTO doc (key, kind, doc_id, title, keywords, url, tags,"
                " category, region, region_codes, year, date, ts, pinyin, initials,"
                " issuer, status, version_rank)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    doc.key,
                    doc.kind,
                    doc.id,
                    doc.title,
                    doc.keywords,
                    doc.url,
                    json.dumps(list(doc.tags), ensure_ascii=False),
                    doc.category,
                    doc.region,
                    " " + " ".join(doc.region_codes) + " ",
                    doc.year,
                    doc.date.isoformat() if doc.date else None,
                    doc.ts,
                    pinyin,
                    initials,
                    doc.issuer,
                    doc.status,
                    doc.version_rank,
                ),
            )
            connection.execute(
                "INSERT INTO doc_fts (rowid, title, keywords, body) VALUES (?, ?, ?, ?)",
                (cursor.lastrowid, *_fts_values(doc.title, doc.keywords, doc.summary, doc.body)),
            )
            assert cursor.lastrowid is not None
            connection.execute(
                "INSERT INTO doc_text (rowid, summary, body) VALUES (?, ?, ?)",
                (cursor.lastrowid, doc.summary, doc.body),
            )
            _insert_sections(connection, cursor.lastrowid, doc.body)

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
            self._delete_rows(connection, [doc.key for doc in documents])
            self._insert_rows(connection, documents)

        await self._run(self._write(work))

    async def delete(self, keys: list[str]) -> None:
        if keys:
            await self._run(self._write(lambda c: self._delete_rows(c, keys)))

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
                self._insert_rows(connection, batch)

        await self._run(self._write(work))
        await self._run(_optimize)
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
            connection.execute(
                "INSERT OR IGNORE INTO temp.hit"
                " (rowid, kind, region, year, title, ts, version_rank, score) "
                + ranked_sql(weights, where),
                [" AND ".join(expressions[:keep]), *params],
            )
            # Meilisearch's "attribute" rule: within a tier, more query words in the title first.
            in_title, title_params = _in_title_sql(title_terms[:keep])
            tier = len(expressions) - keep
            connection.execute(
                f"UPDATE temp.hit SET tier = ?, in_title = {in_title}, exact = 0"
                " WHERE tier IS NULL",
                [tier, *title_params],
            )
            # Only a title holding a query word can be the query: a very common word matches
            # 3,000 bodies but a few dozen titles.
            connection.execute(
                f"UPDATE temp.hit SET exact = {EXACT_SQL} WHERE tier = ? AND in_title > 0",
                [*_exact_params(query.q), tier],
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


def _contains(value: str, terms: list[str]) -> bool:
    lowered = value.lower()
    return any(term in lowered for term in terms)
