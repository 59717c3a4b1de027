"""The embedded engine's file (search/embedded.py): its schema, the upgrade of files of an older
shape, and how documents and their sections are written and forgotten. Searching is in
embedded.py; this is what the index holds and how it gets there."""

from __future__ import annotations

import json
import sqlite3

from search import sections, text
from search.engine import SearchDocument

# Bump when index_tokens() changes: a file built by another version is rebuilt on setup.
TOKENIZER_VERSION = "bigram-1"
# Bump when doc_fts's definition changes: setup drops and rebuilds the full-text table.
# 3: a prefix index of one character (issue 12). 4: sections (articles 第X条) of each document.
SCHEMA_VERSION = "4"
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


# Columns a file made before them lacks, and those that moved to doc_text (see _upgrade_doc).
DOC_COLUMNS_ADDED = ("issuer", "status", "version_rank")
DOC_COLUMNS_MOVED = ("summary", "body")


def fts_values(title: str, keywords: str, summary: str, body: str) -> tuple[str, str, str]:
    return (
        text.index_tokens(title),
        text.index_tokens(keywords),
        text.index_tokens(summary + "\n" + body),
    )


def optimize(connection: sqlite3.Connection) -> None:
    connection.execute("INSERT INTO doc_fts(doc_fts) VALUES ('optimize')")
    connection.execute("INSERT INTO section_fts(section_fts) VALUES ('optimize')")


def insert_sections(connection: sqlite3.Connection, rowid: int, body: str) -> None:
    parts = list(enumerate(sections.split(body), start=rowid * sections.SLOTS))
    connection.executemany(
        "INSERT INTO section (rowid, label, anchor, chapter, text) VALUES (?, ?, ?, ?, ?)",
        [(key, part.label, part.anchor, part.chapter, part.text) for key, part in parts],
    )
    connection.executemany(
        "INSERT INTO section_fts (rowid, text) VALUES (?, ?)",
        [(key, text.index_tokens(part.text)) for key, part in parts],
    )


def delete_sections(connection: sqlite3.Connection, rowid: int) -> None:
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


def upgrade_doc(connection: sqlite3.Connection) -> None:
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


def delete_rows(connection: sqlite3.Connection, keys: list[str]) -> None:
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
            (rowid, *fts_values(title, keywords, summary, body)),
        )
        connection.execute("DELETE FROM doc WHERE rowid = ?", (rowid,))
        connection.execute("DELETE FROM doc_text WHERE rowid = ?", (rowid,))
        delete_sections(connection, rowid)


def insert_rows(connection: sqlite3.Connection, documents: list[SearchDocument]) -> None:
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
            (cursor.lastrowid, *fts_values(doc.title, doc.keywords, doc.summary, doc.body)),
        )
        assert cursor.lastrowid is not None
        connection.execute(
            "INSERT INTO doc_text (rowid, summary, body) VALUES (?, ?, ?)",
            (cursor.lastrowid, doc.summary, doc.body),
        )
        insert_sections(connection, cursor.lastrowid, doc.body)
