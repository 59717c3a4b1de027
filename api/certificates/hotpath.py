"""``GET /api/v1/certificates/{number}`` served before FastAPI's routing.

The public lookup is the one route that takes the bulk of the traffic (every sticker scan). At
that rate, FastAPI's per-request machinery around a route (matching the path against every
included router, the exception and exit-stack middleware, dependency solving with nothing to
solve) costs more than the lookup itself. This pure ASGI middleware sits innermost in the shell's
stack (inside RequestContext, SecurityHeaders, CrossSiteRequestGuard and BodySizeLimit, so the
request id, access log and security headers are unchanged), recognises exactly the paths the
route matches and calls the same endpoint function (``routes.get_certificate``) with the same
``Request``. Errors go through the app's own exception handlers, looked up the way Starlette's
ExceptionMiddleware does; anything unhandled propagates to the outermost 500 handler as before.
Everything else, and any request under a ``root_path``, goes on to the app unchanged; the
APIRoute stays registered, for the OpenAPI document and as the fallback.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

PREFIX = "/api/v1/certificates/"
_PREFIX_LEN = len(PREFIX)


def _handler(handlers: dict[Any, Any], exc: Exception) -> Any:
    for cls in type(exc).__mro__:
        if cls is Exception:  # the 500 handler belongs to the outermost middleware
            return None
        if cls in handlers:
            return handlers[cls]
    return None


class HotPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"  # the APIRoute answers HEAD with 405: so does this
            or not path.startswith(PREFIX)
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        number = path[_PREFIX_LEN:]
        if not number or "/" in number:
            await self.app(scope, receive, send)
            return
        from api.certificates.routes import get_certificate

        scope["path_params"] = {"number": number}
        request = Request(scope, receive)
        try:
            response = await get_certificate(request)
        except Exception as exc:
            handler = _handler(scope["app"].exception_handlers, exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)
