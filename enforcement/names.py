"""Names shown on pages instead of codes: administrative divisions (a bureau user reads 秦都区,
not 610402) and the catalogue's categories."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from portal import facts
from portal.regions.models import Region


async def region_names(session: AsyncSession, codes: set[str]) -> dict[str, str]:
    if not codes:
        return {}
    rows = await session.execute(
        select(col(Region.code), col(Region.name)).where(col(Region.code).in_(codes))
    )
    return {str(code): str(name) for code, name in rows.all()}


def category_names() -> dict[str, str]:
    try:
        return {c.code: c.name for c in facts.instrument_categories()}
    except LookupError:
        return {}


# Reference data (loaded by a migration, never edited): read once per process for public pages.
_PUBLIC_REGION_NAMES: dict[str, str] = {}


async def public_region_names(session: AsyncSession, codes: set[str]) -> dict[str, str]:
    missing = codes - _PUBLIC_REGION_NAMES.keys()
    if missing:
        _PUBLIC_REGION_NAMES.update(await region_names(session, missing))
    return {c: _PUBLIC_REGION_NAMES.get(c, c) for c in codes}
