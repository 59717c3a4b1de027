"""Portal pages. Named ``routes`` like every domain's route module; these return HTML."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.security import OAuth2PasswordRequestForm
from fastapi_users import exceptions as fu_exceptions
from pydantic import ValidationError

from portal.accounts.auth import (
    COOKIE_NAME,
    EMAIL_MAX_LENGTH,
    PASSWORD_MAX_LENGTH,
    OptionalUser,
    UserManagerDep,
    cookie_strategy,
)
from portal.accounts.models import User
from portal.accounts.schemas import UserCreate
from portal.db import DbSession
from portal.errors import RateLimited
from portal.regions.models import Region
from portal.settings import Environment, Settings
from portal.web import render, render_public

router = APIRouter(include_in_schema=False)


# Where the login page may send the user afterwards: a path on this site, bounded.
NEXT_MAX_LENGTH = 2048


def _safe_next(target: str | None) -> str:
    """Only local paths: an open redirect after login is a phishing tool. Browsers read ``\\`` as
    ``/`` and drop tabs and line breaks, so ``/\\evil.example`` and ``/<TAB>/evil.example`` are
    ``//evil.example`` to them: refused like it, not left to the Location header's escaping."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target)
    ):
        return "/account"
    return target


async def _login_redirect(request: Request, user: User, target: str) -> Response:
    settings: Settings = request.app.state.settings
    token = await cookie_strategy(settings).write_token(user)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=settings.cookie_lifetime_seconds,
        httponly=True,
        secure=settings.env is Environment.production,
        samesite="lax",
    )
    return response


@router.get("/")
async def home(request: Request, user: OptionalUser) -> Response:
    return render_public(request, "home.html", {"user": user})


@router.get("/login")
async def login_form(
    request: Request,
    user: OptionalUser,
    next: Annotated[str | None, Query(max_length=NEXT_MAX_LENGTH)] = None,
) -> Response:
    return render(request, "login.html", {"user": user, "next": _safe_next(next), "error": None})


@router.post("/login")
async def login_submit(
    request: Request,
    user_manager: UserManagerDep,
    email: Annotated[str, Form(max_length=EMAIL_MAX_LENGTH)],
    password: Annotated[str, Form(max_length=PASSWORD_MAX_LENGTH)],
    next: Annotated[str | None, Form(max_length=NEXT_MAX_LENGTH)] = None,
) -> Response:
    credentials = OAuth2PasswordRequestForm(username=email, password=password)
    user = await user_manager.authenticate(credentials)
    if user is None or not user.is_active:
        return render(
            request,
            "login.html",
            {"user": None, "next": _safe_next(next), "error": "邮箱或密码错误", "email": email},
            status_code=400,
        )
    return await _login_redirect(request, user, _safe_next(next))


@router.get("/register")
async def register_form(request: Request, user: OptionalUser) -> Response:
    return render(request, "register.html", {"user": user, "error": None})


@router.post("/register")
async def register_submit(
    request: Request,
    user_manager: UserManagerDep,
    email: Annotated[str, Form(max_length=EMAIL_MAX_LENGTH)],
    password: Annotated[str, Form(max_length=PASSWORD_MAX_LENGTH)],
    display_name: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    error = None
    status_code = 400
    headers: dict[str, str] = {}
    try:
        data = UserCreate(email=email, password=password, display_name=display_name)
        user = await user_manager.create(data, safe=True, request=request)
    except ValidationError:
        error = "请填写有效的邮箱，密码至少 8 位"
    except fu_exceptions.UserAlreadyExists:
        error = "该邮箱已注册，请直接登录"
    except fu_exceptions.InvalidPasswordException as exc:
        error = f"密码不符合要求：{exc.reason}"
    except RateLimited as exc:
        error = f"注册过于频繁，请 {exc.extra.get('retry_after', 60)} 秒后再试"
        status_code, headers = 429, exc.headers or {}
    if error is not None:
        response = render(
            request,
            "register.html",
            {"user": None, "error": error, "email": email, "display_name": display_name},
            status_code=status_code,
        )
        response.headers.update(headers)
        return response
    return await _login_redirect(request, user, "/account")


@router.post("/logout")
async def logout(request: Request, session: DbSession, user: OptionalUser) -> Response:
    """Ends the session on the server too: the cookie's token is revoked, not only forgotten by
    this browser (a copy of it stops working)."""
    token = request.cookies.get(COOKIE_NAME)
    if token and user is not None:
        await cookie_strategy(request.app.state.settings, session).destroy_token(token, user)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE_NAME)
    return response


@router.get("/account")
async def account(request: Request, session: DbSession, user: OptionalUser) -> Response:
    if user is None:
        return RedirectResponse("/login?next=/account", status_code=303)
    region = await session.get(Region, user.region_code) if user.region_code else None
    return render(request, "account.html", {"user": user, "region": region})
