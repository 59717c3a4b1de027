"""FastAPI dependencies every domain uses: one place, so no domain writes its own accessor.

``SettingsDep`` is the shell's settings; ``domain_settings(Kind)`` gives a dependency for one
domain's settings (a domain names it once, e.g. ``ComplaintsConfig`` in its ``settings.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from portal.settings import D, Settings


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def domain_settings(kind: type[D]) -> Callable[[Request], D]:
    def dependency(request: Request) -> D:
        return get_settings(request).of(kind)

    dependency.__name__ = f"get_{kind.__name__}"
    return dependency
