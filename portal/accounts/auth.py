"""fastapi-users wiring: the user manager, a JWT bearer backend for apps, a cookie backend for
the portal, and the ``CurrentUser`` / ``OptionalUser`` dependency aliases.

The fastapi-users SQLAlchemy adapter commits inside its own calls; that is the one documented
exception to the "services never commit" rule (CONTRIBUTING.md).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi_users import BaseUserManager, FastAPIUsers, InvalidPasswordException, UUIDIDMixin
from fastapi_users.authentication import (
    AuthenticationBackend,
    BearerTransport,
    CookieTransport,
    JWTStrategy,
)
from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
from sqlalchemy.ext.asyncio import AsyncSession

from portal.accounts.models import User
from portal.accounts.schemas import UserCreate
from portal.db import get_session
from portal.settings import Environment, Settings

COOKIE_NAME = "gongzhi_session"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_user_db(
    session: Annotated[AsyncSession, Depends(get_session)],
) -> AsyncIterator[SQLAlchemyUserDatabase[User, uuid.UUID]]:
    yield SQLAlchemyUserDatabase(session, User)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):  # type: ignore[type-var]
    def __init__(self, user_db: SQLAlchemyUserDatabase, secret: str) -> None:  # type: ignore[type-arg]
        super().__init__(user_db)
        self.reset_password_token_secret = secret
        self.verification_token_secret = secret

    async def validate_password(self, password: str, user: UserCreate | User) -> None:  # type: ignore[override]
        if len(password) < 8:
            raise InvalidPasswordException(reason="Password must be at least 8 characters")
        if password.lower() in user.email.lower():
            raise InvalidPasswordException(reason="Password must not contain the e-mail")


async def get_user_manager(
    request: Request,
    user_db: Annotated[SQLAlchemyUserDatabase, Depends(get_user_db)],  # type: ignore[type-arg]
) -> AsyncIterator[UserManager]:
    yield UserManager(user_db, _settings(request).secret_key)


def get_jwt_strategy(request: Request) -> JWTStrategy:  # type: ignore[type-arg]
    settings = _settings(request)
    return JWTStrategy(secret=settings.secret_key, lifetime_seconds=settings.jwt_lifetime_seconds)


def get_cookie_strategy(request: Request) -> JWTStrategy:  # type: ignore[type-arg]
    settings = _settings(request)
    return JWTStrategy(
        secret=settings.secret_key, lifetime_seconds=settings.cookie_lifetime_seconds
    )


bearer_backend = AuthenticationBackend(
    name="jwt",
    transport=BearerTransport(tokenUrl="/api/v1/auth/jwt/login"),
    get_strategy=get_jwt_strategy,
)


def build_cookie_transport(settings: Settings) -> CookieTransport:
    return CookieTransport(
        cookie_name=COOKIE_NAME,
        cookie_max_age=settings.cookie_lifetime_seconds,
        cookie_secure=settings.env is Environment.production,
        cookie_httponly=True,
        cookie_samesite="lax",
    )


# The cookie's Secure flag follows the environment; the app factory replaces the transport with
# one built from its settings before any request is served.
cookie_backend = AuthenticationBackend(
    name="cookie",
    transport=build_cookie_transport(Settings()),
    get_strategy=get_cookie_strategy,
)

fastapi_users = FastAPIUsers[User, uuid.UUID](  # type: ignore[type-var]
    get_user_manager, [bearer_backend, cookie_backend]
)

current_active_user = fastapi_users.current_user(active=True)
optional_current_user = fastapi_users.current_user(active=True, optional=True)

CurrentUser = Annotated[User, Depends(current_active_user)]
OptionalUser = Annotated[User | None, Depends(optional_current_user)]
UserManagerDep = Annotated[UserManager, Depends(get_user_manager)]
