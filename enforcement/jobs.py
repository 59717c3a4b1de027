"""Periodic risk work: every site's score recomputed nightly with the current model, set-based."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from enforcement import follow_ups, scores
from portal.outbox.service import JobContext, periodic


@periodic("enforcement.risk_scores", every=timedelta(days=1))
async def recompute_risk_scores(
    session: AsyncSession, payload: dict[str, Any], context: JobContext
) -> None:
    await scores.recompute(session, region=None)


async def on_calendar_changed(
    session: AsyncSession, payload: dict[str, Any], context: JobContext
) -> None:
    """A year's holidays were imported or removed (portal/workdays/jobs.py): the open
    follow-ups' deadlines touching that year are counted again (follow_ups.py)."""
    await follow_ups.recompute_deadlines(session, years=[int(y) for y in payload.get("years", [])])
