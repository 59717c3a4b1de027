"""``GET /api/v1/search``, served before FastAPI's routing (issue 12).

On Meilisearch a search takes 6–12 ms, and the API's target is at most 1.3× calling Meilisearch
directly. Profiled (CPU time) under ``bench/search.py``, most of the server's own work per search
was FastAPI's machinery, not the search: matching the path against the routes of every router
included before this one (about half of it: the search router comes late in ``portal.domains``),
then solving the route's dependencies and validating its eight query parameters one by one
(another fifth). This pure ASGI middleware sits innermost in the shell's stack, like the
certificate lookup's (``api/certificates/hotpath.py``), so the request id, access log, security
headers and page cache are unchanged; it recognises exactly the route's path and calls the
route's own functions: ``search_params`` (the same checks, and its ``InvalidInput``),
``get_engine`` and ``run_search``, then writes the ``SearchResponse`` as FastAPI does (Pydantic's
JSON, the ``PublicAnswer`` header).

Only a request whose parameters are plainly valid is answered here: anything the route would
refuse or read in a way this does not (a value too long, an unknown ``kind``, a malformed date,
a page out of range, a parameter given twice) goes on to the APIRoute, which answers with its
own 422. So do other methods (the APIRoute answers HEAD with 405) and requests under a
``root_path``. The APIRoute stays registered, for the OpenAPI document and as that fallback;
``tests/search/test_hotpath.py`` checks both answer alike, byte for byte.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from portal.deps import PUBLIC_MAX_AGE
from portal.hotpath import answer
from portal.metrics import ROUTE
from portal.types import OptionalIsoDate

PATH = "/api/v1/search"
_KINDS = {"article", "notice", "regulation"}
_MAX_LENGTH = {"q": 100, "region": 64, "tag": 20}
_PAGES = {"page": 100, "per_page": 50}
_KNOWN = {"q", "kind", "region", "date_from", "date_to", "tag", "page", "per_page"}
_DATE: TypeAdapter[date | None] = TypeAdapter(OptionalIsoDate)
_CACHE_CONTROL = (b"cache-control", f"public, max-age={PUBLIC_MAX_AGE}".encode())


def plain_params(query_string: bytes) -> dict[str, Any] | None:
    """The route's parameters as ``search_params`` takes them, or None when the route itself
    must read them (it refuses them, or they are not plainly what it reads)."""
    given = QueryParams(query_string)
    values: dict[str, Any] = {}
    for name, value in given.multi_items():
        if name not in _KNOWN:
            continue  # FastAPI ignores parameters a route does not declare
        if name in values:
            return None
        if name in _MAX_LENGTH:
            if len(value) > _MAX_LENGTH[name]:
                return None
            values[name] = value
        elif name == "kind":
            if not value.strip():
                values[name] = None
            elif value in _KINDS:
                values[name] = value
            else:
                return None
        elif name in _PAGES:
            if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= _PAGES[name]:
                return None
            values[name] = int(value)
        else:  # date_from, date_to
            try:
                values[name] = _DATE.validate_python(value)
            except ValidationError:
                return None
    return values


class HotPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] != PATH
            or scope["method"] != "GET"
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        params = plain_params(scope["query_string"])
        if params is None:
            await self.app(scope, receive, send)
            return
        scope[ROUTE] = PATH  # for the request metrics
        await answer(scope, receive, send, lambda request: _search(request, params))


async def _search(request: Request, params: dict[str, Any]) -> Response:
    from search.routes import get_engine, run_search, search_params

    query = await search_params(**params)
    answer = await run_search(await get_engine(request), query, request)
    response = Response(answer.model_dump_json(by_alias=True), media_type="application/json")
    response.headers.raw.append(_CACHE_CONTROL)
    return response
