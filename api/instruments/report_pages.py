"""Portal pages that report rather than edit: the verification plan (检定计划) of an owner or an
institution, as month calendars and a list, and the regulator's regional statistics. Apart from
pages.py so that neither outgrows one reading; pages.py includes this router."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.instruments import plans, statistics
from api.instruments.pages import TONES, _forbidden, _login
from api.instruments.settings import InstrumentsConfig
from portal import clock
from portal.accounts.auth import OptionalUser
from portal.accounts.models import Role, User
from portal.accounts.permissions import Action, role_allows
from portal.db import DbSession
from portal.errors import GongzhiError
from portal.web import render, staff_page

router: APIRouter = APIRouter(include_in_schema=False)


@router.get("/owner/plan")
async def owner_plan(request: Request, session: DbSession, user: OptionalUser) -> Response:
    """The owner's 检定计划: what falls due, as month calendars and a list."""
    if user is None:
        return _login(request)
    if user.role != Role.owner:
        return _forbidden(request, user)
    return await _plan_page(request, session, user)


@router.get("/backoffice/plan")
async def institution_plan(request: Request, session: DbSession, user: OptionalUser) -> Response:
    """The institution's 检定计划: the instruments its owners applied to it for."""
    if user is None:
        return _login(request)
    if not role_allows(user.role, Action.application_handle):
        return _forbidden(request, user)
    return await _plan_page(request, session, user)


async def _plan_page(request: Request, session: DbSession, user: User) -> Response:
    asked = request.query_params.get("months", "3")
    # ASCII digits only: str.isdigit is true of "²", which int() refuses (a 500).
    plain = asked.isascii() and asked.isdigit() and len(asked) <= 2
    months = int(asked) if plain and 1 <= int(asked) <= 24 else 3
    until, items, cut = await plans.plan(session, actor=user, months=months)
    today = clock.today()
    return render(
        request,
        "instruments/plan.html",
        {
            "user": user,
            "role": user.role.value,
            "here": request.url.path,
            "months": months,
            "until": until,
            "today": today,
            "items": items,
            "cut": cut,
            "calendars": plans.month_calendars(items, today=today, until=until),
            "overdue": [i for i in items if i.due_on < today],
            "actions": plans.ACTION_ZH,
            "tones": TONES,
        },
    )


# --- regional statistics (辖区强检器具统计) ----------------------------------------------------------

STATISTICS_TONES = {
    "valid": "ok",
    "expiring": "warn",
    "expired": "bad",
    "unverified": "info",
    "failed": "bad",
    "retired": "muted",
}
RegulatorPage = Annotated[User | Response, staff_page(Action.instrument_statistics_view)]


def month_bars(months: list[Any], *, height: int = 120) -> dict[str, Any]:
    """The geometry of the 12-month chart (an inline SVG, no script): one bar per month for the
    verifications (the failed part darker) and a dot for the new registrations, on one scale."""
    top = max([m.verified for m in months] + [m.registered for m in months] + [1])
    width = 30
    bars = []
    for n, m in enumerate(months):
        x = 30 + n * width
        total = round(m.verified / top * height)
        failed = round(m.failed / top * height)
        bars.append(
            {
                "x": x,
                "label": str(int(m.month[5:])),
                "verified_y": 10 + height - total,
                "verified_h": total,
                "failed_y": 10 + height - failed,
                "failed_h": failed,
                "registered_y": 10 + height - round(m.registered / top * height),
                "month": m,
            }
        )
    return {"bars": bars, "top": top, "height": height, "width": 30 + 12 * width + 10}


@router.get("/backoffice/instrument-statistics")
async def statistics_page(
    request: Request,
    session: DbSession,
    user: RegulatorPage,
    config: InstrumentsConfig,
    region: Annotated[str, Query(max_length=6)] = "",
) -> Response:
    if isinstance(user, Response):
        return user
    code = region if len(region) == 6 and region.isascii() and region.isdigit() else None
    message: str | None = None
    try:
        stats = await statistics.regional_statistics(
            session, actor=user, region=code, settings=config
        )
    except GongzhiError as exc:
        if code is None:
            raise
        # Another region, or no such code: say so and show the user's own region.
        stats = await statistics.regional_statistics(
            session, actor=user, region=None, settings=config
        )
        message = (
            "只能查看本辖区及下级区划的统计。" if exc.status == 403 else "行政区划代码不存在。"
        )
    else:
        message = None
    largest = max([s.count for s in stats.by_status] + [1])
    return render(
        request,
        "instruments/statistics.html",
        {
            "user": user,
            "stats": stats,
            "groups": [(g, name) for g, name, _ in statistics.GROUPS],
            "tones": STATISTICS_TONES,
            "largest": largest,
            "chart": month_bars(stats.months),
            "message_error": message,
        },
    )
