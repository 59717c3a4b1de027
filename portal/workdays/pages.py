"""The administrator's back-office page for holiday arrangements: what the calendar knows, and a
form to paste the State Council's notice (preview, then import) or remove an import."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response

from portal import clock, workdays
from portal.accounts.auth import OptionalUser
from portal.accounts.models import User
from portal.accounts.permissions import Action, authorize
from portal.db import DbSession
from portal.errors import GongzhiError
from portal.web import render
from portal.workdays import service
from portal.workdays.notice import MAX_NOTICE_CHARS
from portal.workdays.settings import CalendarConfig

router = APIRouter(include_in_schema=False)

Year = Annotated[int, Path(ge=2000, le=2200)]


def _guard(request: Request, user: User | None) -> Response | None:
    if user is None:
        return RedirectResponse(f"/login?next={quote(request.url.path)}", status_code=303)
    try:
        authorize(user, Action.calendar_manage)
    except GongzhiError as exc:
        return render(
            request,
            "workdays/denied.html",
            {"user": user, "error": exc.detail_zh},
            status_code=403,
        )
    return None


async def _index(
    request: Request,
    session: DbSession,
    user: User,
    config: CalendarConfig,
    *,
    error: str | None = None,
    preview: service.YearDays | None = None,
    text: str = "",
    year: int | None = None,
    status_code: int = 200,
) -> Response:
    today = clock.today()
    horizon = config.calendar_warning_horizon_days
    first, last = workdays.covered_years()
    return render(
        request,
        "workdays/index.html",
        {
            "user": user,
            "coverage": workdays.coverage(today, horizon_days=horizon),
            "imported": await service.list_imported(session),
            "library": (first, last),
            "error": error,
            "preview": preview,
            "text": text,
            "year": year,
            "max_chars": MAX_NOTICE_CHARS,
        },
        status_code=status_code,
    )


@router.get("/admin/calendar")
async def index(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    config: CalendarConfig,
    year: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    """The coverage table and the import form; ``year`` fills in the form's year (the link of a
    year that is not imported yet)."""
    denied = _guard(request, user)
    if denied is not None:
        return denied
    assert user is not None
    return await _index(request, session, user, config, year=_form_year(year))


def _form_year(value: str) -> int | None:
    # ASCII digits only: str.isdigit is true of "²", which int() refuses (a 500).
    plain = value.isascii() and value.isdigit()
    return int(value) if plain and 2000 <= int(value) <= 2200 else None


@router.post("/admin/calendar")
async def submit(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    config: CalendarConfig,
    text: Annotated[str, Form(max_length=MAX_NOTICE_CHARS)],
    year: Annotated[str, Form(max_length=4)] = "",
    intent: Annotated[str, Form(max_length=16)] = "preview",
) -> Response:
    denied = _guard(request, user)
    if denied is not None:
        return denied
    assert user is not None
    given = _form_year(year)
    if year.strip() and given is None:
        return await _index(
            request,
            session,
            user,
            config,
            error="年份应为四位数字，如 2027。",
            text=text,
            status_code=422,
        )
    try:
        if intent == "import":
            row = await service.import_notice(session, text=text, year=given, actor=user)
            return RedirectResponse(f"/admin/calendar/{row.year}?imported=1", status_code=303)
        found = service.preview(text, year=given)
    except GongzhiError as exc:
        return await _index(
            request,
            session,
            user,
            config,
            error=exc.detail_zh,
            text=text,
            year=given,
            status_code=exc.status,
        )
    return await _index(request, session, user, config, preview=found, text=text, year=given)


@router.get("/admin/calendar/{year}")
async def year_page(
    request: Request, session: DbSession, user: OptionalUser, year: Year, imported: str = ""
) -> Response:
    denied = _guard(request, user)
    if denied is not None:
        return denied
    try:
        days = await service.year_days(session, year)
    except GongzhiError as exc:
        return render(
            request,
            "workdays/year.html",
            {"user": user, "year": year, "days": None, "error": exc.detail_zh},
            status_code=exc.status,
        )
    return render(
        request,
        "workdays/year.html",
        {"user": user, "year": year, "days": days, "imported": imported == "1", "error": None},
    )


@router.post("/admin/calendar/{year}/remove")
async def remove(
    request: Request,
    session: DbSession,
    user: OptionalUser,
    config: CalendarConfig,
    year: Year,
    confirm: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    denied = _guard(request, user)
    if denied is not None:
        return denied
    assert user is not None
    if confirm != "1":
        return await _index(
            request, session, user, config, error="请勾选“确认删除”。", status_code=422
        )
    try:
        await service.remove_year(session, year=year, actor=user)
    except GongzhiError as exc:
        return await _index(
            request, session, user, config, error=exc.detail_zh, status_code=exc.status
        )
    return RedirectResponse("/admin/calendar", status_code=303)
