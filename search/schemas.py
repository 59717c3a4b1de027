"""Request and response models of the search domain."""

from __future__ import annotations

import datetime as dt
import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from portal.pagination import Page
from portal.types import IsoDate
from search.models import ArticleStatus
from search.versions import RegulationStatus

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
LongText = Annotated[str, StringConstraints(min_length=1, max_length=200_000)]


class ArticleCreate(BaseModel):
    title: Text200
    summary: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    body: LongText
    tags: list[Tag] = Field(default_factory=list, max_length=10)
    publish: bool = False


class ArticleUpdate(BaseModel):
    title: Text200 | None = None
    summary: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    body: LongText | None = None
    tags: list[Tag] | None = Field(default=None, max_length=10)


class Withdrawal(BaseModel):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]


class ArticleRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    summary: str
    body: str
    body_html: str
    tags: list[str]
    author_name: str
    region_code: str | None
    status: ArticleStatus
    published_at: datetime | None
    updated_at: datetime
    url: str


class RegulationImport(BaseModel):
    """One line of the regulations corpus."""

    id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    category: Annotated[str, StringConstraints(max_length=64)] | None = None
    region: Annotated[str, StringConstraints(max_length=64)] | None = None
    date: IsoDate | None = None
    body: Annotated[str, StringConstraints(min_length=1, max_length=2_000_000)]


class ArticleImport(ArticleCreate):
    author: Annotated[str, StringConstraints(max_length=64)] = ""
    status: ArticleStatus = ArticleStatus.published
    published_at: datetime | None = None
    region_code: Annotated[str, StringConstraints(pattern=r"^\d{6}$")] | None = None


class RegulationRead(BaseModel):
    id: uuid.UUID
    source_id: str
    title: str
    category: str
    region: str | None
    issued_on: date | None
    issuer: str | None = Field(
        description="The body that passed or published it (制定机关), as the text's opening "
        "lines name it; null when they do not"
    )
    status: RegulationStatus | None = Field(
        description="时效性 as the corpus shows it: 现行有效 (the newest of several versions), "
        "已修改 (a later version of the same title is held), 已废止 (a repeal decision held "
        "names it); null when the corpus does not tell"
    )
    body_html: str
    url: str


class SearchHit(BaseModel):
    kind: Literal["article", "notice", "regulation"]
    id: str
    title: str = Field(
        description="Plain text, for clients that render natively (until 2026-11 this field "
        "held the escaped HTML that is now `title_html`)"
    )
    title_html: str = Field(description="The title as escaped HTML, matches wrapped in <mark>")
    snippet_html: str = Field(description="An excerpt as escaped HTML, matches wrapped in <mark>")
    snippet_text: str = Field(description="The same excerpt as plain text")
    snippet: str = Field(
        description="Deprecated: the same as `snippet_html` (escaped HTML with <mark>), kept for "
        "existing clients",
        deprecated=True,
    )
    date: dt.date | None
    region: str
    url: str
    tags: list[str]
    issuer: str | None = Field(
        description="Regulations: the body that passed or published it (制定机关), when known"
    )
    status: RegulationStatus | None = Field(
        description="Regulations: 现行有效 / 已修改 / 已废止 when the corpus shows it (see "
        "RegulationRead.status); among hits of the same title the version in force comes first"
    )
    section: str | None = Field(
        default=None,
        description="The article the snippet comes from, when it matched the query (第十五条); "
        "documents are ranked whole, their best-matching article named",
    )
    chapter: str | None = Field(
        default=None,
        description="That article's chapter (第二章 口岸开放), when the text has chapters",
    )
    section_url: str | None = Field(
        default=None,
        description="The document's page at that article (`/regulations/{id}#第十五条`); "
        "otherwise null and `url` is the link",
    )


class SearchResponse(Page[SearchHit]):
    """A page of hits (``items``, ``total``, ``next``: the ``Page`` every list has) with what only
    a search answers: the query as understood, the facet counts and the engine that answered."""

    q: str
    did_you_mean: str | None = Field(
        default=None,
        description="你是不是要找: the query as probably meant (typed in pinyin or initials, or "
        "with a same-sounding character: jlf, 计量fa → 计量法; 电子称 → 电子秤), when it differs",
    )
    searched: str = Field(
        description="The query the hits are for: `q`, or `did_you_mean` when `q` found nothing"
    )
    pages: int = Field(
        ge=1, description="How many pages can be asked for (an engine pages through 1,000 hits)"
    )
    facets: dict[str, dict[str, int]] = Field(
        description="kind, region, year → value → count among all matches; a facet with no "
        "values is left out (no results: `{}`)"
    )
    took_ms: float
    engine: str


class SuggestionRead(BaseModel):
    kind: Literal["article", "notice", "regulation"]
    id: str
    title: str
    url: str


class SuggestResponse(BaseModel):
    q: str
    suggestions: list[SuggestionRead]
