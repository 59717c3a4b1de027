"""The demo's registrations are dated across the past 12 months (through the one clock), so the
regional statistics' trend shows months, not one spike on the day the demo was loaded; their
events keep their order, and a second load adds nothing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlmodel import col

from api.certificates import demo as certificates_demo
from api.instruments import demo as instruments_demo
from api.instruments.models import RegisteredInstrument, RegistrationEvent
from api.instruments.settings import InstrumentsSettings
from api.instruments.statistics import summary
from portal import clock
from portal.db import Database
from portal.demo import load_accounts
from portal.regions.models import Region
from portal.settings import Settings


async def test_demo_registrations_spread_over_the_last_twelve_months(
    database: Database, settings: Settings
) -> None:
    async with database.transaction() as session:
        await load_accounts(session)
    for module in (certificates_demo, instruments_demo, certificates_demo):
        async with database.transaction() as session:
            await module.load(session, settings)
    async with database.transaction() as session:
        assert await instruments_demo.load(session, settings) is False  # idempotent

    today = clock.today()
    async with database.transaction() as session:
        registrations = (await session.scalars(select(RegisteredInstrument))).all()
        events = (
            await session.scalars(
                select(RegistrationEvent).order_by(
                    col(RegistrationEvent.at), col(RegistrationEvent.id)
                )
            )
        ).all()
        city = await session.get(Region, "610400")
        assert city is not None
        stats = await summary(
            session, region=city, today=today, settings=settings.of(InstrumentsSettings)
        )
    created = {clock.local_date(r.created_at) for r in registrations}
    assert all(day <= today for day in created)
    assert len({(d.year, d.month) for d in created}) >= 6
    # Every registration in the chart's window: the months add up to the registered count.
    assert sum(m.registered for m in stats.months) == stats.registered
    assert sum(1 for m in stats.months if m.registered) >= 6
    assert sum(m.retired for m in stats.months) == 2  # the retired meter, the replaced scale
    # A registration's history stays in order: registered first, nothing in the future.
    first: dict[object, str] = {}
    by_id = {r.id: r for r in registrations}
    for event in events:
        first.setdefault(event.registration_id, event.kind.value)
        assert clock.local_date(event.at) <= today
        assert event.at >= by_id[event.registration_id].created_at
    assert set(first.values()) == {"registered"}
    for r in registrations:
        if r.reviewed_at is not None:
            assert r.created_at <= r.reviewed_at <= clock.now() + timedelta(seconds=1)
    # The replacement scale is still due today, never verified, awaiting the bureau.
    replacement = next(r for r in registrations if r.serial == "XS2411002")
    assert replacement.due_on == today
    assert replacement.status.value == "pending"
