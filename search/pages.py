"""Portal pages: /search, the article and regulation pages, and the editors' back office
(enforcement notices' pages are in notices/pages.py)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from portal.accounts.auth import OptionalUser
from portal.accounts.models import User
from portal.accounts.permissions import Action
from portal.db import DbSession, read_public
from portal.errors import GongzhiError, NotFound
from portal.web import render, render_public, staff_page
from search import sections, service, text
from search.engine import KINDS, SearchUnavailable
from search.models import ArticleStatus, Regulation
from search.routes import Engine, SearchQueryDep, run_search
from search.schemas import ArticleCreate, ArticleUpdate

router = APIRouter(include_in_schema=False)

KIND_LABELS = {"article": "科普文章", "notice": "处罚公示", "regulation": "政策法规"}
HEAD = '<link rel="stylesheet" href="/static/css/search.css">'


def _page_query(request: Request, **changes: Any) -> str:
    params = {k: v for k, v in request.query_params.items() if v}
    params.update(changes)
    params = {k: v for k, v in params.items() if v not in (None, "")}
    return "/search?" + urlencode(params)


@router.get("/search")
async def search_page(
    request: Request, engine: Engine, user: OptionalUser, query: SearchQueryDep
) -> Response:
    context: dict[str, Any] = {
        "user": user,
        "query": query,
        "kinds": KINDS,
        "kind_labels": KIND_LABELS,
        "result": None,
        "error": None,
        "link": lambda **changes: _page_query(request, **changes),
    }
    try:
        context["result"] = await run_search(engine, query)
    except SearchUnavailable:
        context["error"] = "检索服务暂时不可用，请稍后再试。"
        return render(request, "search/search.html", context, status_code=503)
    return render_public(request, "search/search.html", context)


@router.get("/articles/{article_id}")
async def article_page(
    request: Request, session: DbSession, user: OptionalUser, article_id: uuid.UUID
) -> Response:
    try:
        if user is None:  # the published article, as anyone sees it: on the read replica
            article = await read_public(
                request,
                lambda read: service.get_article_for(read, article_id, None),
                missing=NotFound,
            )
        else:  # an editor may be reading back what they have just saved: the primary
            article = await service.get_article_for(session, article_id, user)
    except NotFound:
        return render(request, "error.html", {"status": 404}, status_code=404)
    return render_public(
        request,
        "search/article.html",
        {"user": user, "article": article, "body_html": text.render_markdown(article.body)},
    )


@router.get("/regulations/{regulation_id}")
async def regulation_page(
    request: Request, user: OptionalUser, regulation_id: uuid.UUID
) -> Response:
    async def read(session: AsyncSession) -> tuple[Regulation, list[Regulation]]:
        regulation = await service.get_regulation(session, regulation_id)
        return regulation, await service.other_versions(session, regulation)

    try:
        regulation, other_versions = await read_public(request, read, missing=NotFound)
    except NotFound:
        return render(request, "error.html", {"status": 404}, status_code=404)
    return render_public(
        request,
        "search/regulation.html",
        {
            "user": user,
            "regulation": regulation,
            "other_versions": other_versions,
            # Each article (第X条) has its anchor: a search hit links to the one it matched.
            "body_html": sections.anchor_articles(text.render_markdown(regulation.body)),
        },
    )


# -- back office ----------------------------------------------------------------------------


EditorPage = Annotated[User | Response, staff_page(Action.article_publish)]


def _tags(raw: str) -> list[str]:
    return [t for t in (p.strip() for p in raw.replace("，", ",").split(",")) if t]


@router.get("/editor/articles")
async def editor_articles(request: Request, session: DbSession, user: EditorPage) -> Response:
    if isinstance(user, Response):
        return user
    articles = await service.list_articles_for_staff(session, actor=user)
    return render(
        request,
        "search/editor_articles.html",
        {"user": user, "articles": articles, "message": request.query_params.get("done")},
    )


@router.get("/editor/articles/new")
async def editor_new(request: Request, user: EditorPage) -> Response:
    if isinstance(user, Response):
        return user
    return render(
        request, "search/editor_form.html", {"user": user, "article": None, "error": None}
    )


@router.get("/editor/articles/{article_id}")
async def editor_edit(
    request: Request, session: DbSession, user: EditorPage, article_id: uuid.UUID
) -> Response:
    if isinstance(user, Response):
        return user
    try:
        article = await service.get_article_for(session, article_id, user)
    except NotFound:
        return render(request, "error.html", {"status": 404}, status_code=404)
    return render(
        request, "search/editor_form.html", {"user": user, "article": article, "error": None}
    )


@router.post("/editor/articles")
async def editor_save(
    request: Request,
    session: DbSession,
    user: EditorPage,
    title: Annotated[str, Form(max_length=200)],
    body: Annotated[str, Form(max_length=200_000)],
    summary: Annotated[str, Form(max_length=500)] = "",
    tags: Annotated[str, Form(max_length=300)] = "",
    article_id: Annotated[str, Form(max_length=40)] = "",
    intent: Annotated[str, Form(max_length=20)] = "save",
) -> Response:
    if isinstance(user, Response):
        return user
    article = None
    try:
        if article_id:
            data = ArticleUpdate(title=title, summary=summary, body=body, tags=_tags(tags))
            article = await service.update_article(session, uuid.UUID(article_id), data, actor=user)
            if intent == "publish" and article.status is not ArticleStatus.published:
                article = await service.publish_article(session, article.id, actor=user)
        else:
            created = ArticleCreate(
                title=title,
                summary=summary,
                body=body,
                tags=_tags(tags),
                publish=intent == "publish",
            )
            article = await service.create_article(session, created, actor=user)
    except (ValidationError, GongzhiError, ValueError) as exc:
        message = exc.detail_zh if isinstance(exc, GongzhiError) else "请检查标题、正文和标签"
        draft = {
            "id": article_id,
            "title": title,
            "summary": summary,
            "body": body,
            "tags": _tags(tags),
        }
        return render(
            request,
            "search/editor_form.html",
            {"user": user, "article": draft, "error": message},
            status_code=400,
        )
    done = "published" if article.status is ArticleStatus.published else "saved"
    return RedirectResponse(f"/editor/articles?done={done}", status_code=303)


@router.post("/editor/articles/{article_id}/withdraw")
async def editor_withdraw(
    request: Request,
    session: DbSession,
    user: EditorPage,
    article_id: uuid.UUID,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if isinstance(user, Response):
        return user
    try:
        await service.withdraw_article(
            session, article_id, reason=reason.strip() or "编辑撤回", actor=user
        )
    except GongzhiError as exc:
        return render(request, "error.html", {"status": exc.status}, status_code=exc.status)
    return RedirectResponse("/editor/articles?done=withdrawn", status_code=303)


@router.post("/editor/articles/{article_id}/publish")
async def editor_publish(
    request: Request, session: DbSession, user: EditorPage, article_id: uuid.UUID
) -> Response:
    if isinstance(user, Response):
        return user
    try:
        await service.publish_article(session, article_id, actor=user)
    except GongzhiError as exc:
        return render(request, "error.html", {"status": exc.status}, status_code=exc.status)
    return RedirectResponse("/editor/articles?done=published", status_code=303)
