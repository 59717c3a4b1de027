"""The association back office: members and indicators, runs, the 公示, objections, reviews and
replies. Forms post here and call the same services as the JSON API; when a service refuses, the
transaction is rolled back before the page is rendered with the reason, so nothing half-done is
ever committed."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from credit import members, methodologies, objections, ratings, runs
from credit.deps import Now
from credit.models import ObjectionStatus
from credit.pages.common import REVIEW_LABELS, ctx, error_text
from credit.schemas import (
    EnterpriseCreate,
    IndicatorValues,
    ObjectionDecision,
    ReplyCreate,
    ReviewCreate,
    RunCreate,
)
from credit.scoring import Method
from portal.accounts.auth import OptionalUser
from portal.accounts.models import Organization, User
from portal.accounts.permissions import Action, role_allows
from portal.db import DbSession
from portal.deps import SettingsDep
from portal.errors import GongzhiError
from portal.web import render

router = APIRouter(include_in_schema=False)

# A back-office form's work for the acting association: returns the message shown after it.
FormWork = Callable[[Organization], Awaitable[str]]


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
            ctx(user=user, message="协会后台仅供行业协会工作人员使用。"),
            status_code=403,
        )
    org = await members.acting_association(session, user)
    methodology = await methodologies.methodology_for(session, org)
    method = Method.from_definition(methodology.code, methodology.version, methodology.definition)
    batches = await runs.list_runs(session, org)
    member_rows = await members.list_members(session, org)
    return render(
        request,
        "credit/manage.html",
        ctx(
            user=user,
            association=org,
            methodology=methodology,
            entry_indicators=[i for i in method.indicators if i.kind == "association_entry"],
            members=member_rows,
            member_values={row.enterprise.uscc: row.indicators for row in member_rows},
            runs=batches,
            objections=await objections.list_objections(
                session, association=org, status=ObjectionStatus.pending
            ),
            ratings=await ratings.pending_reviews(session, org),
            accepting=lambda run: runs.accepting_objections(run, now),
            now=now,
            message=message,
            error=error,
        ),
        status_code=status_code,
    )


async def _manage_action(
    request: Request, session: DbSession, user: User | None, now: datetime, action: FormWork
) -> Response:
    if not _may_manage(user):
        return RedirectResponse("/login?next=/credit/manage", status_code=303)
    assert user is not None
    try:
        org = await members.acting_association(session, user)
        message = await action(org)
    except (GongzhiError, ValidationError) as exc:
        await session.rollback()
        status = exc.status if isinstance(exc, GongzhiError) else 422
        return await _render_manage(
            request, session, now, user, error=error_text(exc), status_code=status
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
    async def action(org: Organization) -> str:
        data = EnterpriseCreate(uscc=uscc, name=name, region_code=region_code, address=address)
        row = await members.add_member(session, actor=user, association=org, data=data, now=now)
        return f"已添加会员：{row.name}"

    return await _manage_action(request, session, user, now, action)


@router.post("/credit/manage/members/{uscc}/indicators")
async def manage_indicators(
    request: Request, session: DbSession, now: Now, user: OptionalUser, uscc: str
) -> Response:
    form = await request.form()

    async def action(org: Organization) -> str:
        methodology = await methodologies.methodology_for(session, org)
        codes = Method.from_definition(
            methodology.code, methodology.version, methodology.definition
        ).entry_codes()
        values = {code: form.get(code) == "on" for code in codes}
        assert user is not None
        await members.set_indicators(
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
    async def action(org: Organization) -> str:
        run = await runs.start_run(
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
    async def action(org: Organization) -> str:
        assert user is not None
        await runs.open_notice(
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
    async def action(org: Organization) -> str:
        assert user is not None
        run = await runs.publish_run(
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

    async def action(org: Organization) -> str:
        assert user is not None
        indicators = None
        if decision == "upheld" and form.get("correct_indicators") == "on":
            methodology = await methodologies.methodology_for(session, org)
            codes = Method.from_definition(
                methodology.code, methodology.version, methodology.definition
            ).entry_codes()
            indicators = {code: form.get(code) == "on" for code in codes}
        data = ObjectionDecision(
            decision=decision,  # validated by the model
            reasons=reasons,
            indicators=indicators,
        )
        objection = await objections.decide_objection(
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
    async def action(org: Organization) -> str:
        assert user is not None
        data = ReviewCreate(outcome=outcome, grade=grade or None, reasons=reasons)
        row = await ratings.review_rating(
            session, actor=user, association=org, uscc=uscc, data=data, settings=settings, now=now
        )
        return f"复核完成：{REVIEW_LABELS[outcome]}，当前等级 {row.rating.grade}"

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
    async def action(org: Organization) -> str:
        assert user is not None
        await ratings.publish_reply(
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
