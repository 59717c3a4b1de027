"""Periodic credit work: flag grades for review after a serious penalty, and record expiries.

Both read only the ledger's projection and the facts contract (portal/facts.py), so they need no
change when the enforcement-notice domain installs its ``penalty_facts`` provider."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from credit import ratings
from portal.outbox.service import JobContext, periodic


@periodic("credit.penalty_watch", every=timedelta(hours=6))
async def penalty_watch(
    session: AsyncSession, payload: dict[str, Any], context: JobContext
) -> None:
    await ratings.flag_serious_penalties(session, settings=context.settings)


@periodic("credit.expiry", every=timedelta(days=1))
async def expiry(session: AsyncSession, payload: dict[str, Any], context: JobContext) -> None:
    await ratings.expire_ratings(session, settings=context.settings)
