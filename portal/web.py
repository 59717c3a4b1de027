"""Server-rendered pages: the Jinja2 environment shared by every domain's ``pages`` module.

Templates live in each package's ``templates/`` folder (``portal/templates`` holds the layout);
all are searched, so a domain's page can ``{% extends "base.html" %}``.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader

from portal.accounts.auth import OptionalUser
from portal.accounts.models import User
from portal.accounts.permissions import Action, role_allows
from portal.clock import SHANGHAI
from portal.domains import DOMAINS, modules
from portal.errors import GongzhiError

ROOT = Path(__file__).resolve().parent.parent


def _template_dirs() -> list[str]:
    dirs = []
    for domain in DOMAINS:
        path = ROOT.joinpath(*domain.split("."), "templates")
        if path.is_dir():
            dirs.append(str(path))
    top = ROOT / "portal" / "templates"
    if str(top) not in dirs:
        dirs.append(str(top))
    return dirs


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Stored in UTC, shown in Asia/Shanghai."""
    if value is None:
        return ""
    if value.tzinfo is None:
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return value.astimezone(SHANGHAI).strftime(fmt)


templates = Jinja2Templates(directory=_template_dirs()[-1])
templates.env.loader = ChoiceLoader([FileSystemLoader(d) for d in _template_dirs()])
templates.env.filters["local_time"] = local_time


@cache
def nav_items() -> tuple[dict[str, str], ...]:
    """Collected once per process: the domains are fixed at start-up, and looking for each
    domain's ``nav`` module on every request cost a failed import (a walk of sys.path) for each
    domain without one, about 4 ms of every page."""
    items: list[dict[str, str]] = []
    for _, module in modules("nav"):
        items.extend(getattr(module, "ITEMS", []))
    return tuple(items)


def _calendar_warnings(request: Request, user: Any) -> list[str]:
    """Staff see, on every page, each year deadlines may reach whose holidays are not loaded."""
    from portal import clock, workdays
    from portal.accounts.models import Role
    from portal.workdays.settings import CalendarSettings

    if getattr(user, "role", None) not in (Role.regulator, Role.admin):
        return []
    config = request.app.state.settings.of(CalendarSettings)
    return workdays.coverage(
        clock.today(), horizon_days=config.calendar_warning_horizon_days
    ).warnings


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> HTMLResponse:
    ctx = {"nav": nav_items(), "user": getattr(request.state, "user", None)}
    ctx.update(context or {})
    ctx["calendar_warnings"] = _calendar_warnings(request, ctx["user"])
    return templates.TemplateResponse(request, name, ctx, status_code=status_code)


def error_page(request: Request, exc: GongzhiError) -> HTMLResponse:
    """A domain error on a portal page: the error page with its status and Chinese message (the
    API's handler answers problem+json instead)."""
    return render(
        request,
        "error.html",
        {"status": exc.status, "message": exc.detail_zh},
        status_code=exc.status,
    )


def public_page(
    request: Request,
    response: Response,
    *,
    user: Any,
    max_age: int,
    shared_max_age: int | None = None,
) -> Response:
    """HTTP caching for a page anyone may see.

    Anonymous: a strong ETag over the body (a matching If-None-Match gets 304 and no body) and a
    ``Cache-Control`` a browser and a CDN may honour for ``max_age`` seconds. ``Vary: Cookie,
    Authorization`` keeps a shared cache from serving that copy to someone logged in, whose page
    shows their name and links (and whose request a CDN normally passes through).
    Logged in: ``private, no-store``: a personal page is never stored by anyone."""
    if user is not None or response.status_code >= 500:
        response.headers["Cache-Control"] = "private, no-store"
        return response
    body = bytes(response.body)
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={max_age}"
        + (f", s-maxage={shared_max_age}" if shared_max_age is not None else ""),
        "Vary": "Cookie, Authorization",
    }
    if response.status_code == 200 and etag in _etags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return response


def render_public(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    max_age: int = 60,
    shared_max_age: int | None = None,
    status_code: int = 200,
) -> Response:
    """A page anyone may see, rendered and given ``public_page``'s caching: the same for every
    anonymous visitor of the URL (a browser, a CDN and the app's own page cache may keep it for
    ``max_age`` seconds), personal as soon as ``context["user"]`` is someone. A page that shows
    what its visitor has just done (an objection on a 公示 list) gives browsers ``max_age=0``
    (they ask again, with the ETag) and shared caches ``shared_max_age``."""
    response = render(request, name, context, status_code=status_code)
    return public_page(
        request,
        response,
        user=context.get("user"),
        max_age=max_age,
        shared_max_age=shared_max_age,
    )


def _etags(header: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in header.split(",")] if header else []


# -- back-office pages: who may open them ------------------------------------------------------


class _StaffOnly(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _staff(request: Request, user: User | None, action: Action) -> User:
    if user is None:
        raise _StaffOnly(RedirectResponse(f"/login?next={request.url.path}", status_code=303))
    if not role_allows(user.role, action):
        raise _StaffOnly(render(request, "error.html", {"status": 403}, status_code=403))
    return user


def staff_page(action: Action) -> Any:
    """A page dependency: the signed-in user allowed ``action``; anyone else is sent to the
    login page (not signed in) or shown the 403 page, as a response the page returns as is."""

    async def dependency(request: Request, user: OptionalUser) -> User | Response:
        try:
            return _staff(request, user, action)
        except _StaffOnly as exc:
            return exc.response

    return Depends(dependency)
