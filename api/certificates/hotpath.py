"""``GET /api/v1/certificates/{number}``, the anonymous sticker page ``GET /v/{token}`` and the
anonymous lookup page ``GET /certificates?q=…``, served before FastAPI's routing.

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

The sticker page is what a phone opens after a scan, so it takes the same traffic, each scan with
a different token (no cache helps). Its route's only dependencies are the domain's settings and the
optional user; a request that carries no credential (no ``Authorization`` header, no session
cookie) is anonymous, so the hot path calls the page function (``pages.sticker_page``) with no
user. A request with a credential goes to the route, which resolves the user (a stale cookie is
"logged out", a bad bearer token a 401) exactly as before.

The lookup page is what a citizen gets who types the number printed on a certificate: every
visitor a different number, so no cache helps either. It is served the same way for anonymous
visitors, its certificate read by the JSON lookup's driver-level reads (bench/pages.py: 282
requests/s through the route and an ORM session, each request another certificate of a
million).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from portal.accounts.auth import COOKIE_NAME
from portal.hotpath import answer
from portal.metrics import ROUTE

# The session cookie's name anywhere in a Cookie header, not only "name=": the route reads
# cookies as Starlette parses them, which strips the spaces around a name ("gongzhi_session =…"
# is the session cookie there). A cookie whose name merely contains it goes to the route too,
# which is always right, only slower.
_SESSION_COOKIE = COOKIE_NAME.encode()

PREFIX = "/api/v1/certificates/"
_PREFIX_LEN = len(PREFIX)
LOOKUP_PAGE = "/certificates"
# The lookup page's bounds on its words (the route's Query max_length: pages.py reads them here).
LOOKUP_QUERY_MAX = 100
LOOKUP_INSTITUTION_MAX = 64
STICKER_PREFIX = "/v/"
_STICKER_PREFIX_LEN = len(STICKER_PREFIX)


class HotPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "GET"  # the APIRoutes answer HEAD with 405: so does this
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        if path.startswith(PREFIX):
            number = path[_PREFIX_LEN:]
            if number and "/" not in number:
                scope["path_params"] = {"number": number}
                scope[ROUTE] = "/api/v1/certificates/{number}"  # for the request metrics
                await answer(scope, receive, send, _lookup)
                return
        elif path == LOOKUP_PAGE and _anonymous(scope):
            # The lookup page as a citizen types a number: served here unless its words are
            # longer than the route allows (the route answers those with its 422).
            request = Request(scope, receive)
            q = request.query_params.get("q")
            institution = request.query_params.get("institution")
            if (
                len(q or "") <= LOOKUP_QUERY_MAX
                and len(institution or "") <= LOOKUP_INSTITUTION_MAX
            ):
                scope[ROUTE] = LOOKUP_PAGE
                await answer(scope, receive, send, _lookup_page)
                return
        elif path.startswith(STICKER_PREFIX):
            token = path[_STICKER_PREFIX_LEN:]
            if token and "/" not in token and _anonymous(scope):
                scope["path_params"] = {"token": token}
                scope[ROUTE] = "/v/{token}"
                await answer(scope, receive, send, _sticker)
                return
        await self.app(scope, receive, send)


def _anonymous(scope: Scope) -> bool:
    """No credential the route's optional user would read: no Authorization header and no
    session cookie (any other cookie, e.g. a preference, leaves the visitor anonymous)."""
    for name, value in scope["headers"]:
        if name == b"authorization" or (name == b"cookie" and _SESSION_COOKIE in value):
            return False
    return True


async def _lookup(request: Request) -> Response:
    from api.certificates.routes import get_certificate

    return await get_certificate(request)


async def _sticker(request: Request) -> Response:
    from api.certificates.pages import sticker_page
    from api.certificates.settings import CertificatesSettings

    settings = request.app.state.settings.of(CertificatesSettings)
    return await sticker_page(request, settings, None, request.path_params["token"])


async def _lookup_page(request: Request) -> Response:
    from api.certificates.pages import certificate_lookup_page
    from api.certificates.settings import CertificatesSettings

    settings = request.app.state.settings.of(CertificatesSettings)
    query = request.query_params
    return await certificate_lookup_page(
        request, settings, None, query.get("q"), query.get("institution")
    )
