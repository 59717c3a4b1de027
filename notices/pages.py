"""Portal pages of enforcement notices: a notice on display, and the regulators' back office."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from notices import service
from notices.models import PartyKind
from notices.public import listing_dates, public_party_name, public_text, today
from notices.schemas import EnforcementNoticeCreate
from notices.settings import NoticesConfig
from portal import clock
from portal.accounts.auth import OptionalUser
from portal.accounts.models import User
from portal.accounts.permissions import Action
from portal.db import DbSession, read_public
from portal.errors import GongzhiError, NotFound
from portal.web import render, render_public, staff_page

router = APIRouter(include_in_schema=False)

RegulatorPage = Annotated[User | Response, staff_page(Action.notice_publish)]


@router.get("/notices/{notice_id}")
async def notice_page(request: Request, user: OptionalUser, notice_id: uuid.UUID) -> Response:
    try:
        notice = await read_public(
            request,
            lambda session: service.get_public_notice(session, notice_id),
            missing=NotFound,
        )
    except NotFound:
        return render(request, "error.html", {"status": 404}, status_code=404)
    return render_public(
        request,
        "notices/notice.html",
        {
            "user": user,
            "notice": notice,
            "party_name": public_party_name(notice),
            "title": public_text(notice, notice.title),
            "violation": public_text(notice, notice.violation),
            "legal_basis": public_text(notice, notice.legal_basis),
            "listing": listing_dates(notice, today()),
        },
    )


@router.get("/regulator/notices")
async def regulator_notices(request: Request, session: DbSession, user: RegulatorPage) -> Response:
    if isinstance(user, Response):
        return user
    notices, _ = await service.list_notices_for_staff(session, actor=user)
    return render(
        request,
        "notices/regulator_notices.html",
        {
            "user": user,
            "notices": notices,
            "form": {"region_code": user.region_code or "", "decision_date": clock.today()},
            "error": None,
            "message": request.query_params.get("done"),
        },
    )


@router.post("/regulator/notices")
async def regulator_publish(
    request: Request,
    session: DbSession,
    user: RegulatorPage,
    config: NoticesConfig,
    title: Annotated[str, Form(max_length=200)],
    decision_number: Annotated[str, Form(max_length=100)],
    party_name: Annotated[str, Form(max_length=200)],
    violation: Annotated[str, Form(max_length=20_000)],
    legal_basis: Annotated[str, Form(max_length=20_000)],
    penalty_kind: Annotated[str, Form(max_length=100)],
    authority: Annotated[str, Form(max_length=200)],
    region_code: Annotated[str, Form(max_length=6)],
    decision_date: Annotated[str, Form(max_length=10)],
    party_uscc: Annotated[str, Form(max_length=30)] = "",
    # The form's choice, enterprise first: regulators name businesses far more often.
    party_kind: Annotated[str, Form(max_length=16)] = PartyKind.enterprise.value,
    penalty_amount: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    if isinstance(user, Response):
        return user
    form = dict(await request.form())
    try:
        amount = Decimal(penalty_amount) if penalty_amount.strip() else None
        data = EnforcementNoticeCreate(
            title=title,
            decision_number=decision_number,
            party_name=party_name,
            party_uscc=party_uscc or None,
            party_kind=PartyKind(party_kind),
            violation=violation,
            legal_basis=legal_basis,
            penalty_kind=penalty_kind,
            penalty_amount=amount,
            authority=authority,
            region_code=region_code,
            decision_date=date.fromisoformat(decision_date),
        )
        await service.create_notice(session, data, actor=user, settings=config)
    except (ValidationError, GongzhiError, ValueError, InvalidOperation) as exc:
        if isinstance(exc, GongzhiError):
            message = exc.detail_zh
        elif isinstance(exc, ValidationError):
            fields = ", ".join(str(e["loc"][0]) for e in exc.errors())
            message = f"请检查以下内容：{fields}"
        else:
            message = "请检查日期和罚款金额的格式"
        notices, _ = await service.list_notices_for_staff(session, actor=user)
        return render(
            request,
            "notices/regulator_notices.html",
            {"user": user, "notices": notices, "form": form, "error": message, "message": None},
            status_code=400,
        )
    return RedirectResponse("/regulator/notices?done=published", status_code=303)


@router.post("/regulator/notices/{notice_id}/withdraw")
async def regulator_withdraw(
    request: Request,
    session: DbSession,
    user: RegulatorPage,
    notice_id: uuid.UUID,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    if isinstance(user, Response):
        return user
    try:
        await service.withdraw_notice(
            session, notice_id, reason=reason.strip() or "提前停止公示", actor=user
        )
    except GongzhiError as exc:
        return render(request, "error.html", {"status": exc.status}, status_code=exc.status)
    return RedirectResponse("/regulator/notices?done=withdrawn", status_code=303)
