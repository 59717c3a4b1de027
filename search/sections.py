"""A document's sections: a regulation's articles (第X条, with their chapter), a long text's
paragraphs in pieces of a few hundred characters (issue 12).

Both engines index these beside the whole documents: the whole document is still what is ranked
(so relevance does not change), and the section of a hit that best matches the query names the
article (第十五条), links to it (``/regulations/{id}#第十五条``) and gives the snippet, so that
highlighting works on one article instead of a whole law of up to 100,000 characters.

The regulation page gives every article the same anchor (``anchor_articles``): both sides use
``article_label`` on the starts of paragraphs, and a label seen again (a decision amending
several laws numbers its own articles anew) gets ``-2``, ``-3``…
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# 第十五条, 第一百零二条, 第十条之一; followed by a space (the corpus writes 第一条 为了…), so a
# paragraph opening with a reference (第十条规定的…) is not taken for an article.
_NUMERAL = "〇零一二三四五六七八九十百千"
_ARTICLE = re.compile(rf"^[ \u3000]*(第[{_NUMERAL}]+条(?:之[{_NUMERAL}]+)?)(?:[ \u3000]+|$)")
_CHAPTER = re.compile(rf"^[ \u3000]*(第[{_NUMERAL}]+[编章节])(?:[ \u3000]+(\S.*))?$")
# An unnamed piece of a long text (no article numbers): about this many characters.
PIECE = 600
# Sections per document the embedded engine keeps apart (its rowids: document × SLOTS + n); the
# longest law of the corpus (民法典) has 1,260 articles. Further text joins the last section.
SLOTS = 4096


@dataclass(frozen=True)
class Section:
    label: str  # 第十五条, or "" (the text before the first article, or an unnamed piece)
    anchor: str  # the id on the regulation page ("" when the section has no anchor)
    chapter: str  # 第二章 口岸开放, or ""
    text: str


def article_label(line: str) -> str | None:
    match = _ARTICLE.match(line)
    return match.group(1) if match else None


def _anchor(label: str, seen: dict[str, int]) -> str:
    seen[label] = seen.get(label, 0) + 1
    return label if seen[label] == 1 else f"{label}-{seen[label]}"


def _paragraphs(body: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n[ \u3000]*\n", body) if p.strip()]


def split(body: str) -> list[Section]:
    """The sections of a plain-text body (paragraphs separated by blank lines): by article when
    paragraphs open with 第X条, else pieces of about ``PIECE`` characters."""
    paragraphs = _paragraphs(body)
    if not any(article_label(p) for p in paragraphs):
        return _pieces(paragraphs)
    sections: list[Section] = []
    seen: dict[str, int] = {}
    chapter = ""
    label = anchor = ""
    lines: list[str] = []

    def close() -> None:
        if lines:
            sections.append(Section(label, anchor, chapter_of_label, "\n".join(lines)))

    chapter_of_label = ""
    for paragraph in paragraphs:
        heading = _CHAPTER.match(paragraph) if len(paragraph) <= 40 else None
        found = article_label(paragraph)
        if heading:
            close()
            lines = []
            label = anchor = ""
            chapter = " ".join(part for part in heading.groups() if part)
            chapter_of_label = chapter
            continue
        if found:
            close()
            label, anchor, lines = found, _anchor(found, seen), []
            chapter_of_label = chapter
        lines.append(paragraph)
    close()
    return _fit(sections)


def _pieces(paragraphs: list[str]) -> list[Section]:
    pieces: list[Section] = []
    lines: list[str] = []
    size = 0
    for paragraph in paragraphs:
        if lines and size + len(paragraph) > PIECE:
            pieces.append(Section("", "", "", "\n".join(lines)))
            lines, size = [], 0
        lines.append(paragraph)
        size += len(paragraph)
    if lines:
        pieces.append(Section("", "", "", "\n".join(lines)))
    return _fit(pieces)


def _fit(sections: list[Section]) -> list[Section]:
    if len(sections) <= SLOTS:
        return sections
    last = sections[SLOTS - 1]
    rest = "\n".join(s.text for s in sections[SLOTS - 1 :])
    return [*sections[: SLOTS - 1], Section(last.label, last.anchor, last.chapter, rest)]


def lead(body: str, length: int = 300) -> str:
    """The opening of a body, for a hit's snippet when no section matched."""
    return body[:length]


_HTML_ARTICLE = re.compile(rf"<p>(第[{_NUMERAL}]+条(?:之[{_NUMERAL}]+)?)(?=[ \u3000]|</p>)")


def anchor_articles(body_html: str) -> str:
    """The rendered regulation with an ``id`` on each paragraph that opens an article, the same
    anchors ``split`` gives (the ids are ours: a label is only 第, 条, 之 and numerals)."""
    seen: dict[str, int] = {}

    def add(match: re.Match[str]) -> str:
        label = match.group(1)
        return f'<p id="{_anchor(label, seen)}">{label}'

    return _HTML_ARTICLE.sub(add, body_html)
