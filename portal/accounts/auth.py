"""fastapi-users wiring: the user manager, a JWT bearer backend for apps, a cookie backend for
the portal, and the ``CurrentUser`` / ``OptionalUser`` dependency aliases.

The fastapi-users SQLAlchemy adapter commits inside its own calls; that is the one documented
exception to the "services never commit" rule (CONTRIBUTING.md).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import jwt
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordRequestForm
from fastapi_users import (
    BaseUserManager,
    FastAPIUsers,
    InvalidPasswordException,
    UUIDIDMixin,
    exceptions,
)
from fastapi_users.authentication import (
    AuthenticationBackend,
    BearerTransport,
    CookieTransport,
    JWTStrategy,
)
from fastapi_users.jwt import decode_jwt, generate_jwt
from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
from sqlalchemy.ext.asyncio import AsyncSession

from portal.accounts.models import User
from portal.accounts.schemas import UserCreate
from portal.db import get_session
from portal.errors import RateLimited, Unauthenticated
from portal.ratelimit import RateLimiter, client_ip
from portal.settings import Environment, Settings

COOKIE_NAME = "gongzhi_session"


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_user_db(
    session: Annotated[AsyncSession, Depends(get_session)],
) -> AsyncIterator[SQLAlchemyUserDatabase[User, uuid.UUID]]:
    yield SQLAlchemyUserDatabase(session, User)


class LoginLocked(RateLimited):
    code = "login_locked"
    title = "Too many failed logins; try again later"
    title_zh = "登录失败次数过多，请稍后再试"


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):  # type: ignore[type-var]
    def __init__(
        self,
        user_db: SQLAlchemyUserDatabase,  # type: ignore[type-arg]
        settings: Settings,
        limiter: RateLimiter | None = None,
        ip: str = "unknown",
    ) -> None:
        super().__init__(user_db)
        self.reset_password_token_secret = settings.secret_key
        self.verification_token_secret = settings.secret_key
        self.settings = settings
        self.limiter = limiter
        self.ip = ip

    async def authenticate(self, credentials: OAuth2PasswordRequestForm) -> User | None:
        """Password login with throttling: failures are counted per account and per client
        address; past the limit the account is locked for the rest of the window (429)."""
        if self.limiter is None:
            return await super().authenticate(credentials)
        account = f"login:account:{credentials.username.strip().lower()}"
        address = f"login:ip:{self.ip}"
        checks = [
            (self.settings.login_failures_per_account, account),
            (self.settings.login_failures_per_ip, address),
        ]
        for limit, key in checks:
            if not await self.limiter.allowed(limit, key):
                seconds = await self.limiter.retry_after(limit, key)
                raise LoginLocked(
                    f"Too many failed logins; retry in {seconds} seconds.",
                    detail_zh=f"登录失败次数过多，请 {seconds} 秒后再试。",
                    headers={"Retry-After": str(seconds)},
                )
        user = await super().authenticate(credentials)
        if user is None:
            for limit, key in checks:
                await self.limiter.hit(limit, key)
        else:
            await self.limiter.clear(self.settings.login_failures_per_account, account)
        return user

    async def validate_password(self, password: str, user: UserCreate | User) -> None:  # type: ignore[override]
        if len(password) < 8:
            raise InvalidPasswordException(reason="Password must be at least 8 characters")
        if password.lower() in user.email.lower():
            raise InvalidPasswordException(reason="Password must not contain the e-mail")


async def get_user_manager(
    request: Request,
    user_db: Annotated[SQLAlchemyUserDatabase, Depends(get_user_db)],  # type: ignore[type-arg]
) -> AsyncIterator[UserManager]:
    yield UserManager(
        user_db,
        _settings(request),
        getattr(request.app.state, "rate_limiter", None),
        client_ip(request),
    )


def password_fingerprint(secret: str, hashed_password: str) -> str:
    """Changes whenever the password changes, so tokens issued before a change stop working."""
    digest = hmac.new(secret.encode(), hashed_password.encode(), hashlib.sha256).hexdigest()
    return digest[:16]


class PasswordBoundJWTStrategy(JWTStrategy[User, uuid.UUID]):  # type: ignore[type-var]
    """A stateless JWT that is revoked by a password change (claim ``pwd``)."""

    async def write_token(self, user: User) -> str:
        data = {
            "sub": str(user.id),
            "aud": self.token_audience,
            "pwd": password_fingerprint(str(self.secret), user.hashed_password),
        }
        return generate_jwt(data, self.encode_key, self.lifetime_seconds, algorithm=self.algorithm)

    async def read_token(
        self,
        token: str | None,
        user_manager: BaseUserManager[User, uuid.UUID],  # type: ignore[type-var]
    ) -> User | None:
        if token is None:
            return None
        try:
            data = decode_jwt(
                token, self.decode_key, self.token_audience, algorithms=[self.algorithm]
            )
            user = await user_manager.get(user_manager.parse_id(data.get("sub")))
        except (jwt.PyJWTError, exceptions.UserNotExists, exceptions.InvalidID):
            return None
        expected = password_fingerprint(str(self.secret), user.hashed_password)
        if not hmac.compare_digest(str(data.get("pwd", "")), expected):
            return None
        return user


def get_jwt_strategy(request: Request) -> PasswordBoundJWTStrategy:
    settings = _settings(request)
    return PasswordBoundJWTStrategy(
        secret=settings.secret_key, lifetime_seconds=settings.jwt_lifetime_seconds
    )


def get_cookie_strategy(request: Request) -> PasswordBoundJWTStrategy:
    settings = _settings(request)
    return PasswordBoundJWTStrategy(
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


async def optional_user_rejecting_bad_tokens(
    request: Request, user: Annotated[User | None, Depends(optional_current_user)]
) -> User | None:
    """Anonymous use is allowed, but an app that sends a bearer token that is invalid or expired
    gets a 401 rather than being served as anonymous: otherwise its user's complaint would be
    filed without their account and never show under "my cases". A stale portal cookie, by
    contrast, just means "logged out"."""
    if user is None and request.headers.get("authorization", "").lower().startswith("bearer "):
        raise Unauthenticated(
            "The bearer token is invalid or expired; log in again.",
            detail_zh="登录凭证无效或已过期，请重新登录。",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return user


CurrentUser = Annotated[User, Depends(current_active_user)]
OptionalUser = Annotated[User | None, Depends(optional_user_rejecting_bad_tokens)]
UserManagerDep = Annotated[UserManager, Depends(get_user_manager)]
