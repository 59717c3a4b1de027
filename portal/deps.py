"""FastAPI dependencies every domain uses: one place, so no domain writes its own accessor.

``SettingsDep`` is the shell's settings; ``domain_settings(Kind)`` gives a dependency for one
domain's settings (a domain names it once, e.g. ``ComplaintsConfig`` in its ``settings.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request, Response

from portal.settings import D, Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


# How long anyone may keep a public API answer (as the public pages, portal/web.py).
PUBLIC_MAX_AGE = 60


def _public_answer(response: Response) -> None:
    response.headers["Cache-Control"] = f"public, max-age={PUBLIC_MAX_AGE}"


#: ``dependencies=[PublicAnswer]`` on a route whose answer is the same for everyone (no user
#: reads it): a browser, a CDN and the page cache (portal/pagecache.py) may keep it a minute.
#: Error answers (problem+json) do not get it.
PublicAnswer = Depends(_public_answer)


def domain_settings(kind: type[D]) -> Callable[[Request], D]:
    def dependency(request: Request) -> D:
        return get_settings(request).of(kind)

    dependency.__name__ = f"get_{kind.__name__}"
    return dependency
