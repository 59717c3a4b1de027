"""Forgiving queries on both engines: pinyin, initials, mixed input, same-sounding characters and
the configurable synonyms (issue 12)."""

from __future__ import annotations

import pytest

from search import forgiving
from search.engine import SearchDocument, SearchEngine, SearchQuery
from search.routes import run_search
from tests.search.test_contract import DOCS


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("jlf", "计量法"),
        ("jiliangfa", "计量法"),
        ("JLF", "计量法"),
        ("dianzicheng", "电子秤"),
        ("计量fa", "计量法"),
        ("电子称", "电子秤"),
        ("计价称", "计价秤"),
        ("计量法", None),
        ("电子秤", None),
        ("", None),
    ],
)
def test_corrections(typed: str, meant: str | None) -> None:
    assert forgiving.correction(typed) == meant


async def test_pinyin_initials_and_miswritten_characters_find_documents(
    engine: SearchEngine,
) -> None:
    scale = SearchDocument(
        kind="article", id="a9", title="计价秤的检定", body="零位与示值。", url="/articles/a9"
    )
    await engine.index([*DOCS, scale])
    for typed, expected_id in [
        ("jlf", "r1"),
        ("jiliangfa", "r1"),
        ("计量fa", "r1"),
        ("dianzicheng", "a1"),
        ("电子称", "a1"),
        ("计价称", "a9"),
    ]:
        found = await run_search(engine, SearchQuery(q=typed))
        assert found.did_you_mean, typed
        assert expected_id in [hit.id for hit in found.items], (typed, found.searched)
    # Found as typed: the hits are for the query, the correction is only offered.
    plain = await run_search(engine, SearchQuery(q="计量法"))
    assert plain.did_you_mean is None
    assert plain.searched == "计量法"


async def test_configured_synonyms_find_each_other(engine: SearchEngine) -> None:
    await engine.index(DOCS)
    # 强检 ↔ 强制检定 and 市监局 ↔ 市场监督管理局 are data in search/vocabulary.py.
    assert "a1" in [h.id for h in (await engine.search(SearchQuery(q="强检"))).hits]
    assert "n1" in [h.id for h in (await engine.search(SearchQuery(q="市监局"))).hits]


async def test_the_api_and_the_page_say_what_was_meant(client, index_engine) -> None:  # type: ignore[no-untyped-def]
    await index_engine.index(DOCS)
    answer = (await client.get("/api/v1/search", params={"q": "dianzicheng"})).json()
    assert answer["did_you_mean"] == "电子秤"
    assert answer["searched"] == "电子秤"
    assert answer["total"] >= 1
    page = await client.get("/search", params={"q": "电子称"})
    assert "电子秤" in page.text
    assert 'id="did-you-mean"' in page.text
