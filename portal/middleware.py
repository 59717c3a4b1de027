"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs throughput on the hot lookup path).

- ``RequestContext``: a request id (from ``X-Request-ID`` or new), bound to the structured log
  context, echoed in the response, and one access log line per request; with tracing on
  (``GONGZHI_OTEL_ENABLED``, portal/tracing.py) also a server span, its trace and span ids in the
  log context and the trace id in ``X-Trace-ID``.
- ``BodySizeLimit``: refuses bodies larger than the limit, by ``Content-Length`` up front and by
  counting streamed chunks otherwise, with a 413 problem+json. Routes that accept a file upload
  get the upload limit; every other route the (small) JSON limit, whatever content type the
  client declares (a JSON body sent as ``multipart/form-data`` is still held to 1 MB).
"""

from __future__ import annotations

import json
import random
import re
import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson
import structlog
from fastapi import params
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.metrics import observe_request

if TYPE_CHECKING:  # imported only when tracing is on (create_app)
    from portal.tracing import ServerSpan, Tracing

access_log = structlog.get_logger("gongzhi.access")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _new_request_id() -> str:
    """32 hex digits, like a uuid4's, from the process's PRNG: a request id must be unique in the
    logs, not unguessable, and os.urandom (uuid4) was a system call on every request."""
    return f"{random.getrandbits(128):032x}"


class RequestContext:
    def __init__(self, app: ASGIApp, *, tracing: Tracing | None = None) -> None:
        self.app = app
        self.tracing = tracing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else _new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status_holder: dict[str, int] = {"status": 500}
        extra_headers: list[tuple[bytes, bytes]] = []
        span: ServerSpan | None = None
        if self.tracing is not None:
            span = self.tracing.start(scope)
            structlog.contextvars.bind_contextvars(trace_id=span.trace_id, span_id=span.span_id)
            extra_headers.append((b"x-trace-id", span.trace_id.encode()))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", request_id.encode()))
                if extra_headers:
                    headers.extend(extra_headers)
                message["headers"] = headers
            await send(message)

        error: BaseException | None = None
        try:
            await self.app(scope, receive, send_with_id)
        except BaseException as exc:
            error = exc
            raise
        finally:
            seconds = time.perf_counter() - started
            # The same timing for the access log and the route's latency histogram.
            observe_request(scope, status_holder["status"], seconds)
            access_log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status_holder["status"],
                ms=round(seconds * 1000, 2),
            )
            if span is not None:
                span.finish(scope, status_holder["status"], error)


def _problem_413(limit: int) -> bytes:
    return json.dumps(
        {
            "type": "https://gongzhi.org.cn/problems/payload_too_large",
            "title": "The request body is too large",
            "status": 413,
            "detail": f"The request body exceeds {limit} bytes.",
            "code": "payload_too_large",
            "title_zh": "请求内容过大",
            "detail_zh": f"请求内容超过 {limit} 字节的上限。",
        },
        ensure_ascii=False,
    ).encode()


def _all_routes(app: Any) -> Iterable[BaseRoute]:
    """Every route with its full path, through included routers."""
    try:
        # FastAPI ≥ 0.16x keeps included routers as branches of app.routes.
        from fastapi.routing import _iter_included_route_candidates
    except ImportError:  # older FastAPI flattened them into app.routes
        return list(app.routes)
    return list(_iter_included_route_candidates(app.routes))


def _takes_files(route: BaseRoute) -> bool:
    """A route accepts uploads when it has a ``File()`` parameter or documents a multipart body
    that it parses itself (the streaming photo upload)."""
    if not isinstance(route, APIRoute):
        return False
    if route.body_field is not None and isinstance(route.body_field.field_info, params.File):
        return True
    content = (route.openapi_extra or {}).get("requestBody", {}).get("content", {})
    return "multipart/form-data" in content


class BodySizeLimit:
    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int) -> None:
        self.app = app
        self.max_body = max_body
        self.max_upload = max_upload
        self._upload_routes: list[BaseRoute] | None = None  # found on the first request

    async def _reject(self, send: Send, limit: int, *, close: bool = True) -> None:
        body = _problem_413(limit)
        headers = [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if close:
            headers.append((b"connection", b"close"))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _accepts_upload(self, scope: Scope) -> bool:
        if self._upload_routes is None:
            self._upload_routes = [r for r in _all_routes(scope["app"]) if _takes_files(r)]
        return any(route.matches(scope)[0] is Match.FULL for route in self._upload_routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        limit = self.max_upload if self._accepts_upload(scope) else self.max_body
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                if int(declared) > limit:
                    # A declared body no bigger than the upload limit is read and dropped by the
                    # server after this answer, on a connection kept open: closing it with the
                    # body unread resets it under the sender, and nginx (which sends the whole
                    # body it has buffered) takes that reset for a failed node, answers 503 and
                    # leaves the node out (docs/deploy.md). A larger one is not worth reading.
                    await self._reject(send, limit, close=int(declared) > self.max_upload)
                    return
            except ValueError:
                pass
        received = 0
        rejected = False

        async def counting_receive() -> Message:
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Answer now and tell the app the client went away, so it stops reading.
                    rejected = True
                    await self._reject(send, limit)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not rejected:
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not rejected:
                raise


def content_security_policy(image_origins: tuple[str, ...] = ()) -> str:
    """The CSP of every response; ``image_origins`` are other sites images may come from (the
    configured map tile source, GONGZHI_MAP_TILE_URL)."""
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",  # no inline script anywhere: user text can never become code
            "style-src 'self' 'unsafe-inline'",
            " ".join(["img-src 'self' data: blob:", *image_origins]),
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeaders:
    """Headers every response carries (OWASP ASVS V14.4); HSTS only when served over TLS in
    production, where a proxy terminates TLS."""

    def __init__(self, app: ASGIApp, *, hsts: bool, image_origins: tuple[str, ...] = ()) -> None:
        self.app = app
        self.headers = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
            (b"permissions-policy", b"camera=(self), geolocation=(self), microphone=()"),
            (b"content-security-policy", content_security_policy(image_origins).encode()),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if hsts:
            self.headers.append(
                (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in self.headers if n not in present]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_headers)


_UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


# What a page on another site can make a browser send without asking first (no CORS preflight):
# an HTML form's encodings, text/plain, or no body at all.
_FORM_CONTENT_TYPES = (b"application/x-www-form-urlencoded", b"multipart/form-data", b"text/plain")


class CrossSiteRequestGuard:
    """CSRF protection for the portal's forms, with no token to thread through every form:
    browsers send ``Sec-Fetch-Site`` (Fetch Metadata) and ``Origin`` on unsafe requests. A
    request that another site made is refused when it carries cookies (it would act with the
    user's login) or is a form submission (it could log the user in to the attacker's account
    through /login or /register: login CSRF, which needs no cookie). Apps send neither these
    headers nor cookies and post JSON with a bearer token, so they are unaffected; browser apps
    on ``GONGZHI_CORS_ORIGINS`` are allowed. The session cookie is also ``SameSite=Lax``, a
    second line for older browsers."""

    def __init__(self, app: ASGIApp, *, allowed_origins: set[str]) -> None:
        self.app = app
        self.allowed_origins = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if (b"cookie" in headers or _is_form(headers)) and self._is_cross_site(headers):
            body = json.dumps(
                {
                    "type": "https://gongzhi.org.cn/problems/cross_site_request",
                    "title": "Cross-site request refused",
                    "status": 403,
                    "detail": "A form on another site may not act with your login.",
                    "code": "cross_site_request",
                    "title_zh": "拒绝跨站请求",
                    "detail_zh": "其他网站的表单不能以您的登录身份提交。",
                },
                ensure_ascii=False,
            ).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 403,
                    "headers": [(b"content-type", b"application/problem+json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    def _is_cross_site(self, headers: dict[bytes, bytes]) -> bool:
        origin = headers.get(b"origin", b"").decode("latin-1")
        if origin and origin in self.allowed_origins:
            return False
        site = headers.get(b"sec-fetch-site", b"").decode("latin-1").lower()
        if site == "cross-site":
            return True
        if site in ("same-origin", "none"):  # "none": typed or bookmarked by the user
            return False
        # "same-site" (a sibling subdomain) or an older browser without Fetch Metadata:
        # browsers send Origin on every cross-origin POST, so compare it with our host.
        if not origin:
            return False
        if origin == "null":
            return True
        host = headers.get(b"host", b"").decode("latin-1")
        return origin.split("://", 1)[-1] != host


def _is_form(headers: dict[bytes, bytes]) -> bool:
    content_type = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
    return not content_type or content_type in _FORM_CONTENT_TYPES


class LineLogger(structlog.PrintLogger):
    """Writes each entry as one ``write`` of the whole line, then flushes.

    ``gongzhi serve --workers N`` and ``gongzhi worker`` share one stdout (a file or a pipe).
    ``print`` writes the text and the newline separately, which with unbuffered output
    (PYTHONUNBUFFERED=1, usual in containers) are two system calls: lines from two processes then
    interleave and JSON lines break. One write of a line up to PIPE_BUF (4 KiB) is atomic on a
    pipe, and appends to a file opened with O_APPEND are atomic on local file systems."""

    def msg(self, message: str) -> None:
        out = sys.stdout  # the current one (tests swap it)
        with self._lock:
            out.write(message + "\n")
            out.flush()

    log = debug = info = warn = warning = msg
    fatal = failure = err = error = critical = exception = msg


def configure_logging(*, json_lines: bool) -> None:
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    if json_lines:
        # orjson renders the per-request access line several times faster than json.dumps (it
        # keeps non-ASCII text as UTF-8, like ensure_ascii=False). BytesLogger writes each line
        # and its newline in one write, so processes sharing stdout do not interleave.
        processors.append(structlog.processors.JSONRenderer(serializer=orjson.dumps))
        factory: Any = structlog.BytesLoggerFactory()
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=False))
        factory = lambda *args: LineLogger()  # noqa: E731
    structlog.configure(
        processors=processors, logger_factory=factory, cache_logger_on_first_use=True
    )
