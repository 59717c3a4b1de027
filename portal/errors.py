"""Domain errors and the one handler that renders every error as RFC 9457 problem+json.

Services raise a ``GongzhiError`` subclass; they never raise ``HTTPException``. Each subclass fixes a
stable machine-readable ``code``, an HTTP status, and a title in English and Chinese. The handlers
below also turn FastAPI's validation errors, unknown routes, wrong methods and anything unexpected
into the same shape, so a mobile client has exactly one error format to parse.
"""

from __future__ import annotations

from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from portal.metrics import RATE_LIMIT_REFUSALS

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_BASE = "https://gongzhi.org.cn/problems/"


class GongzhiError(Exception):
    """Base of every domain error. Subclasses set the class attributes; instances may add detail."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"
    title_zh: ClassVar[str] = "请求有误"

    def __init__(
        self,
        detail: str | None = None,
        *,
        detail_zh: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.detail_zh = detail_zh or self.title_zh
        self.errors = errors
        self.headers = headers
        self.extra = extra


class NotFound(GongzhiError):
    status = 404
    code = "not_found"
    title = "Not found"
    title_zh = "未找到"


class Unauthenticated(GongzhiError):
    status = 401
    code = "not_authenticated"
    title = "Authentication required"
    title_zh = "请先登录"


class Forbidden(GongzhiError):
    status = 403
    code = "forbidden"
    title = "Not allowed"
    title_zh = "无权进行此操作"


class RegionForbidden(Forbidden):
    code = "region_forbidden"
    title = "Outside your region"
    title_zh = "超出您的管辖区域"


class Conflict(GongzhiError):
    status = 409
    code = "conflict"
    title = "Conflict with the current state"
    title_zh = "与当前状态冲突"


class InvalidInput(GongzhiError):
    status = 422
    code = "validation_error"
    title = "The request is not valid"
    title_zh = "请求内容不符合要求"


class UnstorableValue(InvalidInput):
    """A value the database cannot hold (a NUL character in PostgreSQL text), found before the
    query: the same answer as when PostgreSQL refuses it (SQLSTATE class 22, below)."""

    code = "invalid_value"
    title = "A value cannot be stored"
    title_zh = "提交的内容无法保存"


class PayloadTooLarge(GongzhiError):
    status = 413
    code = "payload_too_large"
    title = "The request body is too large"
    title_zh = "请求内容过大"


class RateLimited(GongzhiError):
    status = 429
    code = "rate_limited"
    title = "Too many requests"
    title_zh = "请求过于频繁，请稍后再试"


class ServiceUnavailable(GongzhiError):
    status = 503
    code = "service_unavailable"
    title = "Service temporarily unavailable"
    title_zh = "服务暂时不可用"


class RateLimiterUnavailable(ServiceUnavailable):
    """The shared rate-limit store (Redis) does not answer: a limited request is refused, not let
    through uncounted (the limits guard access codes and logins against guessing)."""

    code = "rate_limiter_unavailable"
    title = "The rate limiter is temporarily unavailable"
    title_zh = "限流服务暂时不可用"


class UnknownRegion(InvalidInput):
    code = "unknown_region"
    title = "Unknown administrative division code"
    title_zh = "行政区划代码不存在"


_HTTP_CODES: dict[int, tuple[str, str, str]] = {
    400: ("bad_request", "Bad request", "请求有误"),
    401: ("not_authenticated", "Authentication required", "请先登录"),
    403: ("forbidden", "Not allowed", "无权进行此操作"),
    404: ("not_found", "Not found", "未找到"),
    405: ("method_not_allowed", "Method not allowed", "不支持该请求方法"),
    406: ("not_acceptable", "Not acceptable", "无法提供所需格式"),
    409: ("conflict", "Conflict", "与当前状态冲突"),
    413: ("payload_too_large", "The request body is too large", "请求内容过大"),
    415: ("unsupported_media_type", "Unsupported media type", "不支持的内容类型"),
    422: ("validation_error", "The request is not valid", "请求内容不符合要求"),
    429: ("rate_limited", "Too many requests", "请求过于频繁，请稍后再试"),
}

# fastapi-users reports its errors as upper-case string details; give them stable lower-case codes.
_FASTAPI_USERS_CODES: dict[str, tuple[str, str]] = {
    "LOGIN_BAD_CREDENTIALS": ("login_bad_credentials", "邮箱或密码错误"),
    "LOGIN_USER_NOT_VERIFIED": ("login_user_not_verified", "账号尚未验证"),
    "REGISTER_USER_ALREADY_EXISTS": ("register_user_already_exists", "该邮箱已注册"),
    "REGISTER_INVALID_PASSWORD": ("register_invalid_password", "密码不符合要求"),
    "UPDATE_USER_EMAIL_ALREADY_EXISTS": ("update_user_email_already_exists", "该邮箱已被使用"),
    "UPDATE_USER_INVALID_PASSWORD": ("update_user_invalid_password", "密码不符合要求"),
    "RESET_PASSWORD_BAD_TOKEN": ("reset_password_bad_token", "重置链接无效或已过期"),
    "RESET_PASSWORD_INVALID_PASSWORD": ("reset_password_invalid_password", "密码不符合要求"),
    "VERIFY_USER_BAD_TOKEN": ("verify_user_bad_token", "验证链接无效或已过期"),
    "VERIFY_USER_ALREADY_VERIFIED": ("verify_user_already_verified", "账号已验证"),
}


def problem(
    request: Request,
    *,
    status: int,
    code: str,
    title: str,
    title_zh: str,
    detail: str,
    detail_zh: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "title_zh": title_zh,
        "detail_zh": detail_zh,
        "instance": request.url.path,
    }
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
        # A 500 is sent by Starlette's outermost middleware, outside RequestContext.
        headers = {**(headers or {}), "X-Request-ID": request_id}
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


# What each kind of validation error means, in a sentence a citizen understands: a form shows it
# beside the field the error's path names (static/js/complaints.js). Keyed by pydantic's error
# type; ``{…}`` takes the limit from the error's context.
_VALIDATION_MESSAGES_ZH = {
    "missing": "此项必须填写。",
    "string_too_short": "内容太短，至少需要 {min_length} 个字。",
    "string_too_long": "内容太长，最多 {max_length} 个字。",
    "too_short": "至少需要 {min_length} 项。",
    "too_long": "最多只能有 {max_length} 项。",
    "string_pattern_mismatch": "格式不正确，请检查后重新填写。",
    "string_type": "请填写文字。",
    "int_parsing": "请填写整数。",
    "int_type": "请填写整数。",
    "float_parsing": "请填写数字。",
    "float_type": "请填写数字。",
    "bool_parsing": "请选择是或否。",
    "bool_type": "请选择是或否。",
    "greater_than_equal": "不能小于 {ge}。",
    "greater_than": "必须大于 {gt}。",
    "less_than_equal": "不能大于 {le}。",
    "less_than": "必须小于 {lt}。",
    "literal_error": "不是可以选择的值，请从选项中选择。",
    "enum": "不是可以选择的值，请从选项中选择。",
    "uuid_parsing": "编号格式不正确。",
    "uuid_type": "编号格式不正确。",
    "date_from_datetime_parsing": "日期格式不正确。",
    "date_parsing": "日期格式不正确。",
    "datetime_parsing": "日期时间格式不正确。",
    "datetime_from_date_parsing": "日期时间格式不正确。",
    "extra_forbidden": "不是可以提交的内容。",
    "value_error": "内容不符合要求，请检查后重新填写。",
    "model_type": "内容格式不正确。",
    "dict_type": "内容格式不正确。",
    "list_type": "内容格式不正确。",
    "json_invalid": "内容格式不正确。",
}
_DEFAULT_MESSAGE_ZH = "内容不符合要求，请检查后重新填写。"


def validation_message_zh(error_type: str, context: dict[str, Any] | None = None) -> str:
    """The Chinese sentence for one validation error, by its type (pydantic's or a domain's)."""
    template = _VALIDATION_MESSAGES_ZH.get(error_type, _DEFAULT_MESSAGE_ZH)
    try:
        return template.format(**(context or {}))
    except (KeyError, IndexError, ValueError):
        return _DEFAULT_MESSAGE_ZH


async def _gongzhi_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GongzhiError)
    if isinstance(exc, RateLimited):
        RATE_LIMIT_REFUSALS.labels(exc.code).inc()
    return problem(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.title,
        title_zh=exc.title_zh,
        detail=exc.detail,
        detail_zh=exc.detail_zh,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    raw = exc.errors()
    if any(err.get("type") == "json_invalid" for err in raw):
        return problem(
            request,
            status=400,
            code="malformed_json",
            title="The request body is not valid JSON",
            title_zh="请求内容不是有效的 JSON",
            detail="The request body could not be parsed as JSON.",
            detail_zh="无法解析请求中的 JSON。",
        )
    errors = [
        {
            "field": _field_path(err.get("loc", ())),
            "type": err.get("type", "invalid"),
            "message": err.get("msg", ""),
            "message_zh": validation_message_zh(err.get("type", "invalid"), err.get("ctx")),
        }
        for err in raw
    ]
    return problem(
        request,
        status=422,
        code="validation_error",
        title="The request is not valid",
        title_zh="请求内容不符合要求",
        detail=f"{len(errors)} field(s) are not valid.",
        detail_zh=f"有 {len(errors)} 项内容不符合要求。",
        errors=errors,
    )


def _wants_html(request: Request) -> bool:
    """A browser navigating the portal gets an HTML error page; API clients get problem+json."""
    path = request.url.path
    if path.startswith(("/api/", "/open311/")):
        return False
    return request.headers.get("accept", "").startswith("text/html")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    headers = getattr(exc, "headers", None)
    if status == 405:
        allow = _allowed_methods(request, (headers or {}).get("Allow"))
        if allow:
            headers = {**(headers or {}), "Allow": allow}
    if _wants_html(request) and status in (404, 405):
        from portal.web import render

        return render(request, "error.html", {"status": status}, status_code=status)
    raw_detail = exc.detail if isinstance(exc.detail, str) else None
    if raw_detail in _FASTAPI_USERS_CODES:
        code, title_zh = _FASTAPI_USERS_CODES[raw_detail]
        title = raw_detail.replace("_", " ").capitalize()
        return problem(
            request,
            status=status,
            code=code,
            title=title,
            title_zh=title_zh,
            detail=title,
            detail_zh=title_zh,
            headers=headers,
        )
    if isinstance(exc.detail, dict) and "code" in exc.detail:
        # fastapi-users' password validation: {"code": ..., "reason": ...}
        code, title_zh = _FASTAPI_USERS_CODES.get(
            str(exc.detail["code"]), (str(exc.detail["code"]).lower(), "请求有误")
        )
        reason = str(exc.detail.get("reason", code))
        return problem(
            request,
            status=status,
            code=code,
            title=reason,
            title_zh=title_zh,
            detail=reason,
            detail_zh=title_zh,
        )
    code, title, title_zh = _HTTP_CODES.get(
        status, ("http_error" if status < 500 else "internal_error", "Error", "出错了")
    )
    if status == 404 and raw_detail == "Not Found":
        detail, detail_zh = f"No resource at {request.url.path}.", "请求的地址不存在。"
    else:
        detail = raw_detail or title
        detail_zh = title_zh
    return problem(
        request,
        status=status,
        code=code,
        title=title,
        title_zh=title_zh,
        detail=detail,
        detail_zh=detail_zh,
        headers=headers,
    )


def _allowed_methods(request: Request, fallback: str | None) -> str | None:
    """Every method the API serves at this path, from the OpenAPI document. Starlette's own 405
    names only the methods of the first route that matched, and a path often has several routes
    (GET and PATCH on /users/me)."""
    import re

    patterns: list[tuple[re.Pattern[str], str]] | None = getattr(
        request.app.state, "allow_patterns", None
    )
    if patterns is None:
        patterns = []
        for template, item in request.app.openapi().get("paths", {}).items():
            regex = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
            methods = ", ".join(sorted(m.upper() for m in item if m in _METHODS))
            patterns.append((re.compile(regex), methods))
        # The most specific template wins (/certificates/import before /certificates/{number}),
        # as in the document a client reads.
        patterns.sort(key=lambda entry: entry[0].pattern.count("[^/]+"))
        request.app.state.allow_patterns = patterns
    for pattern, methods in patterns:
        if pattern.match(request.url.path):
            return methods
    return fallback


_METHODS = {"get", "put", "post", "delete", "patch", "options"}


async def _integrity_error(request: Request, exc: Exception) -> Response:
    log.warning("integrity_error", error=str(exc).splitlines()[0])
    return problem(
        request,
        status=409,
        code="conflict",
        title="Conflict with existing data",
        title_zh="与已有数据冲突",
        detail="The change conflicts with data already stored.",
        detail_zh="提交的内容与已有数据冲突。",
    )


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    log.error("database_unavailable", error=str(exc).splitlines()[0])
    return problem(
        request,
        status=503,
        code="database_unavailable",
        title="Database unavailable",
        title_zh="数据库暂时不可用",
        detail="Please retry shortly.",
        detail_zh="请稍后重试。",
        headers={"Retry-After": "5"},
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # Logged with the traceback for operators; the client sees only the request id.
    log.exception("unhandled_error", path=request.url.path, exc_info=exc)
    return problem(
        request,
        status=500,
        code="internal_error",
        title="Internal error",
        title_zh="服务器内部错误",
        detail="An unexpected error occurred; it has been logged.",
        detail_zh="发生了意外错误，已记录。",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GongzhiError, _gongzhi_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeoutError, _database_unavailable)
    app.add_exception_handler(DBAPIError, _database_disconnect_or_unexpected)
    try:  # raised unwrapped when a new connection meets a PostgreSQL that is shutting down
        from asyncpg.exceptions import InterfaceError as AsyncpgInterfaceError
        from asyncpg.exceptions import PostgresError
    except ImportError:  # pragma: no cover - SQLite-only installation
        pass
    else:
        app.add_exception_handler(PostgresError, _database_disconnect_or_unexpected)
        # "connection is closed": a pooled connection PostgreSQL dropped while restarting, met
        # outside SQLAlchemy's wrapping (e.g. on the first statement after the restart).
        app.add_exception_handler(AsyncpgInterfaceError, _database_disconnect_or_unexpected)
    app.add_exception_handler(OSError, _database_unavailable_or_unexpected)
    app.add_exception_handler(Exception, _unexpected_error)


# SQLSTATE classes of a server going away: 08 connection exception, 57P01-57P03 admin shutdown,
# crash shutdown, cannot connect now (PostgreSQL restarting).
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


async def _database_disconnect_or_unexpected(request: Request, exc: Exception) -> Response:
    # asyncpg reports a connection closed by a restarting PostgreSQL as a plain DBAPIError
    # (ConnectionDoesNotExistError, AdminShutdownError); SQLAlchemy marks it invalidated.
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    sqlstate = str(getattr(orig, "sqlstate", None) or "")
    invalidated = isinstance(exc, DBAPIError) and exc.connection_invalidated
    if invalidated or sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
        return await _database_unavailable(request, exc)
    if type(orig).__name__ == "InterfaceError" and "closed" in str(orig):
        return await _database_unavailable(request, exc)
    if sqlstate.startswith("22"):
        # Class 22, data exception: a value PostgreSQL cannot store, from the request (a NUL
        # character in text, 22021, is the one a client can always send). Bad input, not a bug;
        # the transaction is rolled back, so nothing of the request is kept.
        log.warning("database_refused_value", sqlstate=sqlstate, path=request.url.path)
        return problem(
            request,
            status=422,
            code="invalid_value",
            title="A value cannot be stored",
            title_zh="提交的内容无法保存",
            detail="The request contains a character or value that cannot be stored "
            "(for example a NUL character).",
            detail_zh="提交的内容含有无法保存的字符或数值（例如空字符），请检查后重新提交。",
        )
    cause = getattr(orig, "__cause__", None)
    if isinstance(cause, ConnectionError | OSError) or type(cause).__name__.startswith(
        ("ConnectionDoesNotExist", "AdminShutdown", "CannotConnectNow")
    ):
        return await _database_unavailable(request, exc)
    return await _unexpected_error(request, exc)


async def _database_unavailable_or_unexpected(request: Request, exc: Exception) -> Response:
    # asyncpg raises ConnectionRefusedError / ConnectionResetError (OSError) when PostgreSQL is
    # restarting; those are a 503 with Retry-After, not a bug.
    if isinstance(exc, ConnectionError):
        return await _database_unavailable(request, exc)
    return await _unexpected_error(request, exc)
