"""A facts provider for the tests, speaking the portal/facts.py contract exactly as the real
providers do (api/certificates/facts.py, api/complaints/facts.py, search/facts.py). Those need a
certificate issued by an institution, a concluded case or a published enforcement notice for each
fact; this one lets a test state the facts directly, so the scoring rules (overdue instruments,
complaint rates, penalty points) are tested on exact numbers through the real gathering path
(the ``platform_facts`` fixture installs it as one more domain, beside the real providers).
tests/integration/test_credit_from_platform_data.py drives the same workflow through the real
providers only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from portal.facts import ComplaintFact, InstrumentFact, PenaltyFact

INSTRUMENTS: list[InstrumentFact] = []
COMPLAINTS: list[ComplaintFact] = []
PENALTIES: list[PenaltyFact] = []


def clear() -> None:
    INSTRUMENTS.clear()
    COMPLAINTS.clear()
    PENALTIES.clear()


def _wanted(usccs: Sequence[str] | None, code: str) -> bool:
    return usccs is None or code in usccs


async def instrument_facts(
    session: AsyncSession, *, as_of: date, usccs: Sequence[str] | None
) -> list[InstrumentFact]:
    return [f for f in INSTRUMENTS if _wanted(usccs, f.owner_uscc)]


async def complaint_facts(
    session: AsyncSession, *, since: datetime, usccs: Sequence[str] | None
) -> list[ComplaintFact]:
    return [f for f in COMPLAINTS if _wanted(usccs, f.business_uscc) and f.concluded_at >= since]


async def penalty_facts(
    session: AsyncSession, *, as_of: date, usccs: Sequence[str] | None
) -> list[PenaltyFact]:
    return [
        f
        for f in PENALTIES
        if _wanted(usccs, f.party_uscc) and f.decided_on <= as_of <= f.display_until
    ]
