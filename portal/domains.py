"""The list of domain packages that make up the application.

Adding a capability means adding its package name here, nothing else in the shell. For each
package the shell imports, when present:

- ``<pkg>.models``  — SQLModel tables (so Alembic and the tests see them)
- ``<pkg>.routes``  — ``router``: JSON API routes
- ``<pkg>.pages``   — ``router``: server-rendered portal pages
- ``<pkg>.jobs``    — outbox handlers and periodic jobs (registered on import)
- ``<pkg>.demo``    — ``async def load(session, settings) -> bool``: idempotent demo data
- ``<pkg>.health``  — ``async def check(app) -> dict``: a readiness check for ``/readyz``
- ``<pkg>.nav``     — ``ITEMS``: links for the portal's navigation and home page
- ``<pkg>.cli``     — ``app``: a Typer group added to ``gongzhi`` under ``NAME`` (and optionally
  ``EXTRA_GROUPS``: ``{name: typer_app}`` for more groups)
- ``<pkg>.facts``   — providers of facts other domains use (portal/facts.py): about enterprises
  for credit evaluation, and what a citizen scanned for the complaint intake
- ``<pkg>.startup`` — ``async def start(app)``: starts warm-up work in the lifespan (not awaited)
- ``<pkg>.settings`` — ``SETTINGS``: the domain's ``DomainSettings`` subclass (portal/settings.py)
- ``<pkg>.backup``  — ``stores(settings)``: the file stores a backup copies (``{name: store}``), and
  ``async def check_restored(session, settings) -> list[str]``: problems in a restored deployment
  (portal/backup/service.py, restore.py)
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator
from types import ModuleType
from typing import Any

DOMAINS: list[str] = [
    "api.certificates",
    "api.instruments",
    "portal.regions",
    "portal.accounts",
    "portal.audit",
    "portal.outbox",
    "portal.health",
    "portal.pages",
    "portal.workdays",
    "portal.backup",
    "portal.upkeep",
    "api.complaints",
    "search",
    "notices",
    "credit",
    "enforcement",
]


@functools.cache
def _optional(module: str) -> ModuleType | None:
    # Cached: which modules a domain has never changes while the process runs, and looking for
    # a missing one searches every path entry again (a bulk import asked for its facts hooks
    # once per batch).
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:  # the domain simply has no such module
            return None
        raise


def modules(kind: str) -> Iterator[tuple[str, ModuleType]]:
    for domain in DOMAINS:
        module = _optional(f"{domain}.{kind}")
        if module is not None:
            yield domain, module


def import_models() -> None:
    for _ in modules("models"):
        pass


def import_jobs() -> None:
    for _ in modules("jobs"):
        pass


def settings_classes() -> list[type[Any]]:
    """Each domain's ``DomainSettings`` subclass (portal/settings.py asks; this module stays free
    of imports from the shell so that anything may import it)."""
    return [module.SETTINGS for _, module in modules("settings")]
