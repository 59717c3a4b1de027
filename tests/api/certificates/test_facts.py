"""The facts credit evaluation reads: instruments of enterprises with their current status."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from api.certificates.queries import today_local
from portal.accounts.models import User
from portal.db import Database
from portal.facts import instrument_facts
from tests.api.certificates.support import Issue, days, valid_uscc


async def test_instrument_facts(
    client: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    database: Database,
) -> None:
    a = valid_uscc("91610404MA6XY0002")
    b = valid_uscc("91610404MA6XY0003")
    await issue(
        number="F-1", serial="A1", owner_uscc=a, verified_on=days(-480), valid_until=days(-135)
    )
    await issue(
        number="F-2",
        serial="A1",
        owner_uscc=a,
        conclusion="不合格",
        valid_until=None,
        verified_on=days(-20),
    )
    await issue(
        number="F-3", serial="A2", owner_uscc=a, verified_on=days(-300), valid_until=days(-40)
    )
    await issue(number="F-4", serial="B1", owner_uscc=b)
    await issue(number="F-5", serial="P1", owner_name="张三", owner_uscc=None)
    async with database.sessionmaker() as session:
        facts = await instrument_facts(session, as_of=today_local(), usccs=[a])
        everyone = await instrument_facts(session, as_of=today_local(), usccs=None)
    by_number = {f.certificate_number: f for f in facts}
    assert set(by_number) == {"F-2", "F-3"}
    assert by_number["F-2"].status == "failed"
    assert (by_number["F-2"].failures_24m, by_number["F-2"].verifications_24m) == (1, 2)
    assert by_number["F-3"].status == "expired"
    assert by_number["F-3"].overdue_days == 40
    assert {f.owner_uscc for f in everyone} == {a, b}  # individuals have no credit code
