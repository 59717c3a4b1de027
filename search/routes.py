"""JSON API: public search and documents; editors' articles; regulators' notices."""

from __future__ import annotations

import math
import time
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request

from portal.accounts.auth import OptionalUser
from portal.accounts.models import User
from portal.accounts.permissions import Action, require
from portal.db import DbSession
from portal.errors import InvalidInput
from portal.types import IsoDate
from search import engine as engines
from search import service, text
from search.engine import SearchQuery
from search.models import Article, EnforcementNotice, Regulation
from search.schemas import (
    ArticleCreate,
    ArticleRead,
    ArticleUpdate,
    NoticeCreate,
    NoticeRead,
    NoticeUpdate,
    RegulationRead,
    SearchHit,
    SearchResponse,
    SuggestionRead,
    SuggestResponse,
    Withdrawal,
)

router = APIRouter(prefix="/api/v1", tags=["search"])

Editor = Annotated[User, Depends(require(Action.article_publish))]
Regulator = Annotated[User, Depends(require(Action.notice_publish))]


def get_engine(request: Request) -> engines.SearchEngine:
    return engines.for_settings(request.app.state.settings)


Engine = Annotated[engines.SearchEngine, Depends(get_engine)]


def search_params(
    q: Annotated[str, Query(max_length=100, description="Words to find; empty: newest")] = "",
    kind: Annotated[Literal["article", "notice", "regulation"] | None, Query()] = None,
    region: Annotated[
        str | None, Query(max_length=64, description="Region name (facet) or 6-digit code")
    ] = None,
    date_from: IsoDate | None = None,
    date_to: IsoDate | None = None,
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


async def run_search(engine: engines.SearchEngine, query: SearchQuery) -> SearchResponse:
    started = time.perf_counter()
    result = await engine.search(query)
    return SearchResponse(
        q=query.q,
        hits=[
            SearchHit(
                kind=h.kind,
                id=h.id,
                title=h.title_html,
                snippet=h.snippet_html,
                date=h.date,
                region=h.region,
                url=h.url,
                tags=h.tags,
            )
            for h in result.hits
        ],
        total=result.total,
        page=query.page,
        per_page=query.per_page,
        pages=max(1, math.ceil(min(result.total, 1000) / query.per_page)),
        facets=result.facets,
        took_ms=round((time.perf_counter() - started) * 1000, 2),
        engine=engine.name,
    )


@router.get("/search", summary="Full-text search over articles, notices and regulations")
async def search(engine: Engine, query: SearchQueryDep) -> SearchResponse:
    return await run_search(engine, query)


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
        url=service.article_url(article.id),
    )


@router.get("/articles/{article_id}", summary="A published article (editors: any of theirs)")
async def get_article(session: DbSession, article_id: uuid.UUID, user: OptionalUser) -> ArticleRead:
    return article_read(await service.get_article_for(session, article_id, user))


@router.get("/articles", summary="Articles an editor may edit, newest change first")
async def list_articles(session: DbSession, user: Editor) -> list[ArticleRead]:
    return [article_read(a) for a in await service.list_articles_for_staff(session, actor=user)]


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


# -- enforcement notices --------------------------------------------------------------------


def notice_read(notice: EnforcementNotice, *, staff: bool = False) -> NoticeRead:
    return NoticeRead(
        id=notice.id,
        title=notice.title,
        decision_number=notice.decision_number,
        party_name=notice.party_name if staff else service.public_party_name(notice),
        party_uscc=notice.party_uscc,
        violation=notice.violation,
        legal_basis=notice.legal_basis,
        penalty_kind=notice.penalty_kind,
        penalty_amount=notice.penalty_amount,
        authority=notice.authority,
        region_code=notice.region_code,
        decision_date=notice.decision_date,
        published_on=notice.published_on,
        display_until=notice.display_until,
        status=notice.status,
        url=service.notice_url(notice.id),
    )


@router.get("/notices/{notice_id}", summary="An enforcement notice within its display period")
async def get_notice(session: DbSession, notice_id: uuid.UUID) -> NoticeRead:
    return notice_read(await service.get_public_notice(session, notice_id))


@router.get("/notices", summary="Notices in the regulator's region, newest first")
async def list_notices(session: DbSession, user: Regulator) -> list[NoticeRead]:
    notices = await service.list_notices_for_staff(session, actor=user)
    return [notice_read(n, staff=True) for n in notices]


@router.post("/notices", status_code=201, summary="Publish an enforcement notice (own region)")
async def create_notice(
    request: Request, session: DbSession, user: Regulator, data: NoticeCreate
) -> NoticeRead:
    notice = await service.create_notice(
        session, data, actor=user, settings=request.app.state.settings
    )
    return notice_read(notice, staff=True)


@router.patch("/notices/{notice_id}", summary="Correct a notice on display")
async def update_notice(
    session: DbSession, user: Regulator, notice_id: uuid.UUID, data: NoticeUpdate
) -> NoticeRead:
    notice = await service.update_notice(session, notice_id, data, actor=user)
    return notice_read(notice, staff=True)


@router.post("/notices/{notice_id}/withdraw", summary="Withdraw a notice from public view")
async def withdraw_notice(
    session: DbSession, user: Regulator, notice_id: uuid.UUID, data: Withdrawal
) -> NoticeRead:
    notice = await service.withdraw_notice(session, notice_id, reason=data.reason, actor=user)
    return notice_read(notice, staff=True)


# -- regulations ----------------------------------------------------------------------------


def regulation_read(regulation: Regulation) -> RegulationRead:
    return RegulationRead(
        id=regulation.id,
        source_id=regulation.source_id,
        title=regulation.title,
        category=regulation.category,
        region=regulation.region,
        issued_on=regulation.issued_on,
        body_html=text.render_markdown(regulation.body),
        url=service.regulation_url(regulation.id),
    )


@router.get("/regulations/{regulation_id}", summary="A law or regulation")
async def get_regulation(session: DbSession, regulation_id: uuid.UUID) -> RegulationRead:
    return regulation_read(await service.get_regulation(session, regulation_id))
