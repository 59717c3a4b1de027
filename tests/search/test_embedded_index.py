"""The embedded index file: a file of an older format is rebuilt on set-up, one-character query
words use the prefix index, and the app warms search up before it serves (issue 12)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from pathlib import Path

from fastapi import FastAPI

from search import embedded_store, text
from search.embedded import EmbeddedEngine
from search.engine import SearchDocument, SearchQuery, engine_for
from tests.search.test_contract import DOCS

OLD_FTS = (
    "CREATE VIRTUAL TABLE doc_fts USING fts5 (title, keywords, body, content='',"
    " tokenize='unicode61 remove_diacritics 0')"
)


def fts_definition(path: Path) -> str:
    with sqlite3.connect(path) as connection:
        row = connection.execute("SELECT sql FROM sqlite_master WHERE name = 'doc_fts'").fetchone()
    return str(row[0])


async def test_a_file_of_the_previous_schema_is_rebuilt_with_the_prefix_index(
    tmp_path: Path,
) -> None:
    path = tmp_path / "index.sqlite"
    engine = EmbeddedEngine(path)
    await engine.setup()
    await engine.index(DOCS)
    await engine.close()
    # Turn the file into what schema 2 built: the full-text table without a prefix index.
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE doc_fts")
        connection.execute(OLD_FTS)
        connection.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")
        rows = connection.execute(
            "SELECT d.rowid, d.title, d.keywords, t.summary, t.body"
            " FROM doc d JOIN doc_text t ON t.rowid = d.rowid"
        )
        for rowid, title, keywords, summary, body in rows.fetchall():
            connection.execute(
                "INSERT INTO doc_fts (rowid, title, keywords, body) VALUES (?, ?, ?, ?)",
                (rowid, *embedded_store.fts_values(title, keywords, summary, body)),
            )
    assert "prefix" not in fts_definition(path)

    reopened = EmbeddedEngine(path)
    await reopened.setup()
    assert "prefix='1'" in fts_definition(path)
    result = await reopened.search(SearchQuery(q="计量法"))
    assert [hit.id for hit in result.hits][0] == "r1"
    assert (await reopened.stats())["documents"] == len(DOCS)
    await reopened.close()


async def test_a_single_character_word_finds_every_position(tmp_path: Path) -> None:
    engine = EmbeddedEngine(tmp_path / "index.sqlite")
    await engine.index(
        [
            SearchDocument(kind="regulation", id="1", title="标准化法", body="甲", url="/r/1"),
            SearchDocument(kind="regulation", id="2", title="法律援助条例", body="乙", url="/r/2"),
            SearchDocument(kind="regulation", id="3", title="计量条例", body="丙", url="/r/3"),
        ]
    )
    # 法 as the last character of a run (its own token) and as the start of a bigram.
    found = await engine.search(SearchQuery(q="法", kind="regulation"))
    assert sorted(hit.id for hit in found.hits) == ["1", "2"]
    assert found.facets["kind"] == {"regulation": 2}
    assert [hit.id for hit in (await engine.search(SearchQuery(q="标准化法"))).hits][0] == "1"
    await engine.close()


async def test_the_app_warms_jieba_and_its_engine_before_serving(app: FastAPI) -> None:
    # The lifespan started the warm-up; once it is done nothing is left for a request to load.
    await app.state.search_warm_up
    assert text._jieba_ready
    # The engine for the app's own settings (other tests may add engines for changed settings,
    # made on first use after start-up, which no warm-up could have seen).
    engine = engine_for(app.state, app.state.settings)
    assert getattr(engine, "_ready", True)


async def test_a_file_made_before_the_version_columns_keeps_its_documents(
    tmp_path: Path,
) -> None:
    path = tmp_path / "index.sqlite"
    engine = EmbeddedEngine(path)
    await engine.index(DOCS)
    await engine.close()
    # Turn ``doc`` into what was built before issuer, status and version_rank existed.
    with sqlite3.connect(path) as connection:
        for column in ("issuer", "status", "version_rank"):
            connection.execute(f"ALTER TABLE doc DROP COLUMN {column}")
    reopened = EmbeddedEngine(path)
    await reopened.setup()
    with sqlite3.connect(path) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(doc)")]
    # The new columns are there, and the long ones moved to a table of their own, so ranking
    # reads narrow rows.
    assert "version_rank" in columns
    assert "body" not in columns
    assert "summary" not in columns
    assert (await reopened.stats())["documents"] == len(DOCS)
    found = await reopened.search(SearchQuery(q="计量法", kind="regulation"))
    assert [hit.id for hit in found.hits][0] == "r1"
    assert found.hits[0].status == ""
    await reopened.close()


async def test_a_file_whose_doc_rows_hold_the_bodies_moves_them_apart(tmp_path: Path) -> None:
    """Files made before doc_text (issue 12) keep their documents, rowids and index."""
    path = tmp_path / "index.sqlite"
    engine = EmbeddedEngine(path)
    await engine.index(DOCS)
    await engine.close()
    with sqlite3.connect(path) as connection:
        connection.execute("ALTER TABLE doc ADD COLUMN summary TEXT NOT NULL DEFAULT ''")
        connection.execute("ALTER TABLE doc ADD COLUMN body TEXT NOT NULL DEFAULT ''")
        connection.execute(
            "UPDATE doc SET (summary, body) ="
            " (SELECT summary, body FROM doc_text t WHERE t.rowid = doc.rowid)"
        )
        connection.execute("DROP TABLE doc_text")
    reopened = EmbeddedEngine(path)
    await reopened.setup()
    with sqlite3.connect(path) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(doc)")]
        moved = connection.execute("SELECT count(*) FROM doc_text").fetchone()[0]
    assert "body" not in columns
    assert moved == len(DOCS)
    found = await reopened.search(SearchQuery(q="计量法", kind="regulation"))
    assert [hit.id for hit in found.hits][0] == "r1"
    await reopened.delete(["regulation-r1"])  # deleting needs the moved text's exact tokens
    assert "r1" not in [h.id for h in (await reopened.search(SearchQuery(q="计量法"))).hits]
    await reopened.close()


def test_processes_opening_a_new_index_together_all_get_it(tmp_path: Path) -> None:
    """The web process and the worker (or two nodes) start at once on a new index: switching a
    new file to WAL needs it to itself, and SQLite answered the loser "database is locked" at
    once, without waiting (seen in 4 rounds of 40 with six at once: an app failing to start)."""
    for round_number in range(40):
        path = tmp_path / f"index-{round_number}.sqlite"
        barrier = threading.Barrier(6)
        failures: list[str] = []

        def open_index(
            path: Path = path, barrier: threading.Barrier = barrier, failures: list[str] = failures
        ) -> None:
            engine = EmbeddedEngine(path)
            barrier.wait()
            try:
                engine._setup_sync()
            except sqlite3.OperationalError as exc:
                failures.append(str(exc))
            finally:
                asyncio.run(engine.close())  # this thread's connection

        threads = [threading.Thread(target=open_index) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        with contextlib.closing(sqlite3.connect(path)) as connection:
            assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
