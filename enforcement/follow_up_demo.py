"""What the demo's inspected sites found (demo.py), so the follow-ups page has both cases: the
first site, inspected 45 days ago with a broken seal, has an order to correct long overdue; the
second, inspected two days ago with a broken seal, a penalty case within its 15 working days
(its result is not public yet: 一公开 comes 20 working days after the inspection); the others
passed, 45 days ago, and are public."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from portal import clock

INSPECTED_DAYS_AGO = 45  # demo.py's CAMPAIGN_AGE_DAYS counts from this
RECENT_DAYS_AGO = 2


def inspected(n: int) -> tuple[datetime, Literal["correct", "penalty_case"] | None]:
    """When the ``n``-th inspected site was inspected and the follow-up its finding got (None:
    it passed)."""
    if n == 0:
        return clock.now() - timedelta(days=INSPECTED_DAYS_AGO), "correct"
    if n == 1:
        return clock.now() - timedelta(days=RECENT_DAYS_AGO), "penalty_case"
    return clock.now() - timedelta(days=INSPECTED_DAYS_AGO), None
