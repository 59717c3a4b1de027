"""JSON API: public search, articles and regulations; editors' articles.

Enforcement notices have their own routes (notices/routes.py)."""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from portal.accounts.auth import OptionalUser
from portal.accounts.models import User
from portal.accounts.permissions import Action, require
from portal.db import DbSession, read_public
from portal.deps import PublicAnswer
from portal.errors import InvalidInput, NotFound
from portal.pagination import Page, PageParams
from portal.types import BlankIsNone, OptionalIsoDate, blank_or
from search import documents, forgiving, service, text
from search.engine import SEARCH_WINDOW, SearchEngine, SearchQuery, engine_for
from search.models import Article, Regulation
from search.schemas import (
    ArticleCreate,
    ArticleRead,
    ArticleUpdate,
    RegulationRead,
    SearchHit,
    SearchResponse,
    SuggestionRead,
    SuggestResponse,
    Withdrawal,
)
from search.versions import RegulationStatus

router = APIRouter(prefix="/api/v1", tags=["search"])

Editor = Annotated[User, Depends(require(Action.article_publish))]


async def get_engine(request: Request) -> SearchEngine:
    """The app's engine for its current settings (kept on ``app.state``, search/engine.py)."""
    return engine_for(request.app.state, request.app.state.settings)


Engine = Annotated[SearchEngine, Depends(get_engine)]


async def search_params(
    q: Annotated[str, Query(max_length=100, description="Words to find; empty: newest")] = "",
    kind: Annotated[
        Literal["article", "notice", "regulation"] | None,
        BlankIsNone,
        blank_or({"type": "string", "enum": ["article", "notice", "regulation"]}),
        Query(),
    ] = None,
    region: Annotated[
        str | None, Query(max_length=64, description="Region name (facet) or 6-digit code")
    ] = None,
    date_from: OptionalIsoDate = None,
    date_to: OptionalIsoDate = None,
    tag: Annotated[str | None, Query(max_length=20)] = None,
    page: Annotated[int, Query(ge=1, le=100)] = 1,
    per_page: Annotated[int, Query(ge=1, le=50)] = 10,
) -> SearchQuery:
    if date_from and date_to and date_from > date_to:
        raise InvalidInput(
            "date_from is after date_to.",
            detail_zh="起始日期晚于截止日期。",
            errors=[{"field": "query.date_from", "type": "range", "message": "after date_to"}],
        )
    return SearchQuery(
        q=q.strip(),
        kind=kind,
        region=region or None,
        date_from=date_from,
        date_to=date_to,
        tag=tag or None,
        page=page,
        per_page=per_page,
    )


SearchQueryDep = Annotated[SearchQuery, Depends(search_params)]


def next_page_url(request: Request | None, query: SearchQuery, total: int) -> str | None:
    """The link to the following page, while there is one an engine can serve (1,000 hits)."""
    reachable = min(total, SEARCH_WINDOW)
    if request is None or query.offset + query.per_page >= reachable:
        return None
    return str(request.url.include_query_params(page=query.page + 1))


async def run_search(
    engine: SearchEngine, query: SearchQuery, request: Request | None = None
) -> SearchResponse:
    started = time.perf_counter()
    meant = forgiving.correction(query.q) if query.q else None
    searched = query.q
    if meant:
        # What was typed and what was meant, asked at once rather than one after the other:
        # a query with a correction (pinyin, a same-sounding character) waits for the slower of
        # two searches, not their sum (issue 12: on Meilisearch the sum was 4× a plain search).
        result, corrected = await asyncio.gather(
            engine.search(query), engine.search(replace(query, q=meant))
        )
        if result.total == 0:
            # What was typed finds nothing: answer with what was meant (and say so).
            result = corrected
            searched = meant
    else:
        result = await engine.search(query)
    return SearchResponse(
        q=query.q,
        did_you_mean=meant,
        searched=searched,
        items=[
            SearchHit(
                kind=h.kind,
                id=h.id,
                title=h.title,
                title_html=h.title_html,
                snippet_html=h.snippet_html,
                snippet_text=text.html_to_text(h.snippet_html),
                snippet=h.snippet_html,
                date=h.date,
                region=h.region,
                url=h.url,
                tags=h.tags,
                issuer=h.issuer or None,
                status=RegulationStatus(h.status) if h.status else None,
                section=h.section or None,
                chapter=h.chapter or None,
                section_url=f"{h.url}#{h.anchor}" if h.anchor else None,
            )
            for h in result.hits
        ],
        total=result.total,
        page=query.page,
        per_page=query.per_page,
        next=next_page_url(request, query, result.total),
        pages=max(1, math.ceil(min(result.total, SEARCH_WINDOW) / query.per_page)),
        facets={name: values for name, values in result.facets.items() if values},
        took_ms=round((time.perf_counter() - started) * 1000, 2),
        engine=engine.name,
    )


@router.get(
    "/search",
    summary="Full-text search over articles, notices and regulations",
    dependencies=[PublicAnswer],
)
async def search(engine: Engine, query: SearchQueryDep, request: Request) -> SearchResponse:
    return await run_search(engine, query, request)


@router.get("/search/suggest", summary="Title completions, also from pinyin and initials")
async def suggest(
    engine: Engine,
    q: Annotated[str, Query(min_length=1, max_length=50)],
    limit: Annotated[int, Query(ge=1, le=20)] = 8,
) -> SuggestResponse:
    found = await engine.suggest(q, limit=limit)
    return SuggestResponse(
        q=q,
        suggestions=[SuggestionRead(kind=s.kind, id=s.id, title=s.title, url=s.url) for s in found],
    )


# -- articles -------------------------------------------------------------------------------


def article_read(article: Article) -> ArticleRead:
    return ArticleRead(
        id=article.id,
        title=article.title,
        summary=article.summary,
        body=article.body,
        body_html=text.render_markdown(article.body),
        tags=article.tags,
        author_name=article.author_name,
        region_code=article.region_code,
        status=article.status,
        published_at=article.published_at,
        updated_at=article.updated_at,
        url=documents.article_url(article.id),
    )


@router.get("/articles/{article_id}", summary="A published article (editors: any of theirs)")
async def get_article(session: DbSession, article_id: uuid.UUID, user: OptionalUser) -> ArticleRead:
    return article_read(await service.get_article_for(session, article_id, user))


@router.get("/articles", summary="Articles an editor may edit, newest change first")
async def list_articles(
    request: Request, session: DbSession, user: Editor, page: PageParams
) -> Page[ArticleRead]:
    articles = await service.list_articles_for_staff(session, actor=user)
    shown = articles[page.offset : page.offset + page.limit]
    return Page.of([article_read(a) for a in shown], total=len(articles), request=page, url=request)


@router.post("/articles", status_code=201, summary="Write an article (draft, or publish at once)")
async def create_article(session: DbSession, user: Editor, data: ArticleCreate) -> ArticleRead:
    return article_read(await service.create_article(session, data, actor=user))


@router.patch("/articles/{article_id}", summary="Edit an article")
async def update_article(
    session: DbSession, user: Editor, article_id: uuid.UUID, data: ArticleUpdate
) -> ArticleRead:
    return article_read(await service.update_article(session, article_id, data, actor=user))


@router.post("/articles/{article_id}/publish", summary="Publish a draft or withdrawn article")
async def publish_article(session: DbSession, user: Editor, article_id: uuid.UUID) -> ArticleRead:
    return article_read(await service.publish_article(session, article_id, actor=user))


@router.post("/articles/{article_id}/withdraw", summary="Withdraw a published article")
async def withdraw_article(
    session: DbSession, user: Editor, article_id: uuid.UUID, data: Withdrawal
) -> ArticleRead:
    return article_read(
        await service.withdraw_article(session, article_id, reason=data.reason, actor=user)
    )


# -- regulations ----------------------------------------------------------------------------


def regulation_read(regulation: Regulation) -> RegulationRead:
    return RegulationRead(
        id=regulation.id,
        source_id=regulation.source_id,
        title=regulation.title,
        category=regulation.category,
        region=regulation.region,
        issued_on=regulation.issued_on,
        issuer=regulation.issuer,
        status=regulation.status,
        body_html=text.render_markdown(regulation.body),
        url=documents.regulation_url(regulation.id),
    )


@router.get("/regulations/{regulation_id}", summary="A law or regulation")
async def get_regulation(request: Request, regulation_id: uuid.UUID) -> RegulationRead:
    regulation = await read_public(
        request, lambda session: service.get_regulation(session, regulation_id), missing=NotFound
    )
    return regulation_read(regulation)
