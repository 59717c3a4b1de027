"""``/readyz``: which years deadlines may reach are known. A missing year is a warning for the
operator, not unreadiness: the portal still serves (and, with ``refuse``, says so per action)."""

from __future__ import annotations

from typing import Any

from portal import clock, workdays
from portal.workdays.settings import CalendarSettings


async def check(app: Any) -> dict[str, Any]:
    config = app.state.settings.of(CalendarSettings)
    found = workdays.coverage(clock.today(), horizon_days=config.calendar_warning_horizon_days)
    return {
        "calendar": {
            "ok": True,
            "years": {str(y.year): y.source or "missing" for y in found.years},
            "missing": found.missing,
            "unknown_year": found.unknown_year,
        }
    }
