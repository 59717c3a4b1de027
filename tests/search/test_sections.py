"""A document's sections (search/sections.py) and the regulation page's anchors (issue 12)."""

from __future__ import annotations

from search import sections, text

LAW = (
    "# 某省计量条例\n\n2020年1月1日 某省人民代表大会常务委员会通过\n\n## 第一章  总则\n\n"
    "第一条 为了加强计量监督管理，制定本条例。\n\n第二条 第十条规定的情形除外。\n\n"
    "本条例所称计量器具，是指……\n\n## 第二章  法律责任\n\n第十条之一 违反本条例的，依法处罚。\n\n"
    "第一百零二条 本条例自公布之日起施行。\n\n附：修改决定\n\n第一条 将第五条修改为……"
)


def test_a_regulation_is_split_by_article_with_its_chapter() -> None:
    parts = sections.split(text.plain_text(LAW))
    assert [(p.label, p.anchor, p.chapter) for p in parts] == [
        ("", "", ""),
        ("第一条", "第一条", "第一章 总则"),
        ("第二条", "第二条", "第一章 总则"),
        ("第十条之一", "第十条之一", "第二章 法律责任"),
        ("第一百零二条", "第一百零二条", "第二章 法律责任"),
        ("第一条", "第一条-2", "第二章 法律责任"),
    ]
    # A paragraph that continues an article belongs to it; a reference (第十条规定) opens none.
    assert parts[2].text == "第二条 第十条规定的情形除外。\n本条例所称计量器具，是指……"
    assert parts[0].text.startswith("某省计量条例")


def test_the_page_has_the_same_anchors() -> None:
    html = sections.anchor_articles(text.render_markdown(LAW))
    anchors = [p.anchor for p in sections.split(text.plain_text(LAW)) if p.anchor]
    for anchor in anchors:
        assert f'id="{anchor}"' in html
    assert html.count(' id="') == len(anchors)


def test_a_text_without_articles_is_cut_into_pieces() -> None:
    body = "\n\n".join("段落" * 100 for _ in range(10))
    parts = sections.split(body)
    assert len(parts) == 4
    assert all(p.label == "" and p.anchor == "" for p in parts)
    assert sections.split("") == []


def test_a_very_long_law_keeps_within_its_slots() -> None:
    body = "\n\n".join(f"第{n}条 内容" for n in ["一"] * (sections.SLOTS + 10))
    parts = sections.split(body)
    assert len(parts) == sections.SLOTS
    assert parts[-1].text.count("第一条") == 11
