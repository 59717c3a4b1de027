"""Relevance on the judged query set (tests/search/judgements.py), over a slice of the real
regulations corpus: every judged document plus every 6th other document as distractors. The
full-corpus figures are in the README (bench/search.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from portal.jsonlines import read_jsonl
from search import text, versions
from search.embedded import EmbeddedEngine
from search.engine import SearchDocument, SearchEngine, SearchQuery
from search.meili import MeiliEngine
from search.routes import run_search
from tests.search.judgements import (
    JUDGEMENTS,
    Judged,
    all_relevant_titles,
    precision_at,
    reciprocal_rank,
)
from tests.search.meili import MeiliServer
from tests.search.support import unique_index


def corpus_documents(path: Path, *, every: int = 1) -> list[SearchDocument]:
    """The corpus as the import would index it, with each version's issuer and status
    (search/versions.py) worked out over the whole file."""
    relevant = all_relevant_titles()
    rows = [row for _, row in read_jsonl(path)]
    facts = {row["id"]: versions.read_version(row["body"]) for row in rows}

    def day(row: dict[str, Any]) -> date | None:
        return date.fromisoformat(row["date"]) if row.get("date") else facts[row["id"]].version_date

    def newest(row: dict[str, Any]) -> date | None:
        known = [d for d in (day(row), facts[row["id"]].version_date) if d is not None]
        return max(known, default=None)

    statuses = versions.statuses(
        [versions.VersionRow(r["id"], r["title"], r.get("region"), newest(r)) for r in rows],
        [
            (r.get("region"), newest(r), versions.repealed_titles(r["title"], r["body"]))
            for r in rows
            if "废止" in r["title"]
        ],
    )
    documents = []
    for number, row in enumerate(rows, start=1):
        if every > 1 and row["title"] not in relevant and number % every:
            continue
        status = statuses.get(row["id"])
        documents.append(
            SearchDocument(
                kind="regulation",
                id=row["id"],
                title=row["title"],
                body=text.plain_text(row["body"]),
                keywords=row.get("category") or "",
                category=row.get("category") or "",
                region=row.get("region") or "全国",
                date=day(row),
                url=f"/regulations/{row['id']}",
                issuer=facts[row["id"]].issuer or "",
                status=status.value if status else "",
                version_rank=versions.VERSION_RANK[status],
            )
        )
    return documents


def judged_query(judged: Judged) -> SearchQuery:
    filters = judged.filters
    return SearchQuery(
        q=judged.q,
        kind="regulation" if filters.get("kind") else None,
        region=filters.get("region"),
        date_from=date.fromisoformat(filters["date_from"]) if "date_from" in filters else None,
        date_to=date.fromisoformat(filters["date_to"]) if "date_to" in filters else None,
        per_page=10,
    )


async def evaluate(engine: SearchEngine) -> tuple[float, float]:
    """MRR@10 and precision@3 of what the API answers (run_search: a query that finds nothing
    is answered with what was probably meant, as for jlf or 电子称)."""
    mrr = p3 = 0.0
    for judged in JUDGEMENTS:
        result = await run_search(engine, judged_query(judged))
        titles = [hit.title for hit in result.items]
        mrr += reciprocal_rank(titles, judged.relevant)
        p3 += precision_at(titles, judged.relevant)
    return mrr / len(JUDGEMENTS), p3 / len(JUDGEMENTS)


@pytest.fixture(scope="module")
def documents(corpus_path: Path) -> list[SearchDocument]:
    return corpus_documents(corpus_path, every=6)


# How far the embedded engine may fall behind tuned Meilisearch in MRR@10 (issue 12).
EMBEDDED_MAY_TRAIL_BY = 0.05


async def test_the_judged_set_is_well_formed(corpus_path: Path) -> None:
    assert len(JUDGEMENTS) >= 60
    assert len({(judged.q, tuple(sorted(judged.filters.items()))) for judged in JUDGEMENTS}) == len(
        JUDGEMENTS
    )
    titles = {row["title"] for _, row in read_jsonl(corpus_path)}
    assert all_relevant_titles() <= titles
    # Each kind of query the issue asks for is in the set.
    assert any(judged.filters.get("region") for judged in JUDGEMENTS)
    assert any(judged.filters.get("kind") for judged in JUDGEMENTS)
    assert any(judged.filters.get("date_from") for judged in JUDGEMENTS)
    assert {"jlf", "jiliangfa", "电子称", "计价称"} <= {judged.q for judged in JUDGEMENTS}
    assert sum(len(judged.q) >= 10 for judged in JUDGEMENTS) >= 5


async def meili_scores(
    documents: list[SearchDocument], server: MeiliServer, *, tuned: bool
) -> tuple[float, float]:
    engine = MeiliEngine(server.url, server.key, unique_index(), tuned=tuned, timeout=60)
    try:
        await engine.setup()
        await engine.index(documents)
        return await evaluate(engine)
    finally:
        await engine._request("DELETE", f"/indexes/{engine.uid}")
        await engine.close()


async def test_embedded_engine_stays_within_reach_of_tuned_meilisearch(
    documents: list[SearchDocument], meili_server: MeiliServer, tmp_path: Path
) -> None:
    """Both engines on the judged set; tuned Meilisearch also against its default settings."""
    embedded = EmbeddedEngine(tmp_path / "relevance.sqlite")
    await embedded.index(documents)
    scores = {"embedded": await evaluate(embedded)}
    await embedded.close()
    for tuned in (True, False):
        label = "tuned" if tuned else "default"
        scores[label] = await meili_scores(documents, meili_server, tuned=tuned)
    (embedded_mrr, embedded_p3), (tuned_mrr, tuned_p3) = scores["embedded"], scores["tuned"]
    default_mrr, default_p3 = scores["default"]
    assert embedded_mrr >= tuned_mrr - EMBEDDED_MAY_TRAIL_BY, scores
    assert embedded_mrr >= 0.85, scores
    assert embedded_p3 >= 0.75, scores
    assert tuned_mrr >= 0.8, scores
    assert tuned_mrr >= default_mrr, scores
    assert tuned_p3 >= default_p3, scores
