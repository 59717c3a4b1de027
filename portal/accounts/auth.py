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
from datetime import UTC, datetime
from typing import Annotated, Any, cast

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
from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from portal import clock
from portal.accounts.models import RevokedToken, User
from portal.accounts.schemas import UserCreate, UserUpdate, normalize_email
from portal.accounts.throttle import LoginLocked, LoginThrottle
from portal.db import get_session
from portal.deps import get_settings
from portal.errors import Forbidden, InvalidInput, Unauthenticated
from portal.metrics import LOGIN_FAILURES
from portal.ratelimit import RateLimiter, client_ip
from portal.settings import Environment, Settings

COOKIE_NAME = "gongzhi_session"
# The longest address and password an account can have (user_account.email, UserCreate): the
# bounds of the portal's login form, applied to the API's OAuth2 form too.
EMAIL_MAX_LENGTH = 320
PASSWORD_MAX_LENGTH = 128
# A token says which transport it was issued for: a stolen portal cookie is no bearer token for
# the API, and an app's bearer token cannot be planted as a portal cookie.
BEARER_AUDIENCE = "gongzhi:bearer"
COOKIE_AUDIENCE = "gongzhi:cookie"

__all__ = ["LoginLocked"]  # raised by UserManager.authenticate; defined with the throttle


async def get_user_db(
    session: Annotated[AsyncSession, Depends(get_session)],
) -> AsyncIterator[SQLAlchemyUserDatabase[User, uuid.UUID]]:
    yield SQLAlchemyUserDatabase(session, User)


class CurrentPasswordRequired(Forbidden):
    code = "current_password_required"
    title = "Changing the password or e-mail needs the current password"
    title_zh = "修改密码或邮箱需要输入当前密码"


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
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

    def _throttle(self, account: str) -> LoginThrottle | None:
        if self.limiter is None:
            return None
        return LoginThrottle(self.limiter, self.settings, account=account, client=self.ip)

    async def get_by_email(self, user_email: str) -> User:
        """The account of an address in any of its spellings (``normalize_email``)."""
        return await super().get_by_email(normalize_email(user_email))

    async def create(  # type: ignore[override]
        self,
        user_create: UserCreate,
        safe: bool = False,
        request: Request | None = None,
    ) -> User:
        """Self-registration (``safe``) is limited per client (``registrations_per_ip``), every
        attempt counted, so nobody creates accounts in bulk or probes which addresses have one;
        the client is ``client_ip``'s (X-Forwarded-For only from trusted proxies)."""
        if safe and self.limiter is not None:
            await self.limiter.enforce(self.settings.registrations_per_ip, "register:ip", self.ip)
        return await super().create(user_create, safe=safe, request=request)

    async def authenticate(self, credentials: OAuth2PasswordRequestForm) -> User | None:
        """Password login, throttled per client and account and slowed per account
        (portal/accounts/throttle.py): guessing is refused, but nobody can lock the owner out."""
        if (
            len(credentials.username) > EMAIL_MAX_LENGTH
            or len(credentials.password) > PASSWORD_MAX_LENGTH
        ):
            raise InvalidInput(
                "The e-mail or password is longer than any account's.",
                detail_zh="邮箱或密码过长。",
                errors=[{"field": "username", "type": "string_too_long", "message": "too long"}],
            )
        throttle = self._throttle(credentials.username)
        if throttle is None:
            user = await super().authenticate(credentials)
            if user is None:
                LOGIN_FAILURES.inc()
            return user
        await throttle.before_attempt()
        user = await super().authenticate(credentials)
        if user is None:
            LOGIN_FAILURES.inc()
            await throttle.failed()
        else:
            await throttle.succeeded()
        return user

    async def update(  # type: ignore[override]
        self,
        user_update: UserUpdate,
        user: User,
        safe: bool = False,
        request: Request | None = None,
    ) -> User:
        """A user changing their own password or e-mail (``safe``) proves the current password
        first, so a stolen session cannot take the account over; administrators (not ``safe``)
        need not. Wrong guesses count against the same throttle as logins."""
        if safe and (user_update.password is not None or user_update.email is not None):
            await self._verify_current_password(user, user_update.current_password)
        return await super().update(user_update, user, safe=safe, request=request)

    async def _verify_current_password(self, user: User, current: str | None) -> None:
        throttle = self._throttle(user.email)
        if throttle is not None:
            await throttle.before_attempt()
        verified = False
        if current is not None:
            verified, _ = self.password_helper.verify_and_update(current, user.hashed_password)
        if not verified:
            if throttle is not None:
                await throttle.failed()
            raise CurrentPasswordRequired(
                "Send the current password as current_password.",
                detail_zh="请在 current_password 中提供当前密码。",
                errors=[{"field": "current_password", "type": "mismatch", "message": "required"}],
            )

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
        await get_settings(request),
        getattr(request.app.state, "rate_limiter", None),
        client_ip(request),
    )


def password_fingerprint(secret: str, hashed_password: str) -> str:
    """Changes whenever the password changes, so tokens issued before a change stop working."""
    digest = hmac.new(secret.encode(), hashed_password.encode(), hashlib.sha256).hexdigest()
    return digest[:16]


class PasswordBoundJWTStrategy(JWTStrategy[User, uuid.UUID]):
    """A JWT for one audience (apps' bearer tokens or the portal's cookie) that ends at its
    ``exp`` (required), at logout (its ``jti`` is kept in ``revoked_token`` until it would have
    expired, so every server process refuses it) and at a password change (claim ``pwd``).
    Expiry is on the portal's clock (``portal.clock``), like everything else with a time."""

    def __init__(
        self,
        secret: str,
        lifetime_seconds: int,
        *,
        audience: str = BEARER_AUDIENCE,
        session: AsyncSession | None = None,
    ) -> None:
        super().__init__(
            secret=secret, lifetime_seconds=lifetime_seconds, token_audience=[audience]
        )
        self.audience = audience
        self.session = session

    async def write_token(self, user: User) -> str:
        issued = int(clock.timestamp())
        data = {
            "sub": str(user.id),
            "aud": self.audience,
            "pwd": password_fingerprint(str(self.secret), user.hashed_password),
            "jti": uuid.uuid4().hex,
            "iat": issued,
            "exp": issued + int(self.lifetime_seconds or 0),
        }
        return jwt.encode(data, str(self.encode_key), algorithm=self.algorithm)

    def claims(self, token: str) -> dict[str, Any] | None:
        """The token's claims if it is ours, for this audience, complete and unexpired."""
        try:
            data: dict[str, Any] = jwt.decode(
                token,
                str(self.decode_key),
                audience=self.audience,
                algorithms=[self.algorithm],
                # Times are checked below on the portal's clock, not PyJWT's (the host's): a
                # token issued while the portal clock runs ahead would otherwise be "not yet
                # valid" (iat) and one issued behind it would outlive its exp.
                options={
                    "require": ["exp", "sub", "aud", "jti", "pwd"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.PyJWTError:
            return None
        if not isinstance(data["exp"], int | float) or data["exp"] <= clock.timestamp():
            return None
        return data

    async def read_token(
        self,
        token: str | None,
        user_manager: BaseUserManager[User, uuid.UUID],
    ) -> User | None:
        if token is None:
            return None
        data = self.claims(token)
        if data is None:
            return None
        try:
            user = await user_manager.get(user_manager.parse_id(data.get("sub")))
        except (exceptions.UserNotExists, exceptions.InvalidID):
            return None
        expected = password_fingerprint(str(self.secret), user.hashed_password)
        if not hmac.compare_digest(str(data.get("pwd", "")), expected):
            return None
        session = self.session or cast(Any, user_manager.user_db).session
        if await session.get(RevokedToken, str(data["jti"])) is not None:
            return None
        return user

    async def destroy_token(self, token: str, user: User) -> None:
        """Logout: remember the token's id until its expiry; forget ids already expired."""
        data = self.claims(token)
        if data is None or self.session is None:
            return
        now = clock.now()
        await self.session.execute(delete(RevokedToken).where(col(RevokedToken.expires_at) < now))
        if await self.session.get(RevokedToken, str(data["jti"])) is None:
            expires_at = datetime.fromtimestamp(float(data["exp"]), UTC)
            self.session.add(RevokedToken(jti=str(data["jti"]), expires_at=expires_at))
        # Committed here, before the logout answer, like the fastapi-users adapter's own writes.
        await self.session.commit()


def jwt_strategy(
    settings: Settings, session: AsyncSession | None = None
) -> PasswordBoundJWTStrategy:
    return PasswordBoundJWTStrategy(
        secret=settings.secret_key,
        lifetime_seconds=settings.jwt_lifetime_seconds,
        audience=BEARER_AUDIENCE,
        session=session,
    )


def cookie_strategy(
    settings: Settings, session: AsyncSession | None = None
) -> PasswordBoundJWTStrategy:
    return PasswordBoundJWTStrategy(
        secret=settings.secret_key,
        lifetime_seconds=settings.cookie_lifetime_seconds,
        audience=COOKIE_AUDIENCE,
        session=session,
    )


# async, although they do no I/O: FastAPI runs a plain ``def`` dependency in the thread pool, and
# these two are solved on every request that asks who the user is (every portal page), two
# thread hand-offs that cost more than the page's own queries.
async def get_jwt_strategy(
    request: Request, session: Annotated[AsyncSession, Depends(get_session)]
) -> PasswordBoundJWTStrategy:
    return jwt_strategy(await get_settings(request), session)


async def get_cookie_strategy(
    request: Request, session: Annotated[AsyncSession, Depends(get_session)]
) -> PasswordBoundJWTStrategy:
    return cookie_strategy(await get_settings(request), session)


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

fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [bearer_backend, cookie_backend])

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
