"""The bureau's follow-ups page (后续处置): the failed inspections' orders to correct and penalty
cases of its region, overdue ones first, each with its deadline and the steps its status allows
as plain forms (no script: a phone on a weak signal submits and gets the page back)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlmodel import col

from enforcement import follow_ups, names
from enforcement.follow_up_schemas import CASE_NUMBER
from enforcement.models import FollowUpKind
from portal import clock
from portal.accounts.models import Organization, User
from portal.accounts.permissions import Action
from portal.db import DbSession
from portal.errors import GongzhiError
from portal.pagination import PageRequest
from portal.types import IsoDate
from portal.web import error_page, render, staff_page

router = APIRouter(include_in_schema=False)

FollowUpPage = Annotated[User | Response, staff_page(Action.inspection_manage)]
PER_PAGE = 100
# The page's views: what is still to do (overdue first), or one status.
VIEWS = {
    "todo": "待办（办理中和已逾期）",
    "overdue": "已逾期",
    "corrected": "已改正",
    "case_filed": "已立案",
    "closed": "已办结",
}
Text = Annotated[str, Form(min_length=1, max_length=1000, pattern=r"\S")]


def _refused(request: Request, exc: GongzhiError) -> Response:
    """A step refused: why, in Chinese, with the way back (error.html shows only the status)."""
    return render(
        request,
        "enforcement/follow_up_error.html",
        {"status": exc.status, "message": exc.detail_zh},
        status_code=exc.status,
    )


def _done(follow_up_id: uuid.UUID, step: str) -> Response:
    return RedirectResponse(
        f"/backoffice/follow-ups?done={step}#follow-up-{follow_up_id}", status_code=303
    )


@router.get("/backoffice/follow-ups")
async def follow_up_list(request: Request, session: DbSession, user: FollowUpPage) -> Response:
    if isinstance(user, Response):
        return user
    view = request.query_params.get("view", "todo")
    view = view if view in VIEWS else "todo"
    page = PageRequest(page=1, per_page=PER_PAGE)
    try:
        if view == "todo":
            overdue, overdue_total = await follow_ups.list_for(
                session, actor=user, status="overdue", page=page
            )
            within, within_total = await follow_ups.list_for(
                session, actor=user, status="open", page=page
            )
            found, total = [*overdue, *within], overdue_total + within_total
        else:
            found, total = await follow_ups.list_for(
                session,
                actor=user,
                status=view,  # type: ignore[arg-type]  # one of VIEWS, checked above
                page=page,
            )
    except GongzhiError as exc:
        return error_page(request, exc)
    rows = await session.execute(
        select(col(Organization.id), col(Organization.name), col(Organization.address)).where(
            col(Organization.id).in_({f.site_id for f in found})
        )
    )
    sites = {r[0]: (r[1], r[2] or "") for r in rows.all()}
    today = clock.today()
    return render(
        request,
        "enforcement/follow_ups.html",
        {
            "user": user,
            "view": view,
            "views": VIEWS,
            "follow_ups": found,
            "total": total,
            "shown": len(found),
            "sites": sites,
            "events": await follow_ups.events_of(session, [f.id for f in found]),
            "districts": await names.region_names(session, {f.district for f in found}),
            "status": {f.id: follow_ups.shown_status(f, today) for f in found},
            "today": today,
            "kind_zh": follow_ups.KIND_ZH,
            "status_zh": follow_ups.STATUS_ZH,
            "action_zh": follow_ups.ACTION_ZH,
            "done": request.query_params.get("done", "") in follow_ups.ACTION_ZH,
            "correct": FollowUpKind.correct,
        },
    )


@router.post("/backoffice/follow-ups/{follow_up_id}/correction")
async def follow_up_correction(
    request: Request,
    session: DbSession,
    user: FollowUpPage,
    follow_up_id: uuid.UUID,
    evidence: Text,
    reinspected_on: Annotated[IsoDate, Form()],
) -> Response:
    if isinstance(user, Response):
        return user
    try:
        await follow_ups.record_correction(
            session, follow_up_id, actor=user, evidence=evidence, reinspected_on=reinspected_on
        )
    except GongzhiError as exc:
        return _refused(request, exc)
    return _done(follow_up_id, "corrected")


@router.post("/backoffice/follow-ups/{follow_up_id}/case")
async def follow_up_case(
    request: Request,
    session: DbSession,
    user: FollowUpPage,
    follow_up_id: uuid.UUID,
    case_number: Annotated[str, Form(min_length=1, max_length=64, pattern=CASE_NUMBER)],
    note: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    if isinstance(user, Response):
        return user
    try:
        await follow_ups.file_case(
            session, follow_up_id, actor=user, case_number=case_number, note=note
        )
    except GongzhiError as exc:
        return _refused(request, exc)
    return _done(follow_up_id, "case_filed")


@router.post("/backoffice/follow-ups/{follow_up_id}/close")
async def follow_up_close(
    request: Request,
    session: DbSession,
    user: FollowUpPage,
    follow_up_id: uuid.UUID,
    outcome: Text,
    # The status the page showed (its form's words depend on it: 不予立案 or 办结情况).
    expected_status: Annotated[Literal["open", "corrected", "case_filed"] | None, Form()] = None,
) -> Response:
    if isinstance(user, Response):
        return user
    try:
        await follow_ups.close(
            session, follow_up_id, actor=user, outcome=outcome, expected_status=expected_status
        )
    except GongzhiError as exc:
        return _refused(request, exc)
    return _done(follow_up_id, "closed")
