"""FastAPI dependencies every domain uses: one place, so no domain writes its own accessor.

``SettingsDep`` is the shell's settings; ``domain_settings(Kind)`` gives a dependency for one
domain's settings (a domain names it once, e.g. ``ComplaintsConfig`` in its ``settings.py``).

Every dependency here is ``async def`` although none does I/O: FastAPI runs a plain ``def``
dependency in the thread pool, a hand-off per dependency per request that cost more than the
search engine's own work (tests/portal/test_dependencies.py keeps it so for every route).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Response

from portal.settings import D, Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


# How long anyone may keep a public API answer (as the public pages, portal/web.py).
PUBLIC_MAX_AGE = 60


async def _public_answer(response: Response) -> None:
    response.headers["Cache-Control"] = f"public, max-age={PUBLIC_MAX_AGE}"


#: ``dependencies=[PublicAnswer]`` on a route whose answer is the same for everyone (no user
#: reads it): a browser, a CDN and the page cache (portal/pagecache.py) may keep it a minute.
#: Error answers (problem+json) do not get it.
PublicAnswer = Depends(_public_answer)


def domain_settings(kind: type[D]) -> Callable[[Request], Awaitable[D]]:
    async def dependency(request: Request) -> D:
        settings: Settings = request.app.state.settings
        return settings.of(kind)

    dependency.__name__ = f"get_{kind.__name__}"
    return dependency
