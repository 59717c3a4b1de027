"""Public credit pages: the ratings list, the enterprise page with each association's grade and
its indicator chart, the 公示 pages with the objection form, and the methodologies."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from credit import errors, methodologies, objections, public, runs
from credit.deps import Now
from credit.objections import check_objection_limits
from credit.pages.common import (
    chart_rows,
    ctx,
    error_text,
    methodology_label,
    score_explanation,
)
from credit.schemas import ObjectionCreate, RatingRead, rating_read
from credit.scoring import Method
from credit.settings import CreditConfig
from portal import clock
from portal.accounts.auth import OptionalUser
from portal.accounts.models import User
from portal.cache import CacheDep
from portal.db import DbSession, ReadSession
from portal.deps import SettingsDep
from portal.errors import GongzhiError
from portal.ratelimit import client_ip, get_rate_limiter
from portal.web import render, render_public

router = APIRouter(include_in_schema=False)

PER_PAGE = 20


@router.get("/credit")
async def ratings_page(
    request: Request,
    session: ReadSession,
    now: Now,
    user: OptionalUser,
    config: CreditConfig,
    cache: CacheDep,
    industry: str | None = None,
    grade: str | None = None,
    region: str | None = None,
    q: str | None = None,
    page: int = 1,
) -> Response:
    error = None
    notice = None
    region_names: list[str] = []
    ratings: list[RatingRead] = []
    total = 0
    page = max(1, min(page, 10000))
    region_text = (region or "").strip()[:32]
    try:
        listed = await public.listed_page(
            session,
            today=clock.local_date(now),
            industry=(industry or "")[:64] or None,
            grade=(grade or "")[:3] or None,
            region=region_text or None,
            q=(q or "").strip()[:100] or None,
            offset=(page - 1) * PER_PAGE,
            limit=PER_PAGE,
            cache=cache,
            seconds=config.credit_list_page_seconds,
            total_seconds=config.credit_list_total_seconds,
        )
        ratings, total, region_names = listed.ratings, listed.total, list(listed.region_names)
    except errors.RegionNotRecognised as exc:
        # A place name that names nothing is not a broken request: say so and let them retype.
        notice = exc.detail_zh
    except GongzhiError as exc:
        error = exc.detail_zh
    query = {"industry": industry or "", "grade": grade or "", "region": region or "", "q": q or ""}
    base = "&".join(f"{k}={quote(v)}" for k, v in query.items() if v)
    return render_public(
        request,
        "credit/ratings.html",
        ctx(
            user=user,
            ratings=ratings,
            total=total,
            page=page,
            pages=max(1, (total + PER_PAGE - 1) // PER_PAGE),
            query=query,
            base_query=base,
            industries=await public.listed_industries(
                session, cache=cache, seconds=config.credit_list_page_seconds
            ),
            notices=await public.open_notices(
                session, now=now, cache=cache, seconds=config.credit_list_page_seconds
            ),
            error=error,
            region_notice=notice,
            region_names=region_names,
        ),
        status_code=422 if error else 200,
    )


@router.get("/credit/enterprises/{uscc}")
async def enterprise_page(
    request: Request, session: ReadSession, now: Now, user: OptionalUser, uscc: str
) -> Response:
    try:
        view = await public.enterprise_detail(session, uscc[:40], today=clock.local_date(now))
    except GongzhiError as exc:
        return render(
            request,
            "credit/not_found.html",
            ctx(user=user, message=exc.detail_zh),
            status_code=exc.status,
        )
    history = []
    for event in view.events:
        body = json.loads(event.body)
        history.append({"seq": event.seq, "kind": event.kind, "body": body, "hash": event.hash})
    methods = {(m.code, m.version): m for m in await methodologies.list_methodologies(session)}
    # One panel per association's current grade, under the association's name: associations
    # grade independently and no grade stands for "the" grade of the enterprise.
    grades = [
        {
            "rating": rating_read(grade.row, today=view.today),
            "breakdown": grade.score.breakdown if grade.score else None,
            "evidence_hash": grade.score.evidence_hash if grade.score else None,
            "chart": chart_rows(grade.score.breakdown) if grade.score else None,
            "explain": score_explanation(grade.score.breakdown) if grade.score else None,
            "methodology": _methodology_view(
                methods.get(
                    (grade.row.rating.methodology_code, grade.row.rating.methodology_version)
                ),
                grade.row.rating.methodology_code,
                grade.row.rating.methodology_version,
            ),
        }
        for grade in view.grades
    ]
    return render_public(
        request,
        "credit/enterprise.html",
        ctx(
            user=user,
            enterprise=view.enterprise,
            labels=view.labels,
            grades=grades,
            history=history,
            notices=view.notices,
        ),
    )


def _methodology_view(methodology: Any, code: str, version: int) -> dict[str, Any]:
    return {
        "label": methodology_label(methodology.name if methodology else None, code, version),
        "code": code,
        "version": version,
        "hash": methodology.definition_hash if methodology else None,
    }


@router.get("/credit/notices")
async def notices_page(
    request: Request, session: ReadSession, now: Now, user: OptionalUser
) -> Response:
    return render_public(
        request,
        "credit/notices.html",
        ctx(
            user=user,
            notices=await public.list_notices(session),
            now=now,
            accepting=runs.accepting_objections,
        ),
    )


async def _render_notice(
    request: Request,
    session: DbSession,
    now: datetime,
    user: User | None,
    batch_id: uuid.UUID,
    *,
    message: str | None = None,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    try:
        view = await public.notice_detail(session, batch_id)
    except GongzhiError as exc:
        return render(
            request,
            "credit/not_found.html",
            ctx(user=user, message=exc.detail_zh),
            status_code=exc.status,
        )
    # The list as anyone sees it is public; after a submitted objection it carries a message.
    plain = message is None and error is None and form is None
    # A visitor who has just objected comes back to see it listed: their browser asks again
    # (max-age 0, with the ETag); shared caches keep the list a few seconds.
    shown = partial(render_public, max_age=0, shared_max_age=5) if plain else render
    return shown(
        request,
        "credit/notice.html",
        ctx(
            user=user,
            run=view.run,
            association=view.association,
            methodology=view.methodology,
            methodology_label=methodology_label(
                view.methodology.name, view.methodology.code, view.methodology.version
            ),
            scores=view.scores,
            objections=view.objections,
            accepting=runs.accepting_objections(view.run, now),
            message=message,
            error=error,
            form=form or {},
        ),
        status_code=status_code,
    )


@router.get("/credit/notices/{batch_id}")
async def notice_page(
    request: Request, session: ReadSession, now: Now, user: OptionalUser, batch_id: uuid.UUID
) -> Response:
    return await _render_notice(request, session, now, user, batch_id)


@router.post("/credit/notices/{batch_id}/objections")
async def objection_submit(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    now: Now,
    user: OptionalUser,
    batch_id: uuid.UUID,
    objector_kind: Annotated[str, Form(max_length=16)],
    name: Annotated[str, Form(max_length=100)],
    contact: Annotated[str, Form(max_length=100)],
    text: Annotated[str, Form(max_length=5000)],
    uscc: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    form = {
        "uscc": uscc,
        "objector_kind": objector_kind,
        "name": name,
        "contact": contact,
        "text": text,
    }
    if not uscc.strip():
        return await _render_notice(
            request,
            session,
            now,
            user,
            batch_id,
            error="请选择被异议企业。",
            form=form,
            status_code=422,
        )
    try:
        data = ObjectionCreate(
            batch_id=batch_id,
            uscc=uscc,
            objector_kind=objector_kind,  # validated by the model
            name=name,
            contact=contact,
            text=text,
        )
        await check_objection_limits(
            get_rate_limiter(request), settings, client=client_ip(request), data=data
        )
        objection = await objections.lodge_objection(session, data=data, settings=settings, now=now)
    except (GongzhiError, ValidationError) as exc:
        await session.rollback()
        status = exc.status if isinstance(exc, GongzhiError) else 422
        return await _render_notice(
            request,
            session,
            now,
            user,
            batch_id,
            error=error_text(exc),
            form=form,
            status_code=status,
        )
    # Post/redirect/get: the confirmation is the objection's own page, which the objector can
    # bookmark to follow it, and reloading it does not lodge the objection twice.
    return RedirectResponse(f"/credit/objections/{objection.id}?new=1", status_code=303)


@router.get("/credit/objections/{objection_id}")
async def objection_page(
    request: Request,
    session: DbSession,
    now: Now,
    user: OptionalUser,
    objection_id: uuid.UUID,
    new: bool = False,
) -> Response:
    try:
        view = await public.objection_detail(session, objection_id)
    except GongzhiError as exc:
        return render(
            request,
            "credit/not_found.html",
            ctx(user=user, message=exc.detail_zh),
            status_code=exc.status,
        )
    return render(
        request,
        "credit/objection.html",
        ctx(
            user=user,
            view=view,
            objection=view.row.objection,
            enterprise_name=view.row.name,
            run=view.run,
            association=view.association,
            accepting=runs.accepting_objections(view.run, now),
            new=new,
            link=str(request.url_for("objection_page", objection_id=objection_id)),
        ),
    )


@router.get("/credit/methodology")
async def methodology_page(request: Request, session: ReadSession, user: OptionalUser) -> Response:
    rows = []
    for m in await methodologies.list_methodologies(session):
        rows.append((m, Method.from_definition(m.code, m.version, m.definition)))
    return render_public(request, "credit/methodology.html", ctx(user=user, methodologies=rows))
