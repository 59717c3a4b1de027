"""Every filtered full-text query of the embedded engine starts from the FTS5 index (issue 12).

Joined directly, SQLite planned ``doc_fts MATCH … JOIN doc … WHERE kind = ?`` as a scan of ``doc``
with a full-text probe per row: 85 s for 标准化法 on the corpus. The plan is asserted for every
filter combination, so a change of query or schema cannot silently bring the scan back.
"""

from __future__ import annotations

import itertools
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from search.embedded import EmbeddedEngine
from search.embedded_sql import WEIGHTS, newest_sql, ranked_sql
from search.engine import SearchDocument, SearchQuery

FILTERS = {
    "kind": {"kind": "regulation"},
    "region name": {"region": "浙江"},
    "region code": {"region": "610400"},
    "date range": {"date_from": date(2015, 1, 1), "date_to": date(2020, 12, 31)},
    "tag": {"tag": "电子秤"},
    "page": {"page": 3},
}


def combinations() -> list[tuple[str, ...]]:
    names = list(FILTERS)
    return [c for n in range(1, len(names) + 1) for c in itertools.combinations(names, n)]


def plan(connection: sqlite3.Connection, query: SearchQuery) -> list[str]:
    where, params = EmbeddedEngine._filters(query)
    weights = ", ".join(str(w) for w in WEIGHTS)
    rows = connection.execute(
        "EXPLAIN QUERY PLAN " + ranked_sql(weights, where), ['"计量"', *params]
    ).fetchall()
    return [row[3] for row in rows]


@pytest.fixture(scope="module")
async def connection(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    path: Path = tmp_path_factory.mktemp("plan") / "index.sqlite"
    engine = EmbeddedEngine(path)
    # Enough rows of each kind that the planner has statistics-free but realistic choices.
    await engine.index(
        [
            SearchDocument(
                kind="regulation" if i % 3 else "article",
                id=str(i),
                title=f"计量法规{i}",
                body="计量监督管理",
                url=f"/x/{i}",
                tags=("电子秤",) if i % 2 else (),
                region="浙江" if i % 4 else "全国",
                region_codes=("330000",) if i % 4 else (),
                date=date(2010 + i % 15, 1, 1),
            )
            for i in range(200)
        ]
    )
    await engine.close()
    connection = sqlite3.connect(path)
    connection.execute("ANALYZE")  # the worst case: statistics that make an index look cheap
    return connection


@pytest.mark.parametrize("names", combinations(), ids=lambda names: "+".join(names))
def test_filtered_query_starts_from_the_fts_index(
    connection: sqlite3.Connection, names: tuple[str, ...]
) -> None:
    values: dict[str, object] = {}
    for name in names:
        values.update(FILTERS[name])
    steps = plan(connection, SearchQuery(q="计量", **values))  # type: ignore[arg-type]
    # The materialised matches come from the FTS5 virtual table's MATCH index ...
    assert any("SCAN doc_fts VIRTUAL TABLE INDEX" in step for step in steps), steps
    # ... and drive the join: the outer loop scans them, doc is looked up by its primary key.
    scans = [s for s in steps if s.startswith(("SCAN", "SEARCH"))]
    outer = [s for s in scans if "doc_fts" not in s]
    assert outer[0].startswith("SCAN matched"), steps
    assert any(s.startswith("SEARCH d USING INTEGER PRIMARY KEY") for s in outer[1:]), steps
    assert not any(s == "SCAN d" or s.startswith("SCAN d ") for s in steps), steps


@pytest.mark.parametrize("names", combinations(), ids=lambda names: "+".join(names))
def test_an_empty_query_reads_only_the_covering_index(
    connection: sqlite3.Connection, names: tuple[str, ...]
) -> None:
    """The newest documents and their facet counts come from ``doc_newest`` alone."""
    values: dict[str, object] = {}
    for name in names:
        values.update(FILTERS[name])
    where, params = EmbeddedEngine._filters(SearchQuery(**values))  # type: ignore[arg-type]
    page_sql, facets_sql = newest_sql(where)
    for sql, bound in ((page_sql, [*params, 10, 0]), (facets_sql, params)):
        steps = [row[3] for row in connection.execute("EXPLAIN QUERY PLAN " + sql, bound)]
        assert any("USING COVERING INDEX doc_newest" in step for step in steps), steps
