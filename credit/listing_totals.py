"""The number of current grades of each filter set of the public list, kept per process for a few
seconds (credit/public.py list_ratings; ``GONGZHI_CREDIT_LIST_TOTAL_SECONDS``)."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any


class RatingTotals:
    """How many current grades each filter set has, kept per process for a few seconds.

    Counting is the one part of a page whose cost grows with the grades (every current grade of
    the filter set is read: about 20 ms at 100,000 on SQLite, against microseconds for the
    page's own scores), and every visitor paging through the list would pay it again. The total
    only sizes the pager, so a total a few seconds old shows at worst one page too many or too few
    until it expires; the page's rows and their order are always read live. Keyed by the day, so
    grades that lapse at midnight are never counted from yesterday's total."""

    def __init__(self, max_entries: int = 1024) -> None:
        self._entries: OrderedDict[tuple[Any, ...], tuple[float, int]] = OrderedDict()
        self._max_entries = max_entries

    def get(self, key: tuple[Any, ...]) -> int | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, total = found
        if time.monotonic() >= expires:
            del self._entries[key]
            return None
        return total

    def put(self, key: tuple[Any, ...], total: int, seconds: float) -> None:
        if seconds <= 0:
            return
        self._entries[key] = (time.monotonic() + seconds, total)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


TOTALS = RatingTotals()
