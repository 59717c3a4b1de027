"""The number of current grades of each filter set of the public list, kept a few seconds in the
portal's cache (portal/cache.py; credit/public.py list_ratings; ``GONGZHI_CREDIT_LIST_TOTAL_SECONDS``).

Counting is the one part of a page whose cost grows with the grades (every current grade of the
filter set is read: about 20 ms at 100,000 on SQLite, against microseconds for the page's own
scores), and every visitor paging through the list would pay it again. The total only sizes the
pager, so a total a few seconds old shows at worst one page too many or too few until it expires;
the page's rows and their order are always read live. Keyed by the day, so grades that lapse at
midnight are never counted from yesterday's total. A grade published, changed or withdrawn on any
node moves the cache's generation when it commits (portal/db.py), so no node counts from a total of
before it; with Redis (scaled out) every node reads the same totals."""

from __future__ import annotations

import hashlib
from datetime import date

from portal.cache import Cache


def key(
    today: date,
    industry: str | None,
    grade: str | None,
    prefixes: tuple[str, ...] | None,
    q: str | None,
) -> str:
    text = repr((today.isoformat(), industry, grade, prefixes, q))
    return "credit-totals:" + hashlib.sha256(text.encode()).hexdigest()


async def lookup(cache: Cache, name: str) -> tuple[int, int | None]:
    """(the cache's generation, the total kept for ``name`` or None)."""
    generation, raw = await cache.lookup(name)
    if raw is None or not raw.isdigit() or len(raw) > 12:
        return generation, None
    return generation, int(raw)


async def store(cache: Cache, name: str, total: int, seconds: float, generation: int) -> None:
    await cache.store(name, str(total).encode(), seconds, generation)
