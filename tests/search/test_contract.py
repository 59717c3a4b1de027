"""The engine contract: every behaviour, on the embedded engine and on Meilisearch."""

from __future__ import annotations

from datetime import date

from search.engine import SearchDocument, SearchEngine, SearchQuery

XIANYANG = ("610000", "610400")
QINDU = ("610000", "610400", "610402")

DOCS = [
    SearchDocument(
        kind="article",
        id="a1",
        title="买菜时如何识别合格的电子计价秤",
        summary="看检定标志、看零位、看显示。",
        body="用于贸易结算的电子计价秤属于强制检定的计量器具，发现缺斤短两请投诉。",
        tags=("消费提示",),
        region="咸阳市",
        region_codes=XIANYANG,
        date=date(2026, 3, 1),
        url="/articles/a1",
    ),
    SearchDocument(
        kind="notice",
        id="n1",
        title="某加油站使用作弊装置案",
        summary="咸阳某加油站有限公司：在加油机主板上加装作弊装置。",
        body="加油机加装作弊装置，致使加油量少于显示量。咸阳市秦都区市场监督管理局作出处罚。",
        keywords="咸阳某加油站有限公司 咸秦市监处罚〔2025〕8号",
        tags=("罚款",),
        region="秦都区",
        region_codes=QINDU,
        date=date(2025, 11, 10),
        url="/notices/n1",
    ),
    SearchDocument(
        kind="regulation",
        id="r1",
        title="中华人民共和国计量法",
        body="为了加强计量监督管理，保障国家计量单位制的统一和量值的准确可靠，制定本法。"
        "县级以上人民政府计量行政部门对用于贸易结算的工作计量器具实行强制检定。",
        region="全国",
        date=date(2018, 10, 26),
        url="/regulations/r1",
    ),
    SearchDocument(
        kind="regulation",
        id="r2",
        title="浙江省计量监督管理条例",
        body="为了加强计量监督管理，根据《中华人民共和国计量法》等法律、行政法规，结合本省实际，制定本条例。",
        region="浙江",
        date=date(2020, 1, 1),
        url="/regulations/r2",
    ),
    SearchDocument(
        kind="regulation",
        id="r3",
        title="市场监督管理投诉举报处理暂行办法",
        body="市场监督管理部门应当畅通全国12315平台、12315专用电话等投诉举报接收渠道。",
        region="全国",
        date=date(2019, 11, 30),
        url="/regulations/r3",
    ),
    SearchDocument(
        kind="article",
        id="a2",
        title="政务服务便民热线",
        body="各类非紧急诉求可以拨打政务服务便民热线12345反映。",
        tags=("便民",),
        region="咸阳市",
        region_codes=XIANYANG,
        date=date(2024, 5, 20),
        url="/articles/a2",
    ),
    SearchDocument(
        kind="article",
        id="a3",
        title="<script>alert(1)</script>计量小知识",
        body='<img src=x onerror="alert(2)">计量单位是量值的基础。',
        tags=("消费提示",),
        region="咸阳市",
        region_codes=XIANYANG,
        date=date(2023, 7, 7),
        url="/articles/a3",
    ),
]


async def load(engine: SearchEngine) -> None:
    await engine.index(DOCS)


def ids(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [hit.id for hit in result.hits]


async def test_two_character_words_inside_longer_text(engine: SearchEngine) -> None:
    await load(engine)
    result = await engine.search(SearchQuery(q="监督"))
    assert {"r1", "r2", "r3"} <= set(ids(result))
    assert "a2" not in ids(result)


async def test_title_ranks_above_body(engine: SearchEngine) -> None:
    await load(engine)
    result = await engine.search(SearchQuery(q="计量法"))
    # r1 has it in the title; r2 only in its body.
    assert ids(result)[:2] == ["r1", "r2"]


async def test_known_item_with_words_typed_without_spaces(engine: SearchEngine) -> None:
    await load(engine)
    for q in ("浙江 计量 条例", "浙江计量条例"):
        assert ids(await engine.search(SearchQuery(q=q)))[0] == "r2", q


async def test_synonyms_find_each_other(engine: SearchEngine) -> None:
    await load(engine)
    assert "a1" in ids(await engine.search(SearchQuery(q="电子秤")))
    assert "n1" in ids(await engine.search(SearchQuery(q="市监局")))


async def test_numbers_match_exactly(engine: SearchEngine) -> None:
    await load(engine)
    assert ids(await engine.search(SearchQuery(q="12315"))) == ["r3"]
    assert ids(await engine.search(SearchQuery(q="12345"))) == ["a2"]


async def test_filters(engine: SearchEngine) -> None:
    await load(engine)
    by_kind = await engine.search(SearchQuery(kind="regulation"))
    assert set(ids(by_kind)) == {"r1", "r2", "r3"}
    by_name = await engine.search(SearchQuery(region="浙江"))
    assert ids(by_name) == ["r2"]
    by_code = await engine.search(SearchQuery(region="610400"))
    assert set(ids(by_code)) == {"a1", "a2", "a3", "n1"}
    by_county = await engine.search(SearchQuery(region="610402"))
    assert ids(by_county) == ["n1"]
    by_dates = await engine.search(
        SearchQuery(date_from=date(2019, 1, 1), date_to=date(2024, 12, 31))
    )
    assert ids(by_dates) == ["a2", "a3", "r2", "r3"]
    by_tag = await engine.search(SearchQuery(tag="消费提示"))
    assert set(ids(by_tag)) == {"a1", "a3"}
    combined = await engine.search(SearchQuery(q="计量", kind="article", region="咸阳市"))
    assert set(ids(combined)) == {"a1", "a3"}


async def test_empty_query_lists_newest_with_facets(engine: SearchEngine) -> None:
    await load(engine)
    result = await engine.search(SearchQuery())
    assert ids(result) == ["a1", "n1", "a2", "a3", "r2", "r3", "r1"]
    assert result.total == 7
    assert result.facets["kind"] == {"article": 3, "regulation": 3, "notice": 1}
    assert result.facets["region"] == {"咸阳市": 3, "全国": 2, "浙江": 1, "秦都区": 1}
    assert result.facets["year"]["2026"] == 1
    assert sum(result.facets["year"].values()) == 7


async def test_facets_follow_the_query(engine: SearchEngine) -> None:
    await load(engine)
    result = await engine.search(SearchQuery(q="计量"))
    assert result.facets["kind"] == {"regulation": 2, "article": 2}
    assert result.total == 4


async def test_pagination(engine: SearchEngine) -> None:
    await load(engine)
    first = await engine.search(SearchQuery(page=1, per_page=3))
    second = await engine.search(SearchQuery(page=2, per_page=3))
    third = await engine.search(SearchQuery(page=3, per_page=3))
    assert first.total == second.total == 7
    assert ids(first) + ids(second) + ids(third) == ids(await engine.search(SearchQuery()))
    assert len(ids(third)) == 1


async def test_highlights_are_marked_and_cannot_inject_markup(engine: SearchEngine) -> None:
    await load(engine)
    result = await engine.search(SearchQuery(q="计量"))
    hit = next(h for h in result.hits if h.id == "a3")
    assert "<script" not in hit.title_html
    assert "&lt;script&gt;" in hit.title_html
    assert "<mark>计量</mark>" in hit.title_html
    assert "<img" not in hit.snippet_html
    assert "<mark>计量</mark>" in hit.snippet_html
    plain = await engine.search(SearchQuery(q="加油机"))
    assert "<mark>加油机</mark>" in plain.hits[0].snippet_html


async def test_delete_and_replace(engine: SearchEngine) -> None:
    await load(engine)
    await engine.delete(["notice-n1", "notice-does-not-exist"])
    assert "n1" not in ids(await engine.search(SearchQuery(q="加油机")))
    renamed = SearchDocument(
        kind="article", id="a2", title="热线电话一览", body="12345 政务服务", url="/articles/a2"
    )
    await engine.index([renamed])
    result = await engine.search(SearchQuery(q="热线电话"))
    assert ids(result) == ["a2"]
    assert (await engine.stats())["documents"] == 6
    assert await engine.keys() == {d.key for d in DOCS} - {"notice-n1"}


async def test_replace_all(engine: SearchEngine) -> None:
    await load(engine)

    async def batches():  # type: ignore[no-untyped-def]
        yield DOCS[:2]
        yield DOCS[4:5]

    assert await engine.replace_all(batches()) == 3
    assert await engine.keys() == {"article-a1", "notice-n1", "regulation-r3"}
    assert ids(await engine.search(SearchQuery(q="12315"))) == ["r3"]


async def test_suggest_titles_by_characters_pinyin_and_initials(engine: SearchEngine) -> None:
    await load(engine)
    for q in ("jiliangfa", "jlf", "计量法", "JLF"):
        suggestions = await engine.suggest(q)
        assert suggestions, q
        assert suggestions[0].title == "中华人民共和国计量法", q
    assert [s.id for s in await engine.suggest("tousu")] == ["r3"]
    assert await engine.suggest("zzzzqqq") == []


async def test_health_and_stats(engine: SearchEngine) -> None:
    await load(engine)
    health = await engine.health()
    assert health["ok"] is True
    assert health["documents"] == 7
    assert (await engine.stats())["documents"] == 7


async def test_setup_is_idempotent(engine: SearchEngine) -> None:
    await load(engine)
    await engine.setup()
    await engine.setup()
    assert (await engine.stats())["documents"] == 7


async def test_the_version_in_force_comes_first_among_same_title_hits(
    engine: SearchEngine,
) -> None:
    """Two versions of 计量法实施细则 (issue 12): the older one is indexed last and would win on
    text alone (shorter body), yet the version in force is listed first, with its facts."""
    body = (
        "第一条 根据《中华人民共和国计量法》的规定，制定本细则。第二条 国家实行法定计量单位制度。"
    )
    versions = [
        SearchDocument(
            kind="regulation", id="v-new", title="计量法实施细则",
            body=body + "第三条 国家有计划地发展计量事业，用现代计量技术装备各级计量检定机构。" * 3,
            issuer="国家计量局", status="现行有效", version_rank=0, date=date(2022, 3, 29),
            url="/regulations/v-new",
        ),
        SearchDocument(
            kind="regulation", id="v-old", title="计量法实施细则", body=body,
            issuer="国家计量局", status="已修改", version_rank=1, date=date(2018, 3, 19),
            url="/regulations/v-old",
        ),
    ]  # fmt: skip
    await engine.index(versions)
    for q in ("计量法实施细则", "实施细则", "法定计量单位"):
        found = await engine.search(SearchQuery(q=q))
        assert [(h.id, h.status, h.issuer) for h in found.hits] == [
            ("v-new", "现行有效", "国家计量局"),
            ("v-old", "已修改", "国家计量局"),
        ], q
    newest = await engine.search(SearchQuery())
    assert newest.hits[0].status == "现行有效"


LAW = SearchDocument(
    kind="regulation",
    id="law",
    title="某省计量条例",
    body="某省计量条例\n\n第一章 总则\n\n第一条 为了加强计量监督管理，制定本条例。\n\n"
    "第二条 本条例适用于本省行政区域。\n\n第二章 法律责任\n\n"
    "第十五条 使用不合格的电子计价秤的，责令改正，没收计量器具。\n\n第十六条 本条例自公布之日起施行。",
    region="全国",
    date=date(2021, 5, 1),
    url="/regulations/law",
)


async def test_a_hit_names_and_links_the_article_that_matched(engine: SearchEngine) -> None:
    """Issue 12: a law is ranked whole, shown with its best-matching article (第十五条), the
    snippet taken from that article only."""
    await engine.index([LAW])
    hit = (await engine.search(SearchQuery(q="电子计价秤"))).hits[0]
    assert (hit.section, hit.chapter, hit.anchor) == ("第十五条", "第二章 法律责任", "第十五条")
    assert "<mark>电子计价秤</mark>" in hit.snippet_html
    assert "第一条" not in hit.snippet_html
    # Several words: the article holding most of them.
    both = (await engine.search(SearchQuery(q="计量器具 责令改正"))).hits[0]
    assert both.section == "第十五条"
    # The text before the first article repeats the title: on a tie, the article wins.
    titled = (await engine.search(SearchQuery(q="计量条例"))).hits[0]
    assert titled.section == "第一条"
    # A title-only match names no article; the snippet is the text's opening.
    title = (await engine.search(SearchQuery(q="某省"))).hits[0]
    assert title.section == ""
    assert title.snippet_html
    # A changed text loses the old articles.
    await engine.index([SearchDocument(**{**LAW.__dict__, "body": "第一条 电子计价秤。"})])
    again = (await engine.search(SearchQuery(q="电子计价秤"))).hits[0]
    assert again.section == "第一条"
    await engine.delete([LAW.key])
    assert (await engine.search(SearchQuery(q="电子计价秤"))).hits == []
