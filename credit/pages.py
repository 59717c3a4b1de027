"""Portal pages of the credit evaluation: the public ratings list, the enterprise page with its
indicator chart, the 公示 pages with the objection form, and the association back office.

Forms post to these routes, which call the same services as the JSON API. When a service refuses,
the transaction is rolled back before the page is rendered with the reason, so nothing half-done
is ever committed."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from credit import service
from credit.limiter import client_key, limiter_for
from credit.models import ObjectionStatus
from credit.routes import Now, SettingsDep
from credit.schemas import (
    EnterpriseCreate,
    IndicatorValues,
    ObjectionCreate,
    ObjectionDecision,
    ReplyCreate,
    ReviewCreate,
    RunCreate,
    rating_read,
)
from credit.scoring import GRADES, Method
from portal.accounts.auth import OptionalUser
from portal.accounts.models import User
from portal.accounts.permissions import Action, role_allows
from portal.db import DbSession
from portal.errors import GongzhiError
from portal.web import render

router = APIRouter(include_in_schema=False)

GRADE_CLASS = {g: ("ok" if i < 3 else "warn" if i < 6 else "bad") for i, g in enumerate(GRADES)}
GRADE_MEANING = {
    "AAA": "信用很好",
    "AA": "信用好",
    "A": "信用较好",
    "BBB": "信用一般",
    "BB": "信用欠佳",
    "B": "信用较差",
    "CCC": "信用很差",
    "CC": "信用极差",
    "C": "没有信用",
}
EVENT_LABELS = {
    "run.started": "开始评价",
    "notice.opened": "开始公示",
    "objection.lodged": "收到异议",
    "objection.decided": "异议处理",
    "rating.published": "发布等级",
    "rating.reviewed": "复核",
    "rating.flagged": "列入复核",
    "rating.expired": "有效期届满",
    "reply.published": "企业回应",
    "run.published": "批次发布",
    "methodology.published": "发布评价方法",
}
REVIEW_LABELS = {"keep": "维持", "downgrade": "降级", "cancel": "撤销"}


def _ctx(**values: Any) -> dict[str, Any]:
    return {
        "grade_class": GRADE_CLASS,
        "grade_meaning": GRADE_MEANING,
        "grades": GRADES,
        "event_labels": EVENT_LABELS,
        "review_labels": REVIEW_LABELS,
        **values,
    }


def _error_text(exc: Exception) -> str:
    if isinstance(exc, GongzhiError):
        return exc.detail_zh
    if isinstance(exc, ValidationError):
        return "填写的内容不符合要求：" + "；".join(
            f"{'.'.join(str(p) for p in e['loc'])} {e['msg']}" for e in exc.errors()
        )
    raise exc


def chart_rows(breakdown: list[dict[str, Any]]) -> dict[str, Any]:
    """Numbers for the server-rendered SVG bar chart: each indicator's points against the most
    it could earn (its weight, scaled like the score when some indicators have no data)."""
    included = sum(i["weight"] for i in breakdown if i["included"]) or 1
    scale = Decimal(100) / Decimal(included)
    rows = []
    width = 200
    top = max(
        (Decimal(i["weight"]) * scale for i in breakdown if i["included"]), default=Decimal(1)
    )
    for n, item in enumerate(breakdown):
        possible = Decimal(item["weight"]) * scale if item["included"] else Decimal(0)
        points = Decimal(item["points"])
        rows.append(
            {
                "y": 8 + n * 30,
                "name": item["name"],
                "included": item["included"],
                "possible": f"{possible:.1f}",
                "points": f"{points:.1f}",
                "possible_w": int(possible / top * width) if item["included"] else 0,
                "points_w": int(points / top * width) if item["included"] else 0,
            }
        )
    return {"rows": rows, "height": 16 + len(rows) * 30, "x": 160, "width": width}


# --- public ------------------------------------------------------------------------------------


@router.get("/credit")
async def ratings_page(
    request: Request,
    session: DbSession,
    now: Now,
    user: OptionalUser,
    industry: str | None = None,
    grade: str | None = None,
    region: str | None = None,
    q: str | None = None,
    page: int = 1,
) -> Response:
    error = None
    rows: list[Any] = []
    total = 0
    page = max(1, min(page, 10000))
    try:
        rows, total = await service.list_ratings(
            session,
            today=service.local_date(now),
            industry=industry or None,
            grade=grade or None,
            region=region or None,
            q=(q or "").strip()[:100] or None,
            page=page,
            per_page=20,
        )
    except GongzhiError as exc:
        error = exc.detail_zh
    ratings = [rating_read(r, e, o) for r, e, o in rows]
    query = {"industry": industry or "", "grade": grade or "", "region": region or "", "q": q or ""}
    base = "&".join(f"{k}={quote(v)}" for k, v in query.items() if v)
    return render(
        request,
        "credit/ratings.html",
        _ctx(
            user=user,
            ratings=ratings,
            total=total,
            page=page,
            pages=max(1, (total + 19) // 20),
            query=query,
            base_query=base,
            industries=await service.industries(session),
            notices=[
                (r, o)
                for r, o in await service.list_notices(session)
                if service.accepting_objections(r, now)
            ],
            error=error,
        ),
        status_code=422 if error else 200,
    )


@router.get("/credit/enterprises/{uscc}")
async def enterprise_page(
    request: Request, session: DbSession, now: Now, user: OptionalUser, uscc: str
) -> Response:
    try:
        detail = await service.enterprise_detail(session, uscc, today=service.local_date(now))
    except GongzhiError as exc:
        return render(
            request,
            "credit/not_found.html",
            _ctx(user=user, message=exc.detail_zh),
            status_code=exc.status,
        )
    score = detail["score"]
    history = []
    for event in detail["events"]:
        body = json.loads(event.body)
        history.append({"seq": event.seq, "kind": event.kind, "body": body, "hash": event.hash})
    current = detail["current"]
    return render(
        request,
        "credit/enterprise.html",
        _ctx(
            user=user,
            enterprise=detail["enterprise"],
            current=rating_read(current[0], detail["enterprise"], current[1]) if current else None,
            others=[rating_read(r, detail["enterprise"], o) for r, o in detail["ratings"]],
            breakdown=score.breakdown if score else None,
            evidence_hash=score.evidence_hash if score else None,
            chart=chart_rows(score.breakdown) if score else None,
            history=history,
            notices=detail["notices"],
        ),
    )


@router.get("/credit/notices")
async def notices_page(
    request: Request, session: DbSession, now: Now, user: OptionalUser
) -> Response:
    return render(
        request,
        "credit/notices.html",
        _ctx(
            user=user,
            notices=await service.list_notices(session),
            now=now,
            accepting=service.accepting_objections,
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
        detail = await service.notice_detail(session, batch_id)
    except GongzhiError as exc:
        return render(
            request,
            "credit/not_found.html",
            _ctx(user=user, message=exc.detail_zh),
            status_code=exc.status,
        )
    return render(
        request,
        "credit/notice.html",
        _ctx(
            user=user,
            run=detail["run"],
            association=detail["association"],
            methodology=detail["methodology"],
            scores=detail["scores"],
            objections=detail["objections"],
            accepting=service.accepting_objections(detail["run"], now),
            message=message,
            error=error,
            form=form or {},
        ),
        status_code=status_code,
    )


@router.get("/credit/notices/{batch_id}")
async def notice_page(
    request: Request, session: DbSession, now: Now, user: OptionalUser, batch_id: uuid.UUID
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
    uscc: Annotated[str, Form(max_length=40)],
    objector_kind: Annotated[str, Form(max_length=16)],
    name: Annotated[str, Form(max_length=100)],
    contact: Annotated[str, Form(max_length=100)],
    text: Annotated[str, Form(max_length=5000)],
) -> Response:
    form = {
        "uscc": uscc,
        "objector_kind": objector_kind,
        "name": name,
        "contact": contact,
        "text": text,
    }
    try:
        await limiter_for(request).hit(client_key(request))
        data = ObjectionCreate(
            batch_id=batch_id,
            uscc=uscc,
            objector_kind=objector_kind,  # type: ignore[arg-type]  # validated by the model
            name=name,
            contact=contact,
            text=text,
        )
        objection = await service.lodge_objection(session, data=data, settings=settings, now=now)
    except (GongzhiError, ValidationError) as exc:
        await session.rollback()
        status = exc.status if isinstance(exc, GongzhiError) else 422
        return await _render_notice(
            request,
            session,
            now,
            user,
            batch_id,
            error=_error_text(exc),
            form=form,
            status_code=status,
        )
    return await _render_notice(
        request,
        session,
        now,
        user,
        batch_id,
        message=f"异议已提交，编号 {objection.id}。协会将在公示期结束后书面答复，您的联系方式不会公开。",
        status_code=201,
    )


@router.get("/credit/methodology")
async def methodology_page(request: Request, session: DbSession, user: OptionalUser) -> Response:
    rows = []
    for m in await service.list_methodologies(session):
        rows.append((m, Method.from_definition(m.code, m.version, m.definition)))
    return render(request, "credit/methodology.html", _ctx(user=user, methodologies=rows))


# --- back office -------------------------------------------------------------------------------


def _may_manage(user: User | None) -> bool:
    return (
        user is not None
        and role_allows(user.role, Action.credit_manage)
        and user.organization_id is not None
    )


@router.get("/credit/manage")
async def manage_page(
    request: Request, session: DbSession, now: Now, user: OptionalUser, msg: str | None = None
) -> Response:
    return await _render_manage(request, session, now, user, message=(msg or "")[:200] or None)


async def _render_manage(
    request: Request,
    session: DbSession,
    now: datetime,
    user: User | None,
    *,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    if user is None:
        return RedirectResponse("/login?next=/credit/manage", status_code=303)
    if not _may_manage(user):
        return render(
            request,
            "credit/not_found.html",
            _ctx(user=user, message="协会后台仅供行业协会工作人员使用。"),
            status_code=403,
        )
    org = await service.acting_association(session, user)
    methodology = await service.methodology_for(session, org)
    method = Method.from_definition(methodology.code, methodology.version, methodology.definition)
    runs = await service.list_runs(session, org)
    members = await service.list_members(session, org)
    return render(
        request,
        "credit/manage.html",
        _ctx(
            user=user,
            association=org,
            methodology=methodology,
            entry_indicators=[i for i in method.indicators if i.kind == "association_entry"],
            members=members,
            member_values={e.uscc: values for e, _, values in members},
            runs=runs,
            objections=await service.list_objections(
                session, association=org, status=ObjectionStatus.pending
            ),
            ratings=await service.pending_reviews(session, org),
            accepting=lambda run: service.accepting_objections(run, now),
            now=now,
            message=message,
            error=error,
        ),
        status_code=status_code,
    )


async def _manage_action(
    request: Request, session: DbSession, user: User | None, now: datetime, action: Any
) -> Response:
    if not _may_manage(user):
        return RedirectResponse("/login?next=/credit/manage", status_code=303)
    assert user is not None
    try:
        org = await service.acting_association(session, user)
        message = await action(org)
    except (GongzhiError, ValidationError) as exc:
        await session.rollback()
        status = exc.status if isinstance(exc, GongzhiError) else 422
        return await _render_manage(
            request, session, now, user, error=_error_text(exc), status_code=status
        )
    return RedirectResponse(f"/credit/manage?msg={quote(message)}", status_code=303)


@router.post("/credit/manage/members")
async def manage_add_member(
    request: Request,
    session: DbSession,
    now: Now,
    user: OptionalUser,
    uscc: Annotated[str, Form(max_length=40)],
    name: Annotated[str, Form(max_length=200)],
    region_code: Annotated[str, Form(max_length=6)],
    address: Annotated[str, Form(max_length=300)] = "",
) -> Response:
    async def action(org: Any) -> str:
        data = EnterpriseCreate(uscc=uscc, name=name, region_code=region_code, address=address)
        enterprise, _ = await service.add_member(
            session, actor=user, association=org, data=data, now=now
        )
        return f"已添加会员：{enterprise.name}"

    return await _manage_action(request, session, user, now, action)


@router.post("/credit/manage/members/{uscc}/indicators")
async def manage_indicators(
    request: Request, session: DbSession, now: Now, user: OptionalUser, uscc: str
) -> Response:
    form = await request.form()

    async def action(org: Any) -> str:
        methodology = await service.methodology_for(session, org)
        codes = Method.from_definition(
            methodology.code, methodology.version, methodology.definition
        ).entry_codes()
        values = {code: form.get(code) == "on" for code in codes}
        assert user is not None
        await service.set_indicators(
            session,
            actor=user,
            association=org,
            uscc=uscc,
            data=IndicatorValues(values=values, note=str(form.get("note") or "")[:500]),
            now=now,
        )
        return "已保存协会填报指标"

    return await _manage_action(request, session, user, now, action)


@router.post("/credit/manage/runs")
async def manage_start_run(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    now: Now,
    user: OptionalUser,
    title: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    async def action(org: Any) -> str:
        run = await service.start_run(
            session,
            actor=user,
            association=org,
            data=RunCreate(title=title or None),
            settings=settings,
            now=now,
        )
        return f"已生成评价草稿：{run.title}（{run.enterprise_count} 家）"

    return await _manage_action(request, session, user, now, action)


@router.post("/credit/manage/runs/{run_id}/notice")
async def manage_open_notice(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    now: Now,
    user: OptionalUser,
    run_id: uuid.UUID,
) -> Response:
    async def action(org: Any) -> str:
        assert user is not None
        await service.open_notice(
            session, actor=user, association=org, run_id=run_id, settings=settings, now=now
        )
        return "已开始公示"

    return await _manage_action(request, session, user, now, action)


@router.post("/credit/manage/runs/{run_id}/publish")
async def manage_publish(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    now: Now,
    user: OptionalUser,
    run_id: uuid.UUID,
) -> Response:
    async def action(org: Any) -> str:
        assert user is not None
        run = await service.publish_run(
            session, actor=user, association=org, run_id=run_id, settings=settings, now=now
        )
        return f"已发布评价结果，有效期至 {run.valid_until}"

    return await _manage_action(request, session, user, now, action)


@router.post("/credit/manage/objections/{objection_id}/decision")
async def manage_decide(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    now: Now,
    user: OptionalUser,
    objection_id: uuid.UUID,
    decision: Annotated[str, Form(max_length=16)],
    reasons: Annotated[str, Form(max_length=5000)],
) -> Response:
    form = await request.form()

    async def action(org: Any) -> str:
        assert user is not None
        indicators = None
        if decision == "upheld" and form.get("correct_indicators") == "on":
            methodology = await service.methodology_for(session, org)
            codes = Method.from_definition(
                methodology.code, methodology.version, methodology.definition
            ).entry_codes()
            indicators = {code: form.get(code) == "on" for code in codes}
        data = ObjectionDecision(
            decision=decision,  # type: ignore[arg-type]  # validated by the model
            reasons=reasons,
            indicators=indicators,
        )
        objection = await service.decide_objection(
            session,
            actor=user,
            association=org,
            objection_id=objection_id,
            data=data,
            settings=settings,
            now=now,
        )
        return f"异议已处理：{objection.grade_before} → {objection.grade_after}"

    return await _manage_action(request, session, user, now, action)


@router.post("/credit/manage/ratings/{uscc}/review")
async def manage_review(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    now: Now,
    user: OptionalUser,
    uscc: str,
    outcome: Annotated[str, Form(max_length=16)],
    reasons: Annotated[str, Form(max_length=5000)],
    grade: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    async def action(org: Any) -> str:
        assert user is not None
        data = ReviewCreate(outcome=outcome, grade=grade or None, reasons=reasons)  # type: ignore[arg-type]
        rating = await service.review_rating(
            session, actor=user, association=org, uscc=uscc, data=data, settings=settings, now=now
        )
        return f"复核完成：{REVIEW_LABELS[outcome]}，当前等级 {rating.grade}"

    return await _manage_action(request, session, user, now, action)


@router.post("/credit/manage/ratings/{uscc}/reply")
async def manage_reply(
    request: Request,
    session: DbSession,
    settings: SettingsDep,
    now: Now,
    user: OptionalUser,
    uscc: str,
    text: Annotated[str, Form(max_length=2000)],
) -> Response:
    async def action(org: Any) -> str:
        assert user is not None
        await service.publish_reply(
            session,
            actor=user,
            association=org,
            uscc=uscc,
            data=ReplyCreate(text=text),
            settings=settings,
            now=now,
        )
        return "已发布企业回应"

    return await _manage_action(request, session, user, now, action)
