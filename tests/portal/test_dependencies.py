"""No route's dependency runs in the thread pool: FastAPI hands a plain ``def`` dependency to a
worker thread on every request, which on the public pages and APIs cost more than their own work
(a search on the embedded engine: two hand-offs of about 1 ms against 2 ms of searching)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import OAuth2PasswordRequestForm

from portal.app import create_app
from portal.settings import Settings

# Dependencies that must stay synchronous, each with its reason.
ALLOWED = {
    # fastapi-users' login form: a class FastAPI instantiates from the form fields (no I/O).
    OAuth2PasswordRequestForm,
}


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        included = getattr(route, "original_router", None)  # include_router keeps the router
        if included is not None:
            yield from _routes(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def _asynchronous(call: Any) -> bool:
    """What FastAPI awaits instead of sending to a thread: a coroutine or async generator
    function, or an object whose ``__call__`` is one (security schemes, fastapi-users)."""
    target = inspect.unwrap(call)
    if inspect.isclass(target):
        return False  # instantiated in the thread pool
    dunder = getattr(target, "__call__", None)  # noqa: B004
    return any(
        inspect.iscoroutinefunction(f) or inspect.isasyncgenfunction(f) for f in (target, dunder)
    )


def _synchronous(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        call = dependency.call
        if call is not None and call not in ALLOWED and not _asynchronous(call):
            yield call
        yield from _synchronous(dependency)


def test_no_dependency_of_any_route_runs_in_the_thread_pool(settings: Settings) -> None:
    app: FastAPI = create_app(settings)
    routes = list(_routes(app.router.routes))
    assert len(routes) > 150  # every domain's routes were found
    found = {
        f"{route.path}: {getattr(call, '__qualname__', call)}"
        for route in routes
        for call in _synchronous(route.dependant)
    }
    assert found == set()
