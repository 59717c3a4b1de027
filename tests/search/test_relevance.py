"""Relevance on the judged query set (tests/search/judgements.py), over a slice of the real
regulations corpus: every judged document plus every 6th other document as distractors. The
full-corpus figures are in the README (bench/search.py)."""

from __future__ import annotations

import html
import re
from datetime import date
from pathlib import Path

import pytest

from search import service, text
from search.embedded import EmbeddedEngine
from search.engine import SearchDocument, SearchEngine, SearchQuery
from search.meili import MeiliEngine
from tests.search.judgements import JUDGEMENTS, all_relevant_titles, precision_at, reciprocal_rank
from tests.search.meili import MeiliServer
from tests.search.support import unique_index

TAG = re.compile(r"</?mark>")


def corpus_documents(path: Path, *, every: int = 1) -> list[SearchDocument]:
    relevant = all_relevant_titles()
    documents = []
    for number, row in service.read_jsonl(path):
        if every > 1 and row["title"] not in relevant and number % every:
            continue
        documents.append(
            SearchDocument(
                kind="regulation",
                id=row["id"],
                title=row["title"],
                body=text.plain_text(row["body"]),
                keywords=row.get("category") or "",
                category=row.get("category") or "",
                region=row.get("region") or "全国",
                date=date.fromisoformat(row["date"]) if row.get("date") else None,
                url=f"/regulations/{row['id']}",
            )
        )
    return documents


async def evaluate(engine: SearchEngine) -> tuple[float, float]:
    mrr = p3 = 0.0
    for query, relevant in JUDGEMENTS:
        result = await engine.search(SearchQuery(q=query, per_page=10))
        titles = [html.unescape(TAG.sub("", hit.title_html)) for hit in result.hits]
        mrr += reciprocal_rank(titles, relevant)
        p3 += precision_at(titles, relevant)
    return mrr / len(JUDGEMENTS), p3 / len(JUDGEMENTS)


@pytest.fixture(scope="module")
def documents(corpus_path: Path) -> list[SearchDocument]:
    return corpus_documents(corpus_path, every=6)


async def test_the_judged_set_is_well_formed(corpus_path: Path) -> None:
    assert len(JUDGEMENTS) >= 20
    titles = {row["title"] for _, row in service.read_jsonl(corpus_path)}
    assert all_relevant_titles() <= titles


async def test_embedded_engine_ranks_the_judged_queries(
    documents: list[SearchDocument], tmp_path: Path
) -> None:
    engine = EmbeddedEngine(tmp_path / "relevance.sqlite")
    await engine.index(documents)
    mrr, p3 = await evaluate(engine)
    assert mrr >= 0.85, (mrr, p3)
    assert p3 >= 0.6, (mrr, p3)
    await engine.close()


async def test_tuned_meilisearch_ranks_at_least_as_well_as_default_settings(
    documents: list[SearchDocument], meili_server: MeiliServer
) -> None:
    scores = {}
    for tuned in (True, False):
        engine = MeiliEngine(meili_server.url, meili_server.key, unique_index(), tuned=tuned)
        try:
            await engine.setup()
            await engine.index(documents)
            scores[tuned] = await evaluate(engine)
        finally:
            await engine._request("DELETE", f"/indexes/{engine.uid}")
            await engine.close()
    (tuned_mrr, tuned_p3), (default_mrr, default_p3) = scores[True], scores[False]
    assert tuned_mrr >= default_mrr, scores
    assert tuned_p3 >= default_p3, scores
    assert tuned_mrr >= 0.8, scores
