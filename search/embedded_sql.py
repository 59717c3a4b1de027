"""The SQL the embedded engine (search/embedded.py) searches with: ranking, the newest-first page of
an empty query, and the expressions of its ranking rules. Kept apart so the plan tests
(tests/search) read the very statements the engine runs."""

from __future__ import annotations

from search import text

# bm25 weights of the title, keywords and body columns.
WEIGHTS = (10.0, 4.0, 1.0)


def ranked_sql(weights: str, where: str, also: str = "") -> str:
    """The full-text query with filters. It must start from the FTS5 index: joined directly,
    SQLite's planner may drive the join from ``doc`` (through an index on a filtered column) and
    probe the full-text index once per row, which took 85 s for 标准化法 with kind=regulation on
    the 3,475 laws of the corpus (issue 12). The matching rowids are therefore materialised
    first and ``CROSS JOIN`` (SQLite's documented way to fix the join order) keeps them the
    outer loop; each filter is then checked on the few matching rows by primary key.
    tests/search/test_query_plan.py asserts the plan of every filter combination. ``also``
    adds columns computed on the same pass (the tier and the title's query words)."""
    return (
        f"WITH matched(rowid, score) AS MATERIALIZED ("
        f"SELECT rowid, bm25(doc_fts, {weights}) FROM doc_fts WHERE doc_fts MATCH ?)"
        f" SELECT d.rowid, d.kind, d.region, d.year, d.title, d.ts, d.version_rank, matched.score"
        f"{', ' + also if also else ''}"
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


def in_title_sql(title_terms: list[list[str]]) -> tuple[str, list[str]]:
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


def exact_params(q: str) -> list[str]:
    whole = "".join(text.normalize(q).split())
    return [whole, "中华人民共和国" + whole, whole]
