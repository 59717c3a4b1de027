"""What every domain's hot path shares (``api/certificates/hotpath.py``, ``search/hotpath.py``):
an endpoint answered before FastAPI's routing, for the few public reads that are most of the
traffic, with the app's own exception handlers so its errors look exactly like the route's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send


def _handler(handlers: dict[Any, Any], exc: Exception) -> Any:
    for cls in type(exc).__mro__:
        if cls is Exception:  # the 500 handler belongs to the outermost middleware
            return None
        if cls in handlers:
            return handlers[cls]
    return None


async def answer(
    scope: Scope,
    receive: Receive,
    send: Send,
    endpoint: Callable[[Request], Awaitable[Response]],
) -> None:
    """Send what ``endpoint`` answers, or what the app's handler for its error answers."""
    request = Request(scope, receive)
    try:
        response = await endpoint(request)
    except Exception as exc:
        handler = _handler(scope["app"].exception_handlers, exc)
        if handler is None:
            raise
        response = await handler(request, exc)
    await response(scope, receive, send)
