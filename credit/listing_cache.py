"""The public credit list's answers, kept a few seconds in the portal's cache (portal/cache.py)
for whoever asks next: the total of each filter set, each page's grades, and the industries the
filter offers.

The page cache (portal/pagecache.py) already keeps whole pages for anonymous visitors. It cannot
keep them for anyone who sends a cookie or a token — a logged-in member of staff, a mobile app
with its user's token — because their pages carry their name. The grades themselves are the same
for everyone, so they are kept here, beneath the personal parts: a signed-in visitor's list runs
only its own navigation and the template. At 100,000 rated enterprises a page read from the
database costs 5–100 ms depending on the filter (bench/pages.py ``--scale``), a kept one
a cache lookup.

- **Totals** (``GONGZHI_CREDIT_LIST_TOTAL_SECONDS``): counting is the one part of a page whose
  cost grows with the grades (every current grade of the filter set is read). The total only
  sizes the pager, so the next pages of a filter set reuse it.
- **Pages** (``GONGZHI_CREDIT_LIST_PAGE_SECONDS``): the grades of one page of one filter set, as
  the API returns them (``RatingRead``), with the total.
- **Industries**: the choices of the list's industry filter.
- **Batches in 公示**: the strip above the list (which are still open is decided on every read).

Every entry is keyed by the day, so grades that lapse at midnight are never served from
yesterday's answer. A grade published, changed or withdrawn on any node moves the cache's
generation when it commits (portal/db.py), so no node serves an answer computed before it; with
Redis (scaled out) every node reads the same entries. What a write made past every session (raw
SQL) can leave is bounded by the entries' seconds."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeVar

import orjson
from pydantic import TypeAdapter

from credit.schemas import RatingRead
from portal.cache import Cache

T = TypeVar("T")
_RATINGS = TypeAdapter(list[RatingRead])
_INDUSTRIES = TypeAdapter(list[str])
INDUSTRIES_KEY = "credit-industries"
NOTICES_KEY = "credit-notices-open"


@dataclass(frozen=True)
class ListedPage:
    """One page of the public list: its grades, best first, the filter set's total, and the full
    names of the divisions its region filter named (for the page to say where it looked)."""

    ratings: list[RatingRead]
    total: int
    region_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoticeLink:
    """A batch in 公示 as the list's strip links to it."""

    id: uuid.UUID
    title: str
    association: str
    closes_at: datetime


_NOTICES = TypeAdapter(list[NoticeLink])


def _digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def key(
    today: date,
    industry: str | None,
    grade: str | None,
    prefixes: tuple[str, ...] | None,
    q: str | None,
) -> str:
    """The key of a filter set's total."""
    return "credit-totals:" + _digest(today.isoformat(), industry, grade, prefixes, q)


def page_key(
    today: date,
    *,
    industry: str | None,
    grade: str | None,
    region: str | None,
    q: str | None,
    offset: int,
    limit: int,
) -> str:
    """The key of one page of a filter set, as the visitor asked for it (the region as typed: a
    name resolves to the same divisions every time until the regions change, which is a write)."""
    return "credit-page:" + _digest(today.isoformat(), industry, grade, region, q, offset, limit)


async def lookup(cache: Cache, name: str) -> tuple[int, int | None]:
    """(the cache's generation, the total kept for ``name`` or None)."""
    generation, raw = await cache.lookup(name)
    if raw is None or not raw.isdigit() or len(raw) > 12:
        return generation, None
    return generation, int(raw)


async def store(cache: Cache, name: str, total: int, seconds: float, generation: int) -> None:
    await cache.store(name, str(total).encode(), seconds, generation)


async def lookup_page(cache: Cache, name: str) -> tuple[int, ListedPage | None]:
    """(the cache's generation, the page kept for ``name`` or None). An entry that does not read
    back as a page (written by another version during a deployment) is a miss."""
    generation, raw = await cache.lookup(name)
    if raw is None:
        return generation, None
    try:
        kept = orjson.loads(raw)
        return generation, ListedPage(
            _RATINGS.validate_python(kept["ratings"]),
            int(kept["total"]),
            tuple(str(name) for name in kept["region_names"]),
        )
    except (ValueError, TypeError, KeyError):
        return generation, None


async def store_page(
    cache: Cache, name: str, page: ListedPage, seconds: float, generation: int
) -> None:
    value = orjson.dumps(
        {
            "ratings": _RATINGS.dump_python(page.ratings, mode="json"),
            "total": page.total,
            "region_names": page.region_names,
        }
    )
    await cache.store(name, value, seconds, generation)


async def _lookup_json(cache: Cache, name: str, kind: TypeAdapter[T]) -> tuple[int, T | None]:
    """(the cache's generation, the entry read back as ``kind`` or None); an entry that does not
    read back (written by another version during a deployment) is a miss."""
    generation, raw = await cache.lookup(name)
    if raw is None:
        return generation, None
    try:
        return generation, kind.validate_json(raw)
    except ValueError:
        return generation, None


async def _store_json(
    cache: Cache, name: str, kind: TypeAdapter[T], value: T, seconds: float, generation: int
) -> None:
    await cache.store(name, kind.dump_json(value), seconds, generation)


async def lookup_industries(cache: Cache) -> tuple[int, list[str] | None]:
    return await _lookup_json(cache, INDUSTRIES_KEY, _INDUSTRIES)


async def store_industries(
    cache: Cache, industries: list[str], seconds: float, generation: int
) -> None:
    await _store_json(cache, INDUSTRIES_KEY, _INDUSTRIES, industries, seconds, generation)


async def lookup_notices(cache: Cache) -> tuple[int, list[NoticeLink] | None]:
    return await _lookup_json(cache, NOTICES_KEY, _NOTICES)


async def store_notices(
    cache: Cache, notices: list[NoticeLink], seconds: float, generation: int
) -> None:
    await _store_json(cache, NOTICES_KEY, _NOTICES, notices, seconds, generation)
