"""What a restored deployment must show of credit: the public ledger verifies end to end (every
hash, signature and link) with this deployment's signing key. Credit keeps no files."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from credit.ledger import signing_key, verify_stored
from credit.models import LedgerEvent
from portal.settings import Settings


async def check_restored(session: AsyncSession, settings: Settings) -> list[str]:
    # No events, nothing signed: do not create a key file on a deployment that has none.
    if not await session.scalar(select(func.count()).select_from(LedgerEvent)):
        return []
    result = await verify_stored(session, signing_key(settings))
    return [f"ledger: {problem}" for problem in result.problems]
