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


async def test_a_search_that_finds_nothing_offers_a_way_on(client, index_engine) -> None:  # type: ignore[no-untyped-def]
    await index_engine.index(DOCS)
    # Typed with a same-sounding character: the page lists what the corrected query finds, with
    # facets counted for those hits.
    corrected = await client.get("/search", params={"q": "电子称"})
    assert "已显示“<strong>电子秤</strong>”的结果" in corrected.text
    assert 'href="/articles/a1"' in corrected.text
    assert "分类统计" in corrected.text
    assert 'id="no-results"' not in corrected.text

    # Nothing at all: no facet boxes, no pager, and advice instead.
    nothing = await client.get("/search", params={"q": "量子引力波"})
    assert "分类统计" not in nothing.text
    assert 'class="pager"' not in nothing.text
    assert 'id="no-results"' in nothing.text
    assert 'id="drop-filters"' not in nothing.text  # no filter to drop

    # A filter that leaves nothing: no empty box for it, a link to the same words without filters.
    filtered = await client.get("/search", params={"q": "计量", "region": "西藏", "kind": "notice"})
    assert "分类统计" not in filtered.text
    assert 'href="/search?q=%E8%AE%A1%E9%87%8F" id="drop-filters"' in filtered.text
    unfiltered = (await client.get("/api/v1/search", params={"q": "计量"})).json()
    assert unfiltered["total"] >= 1

    # The correction finds nothing either: the page does not claim to show its results.
    neither = await client.get("/search", params={"q": "电子称", "kind": "notice"})
    assert "按“<strong>电子秤</strong>”也没有找到" in neither.text
    assert "已显示" not in neither.text
    assert 'id="drop-filters"' in neither.text


async def test_a_query_found_as_typed_keeps_its_hits_beside_the_correction(
    engine: SearchEngine,
) -> None:
    # run_search asks for what was typed and what was meant at once (issue 12); when what was
    # typed finds something, its hits are the answer and the correction is only offered.
    typed = SearchDocument(
        kind="article", id="a8", title="电子称的写法", body="常见的错字。", url="/articles/a8"
    )
    await engine.index([*DOCS, typed])
    found = await run_search(engine, SearchQuery(q="电子称"))
    assert found.did_you_mean == "电子秤"
    assert found.searched == "电子称"
    assert found.items[0].id == "a8"
