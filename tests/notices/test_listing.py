"""Notices that enter a party in the serious dishonesty list (严重违法失信名单, 市场监督管理严重违法失信
名单管理办法), on SQLite and PostgreSQL: the penalty kind records it however it is typed; the party
is named by its credit code; other domains read it through portal/facts.py ``lists_entered``
(in force on a day: published, not withdrawn, not removed), and a listing alone is no penalty.
The demo's notices count from the one clock and list a demo owner site."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlmodel import col

from notices import demo
from notices.models import EnforcementNotice
from portal import clock
from portal.accounts.models import Role
from portal.db import Database
from portal.facts import (
    listing_only,
    lists_entered,
    penalty_facts,
    penalty_parts,
    records_listing,
)
from portal.settings import Settings
from tests.notices.test_api import notice_payload
from tests.support import assert_problem

USCC = "91610402MA6XN3EX15"


def test_the_penalty_kind_records_a_listing_however_it_is_typed() -> None:
    for typed in ("列入严重违法失信名单", "罚款；列入严重违法失信名单", "罚款，并列入严重违法失信名单",
                  "列入市场监督管理严重违法失信名单", "列入严重违法失信名单（三年）",
                  "列入 严重违法失信名单", "列入严重违法失信名单。"):  # fmt: skip
        assert records_listing(typed), typed
    for typed in ("罚款", "警告；罚款", "移出严重违法失信名单", "不列入经营异常名录", "失信"):
        assert not records_listing(typed), typed
    assert listing_only("列入严重违法失信名单")
    assert not listing_only("罚款；列入严重违法失信名单")
    assert not listing_only("罚款")


def test_a_listing_named_in_quotes_or_with_纳入_is_still_a_listing() -> None:
    """Decisions quote the list's name (列入《市场监督管理严重违法失信名单》, 列入“严重违法失信名单”)
    and write 纳入 as often as 列入. Read as an unknown penalty instead, such a notice scored no
    listing, counted as a penalty, and was accepted without the party's credit code."""
    for typed in ("列入《市场监督管理严重违法失信名单》", "罚款；列入“严重违法失信名单”",
                  "纳入严重违法失信名单", "罚款，并纳入「严重违法失信名单」",
                  "列入‘严重违法失信名单’"):  # fmt: skip
        assert records_listing(typed), typed
    assert listing_only("列入《严重违法失信名单》")
    assert not records_listing("不予纳入严重违法失信名单")
    assert penalty_parts("处《罚款》") == {"罚款"}


async def test_listings_are_facts_while_in_force(
    client: httpx.AsyncClient, database: Database, index_engine, make_user, auth_headers
) -> None:  # type: ignore[no-untyped-def]
    headers = await auth_headers(await make_user(Role.regulator, region="610400"))
    today = clock.today()

    async def publish(number: str, kind: str, **more: object) -> dict[str, object]:
        payload = notice_payload(decision_number=number, penalty_kind=kind, **more)
        created = await client.post("/api/v1/notices", json=payload, headers=headers)
        assert created.status_code == 201, created.text
        body: dict[str, object] = created.json()
        return body

    alone = await publish("L-1", "列入严重违法失信名单", penalty_amount=None)
    both = await publish("L-2", "罚款；并列入严重违法失信名单", penalty_amount="50000")
    revoked = await publish("L-3", "列入严重违法失信名单", penalty_amount=None)
    fine = await publish("P-1", "罚款")
    assert fine["serious_dishonesty_list"] is None
    assert alone["serious_dishonesty_list"] == {
        "entered_on": alone["decision_date"],
        "listed_until": alone["display_until"],
        "removed_on": None,
    }
    # A serious measure: on display (and on the list) for three years, not a minor fine's three months.
    assert alone["display_until"] == clock.add_months(today, 36).isoformat()
    page = await client.get(str(alone["url"]))
    assert page.status_code == 200
    assert f"{alone['decision_date']} 列入，在名单中至 {alone['display_until']}" in page.text
    assert "《市场监督管理严重违法失信名单管理办法》" in page.text
    fine_page = await client.get(str(fine["url"]))
    assert 'id="notice-listing"' not in fine_page.text
    withdrawn = await client.post(
        f"/api/v1/notices/{revoked['id']}/withdraw",
        json={"reason": "列入决定被撤销"},
        headers=headers,
    )
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["serious_dishonesty_list"]["removed_on"] == today.isoformat()
    # An individual without a credit code cannot be listed by a notice, nor a notice corrected
    # into one.
    assert_problem(
        await client.post(
            "/api/v1/notices",
            json=notice_payload(
                decision_number="L-4",
                party_uscc=None,
                party_name="张三",
                penalty_kind="罚款；列入严重违法失信名单",
            ),
            headers=headers,
        ),
        422,
        "listing_without_credit_code",
    )
    person = await publish("P-2", "罚款", party_uscc=None, party_name="李四")
    assert_problem(
        await client.patch(
            f"/api/v1/notices/{person['id']}",
            json={"penalty_kind": "列入严重违法失信名单"},
            headers=headers,
        ),
        422,
        "listing_without_credit_code",
    )

    async with database.sessionmaker() as session:
        listed = await lists_entered(session, as_of=today, usccs=[USCC.lower()])
        assert [f.decision_number for f in listed] == ["L-1", "L-2"]
        assert {f.url for f in listed} == {f"/notices/{alone['id']}", f"/notices/{both['id']}"}
        assert all(f.party_uscc == USCC for f in listed)
        assert [f.decision_number for f in await lists_entered(session, as_of=today)] == [
            "L-1",
            "L-2",
        ]
        assert await lists_entered(session, as_of=today, usccs=["91610404MA6XYK4Q78"]) == []
        assert await lists_entered(session, as_of=today - timedelta(days=1)) == []
        # A listing alone is no administrative penalty; one made with a fine: the fine is.
        penalties = await penalty_facts(session, as_of=today, usccs=[USCC])
        assert sorted(p.decision_number for p in penalties) == ["L-2", "P-1"]

    # Removed (移出) before the three years: the display ends, the listing is no fact after it.
    removed = await client.patch(
        f"/api/v1/notices/{alone['id']}",
        json={"display_until": today.isoformat()},
        headers=headers,
    )
    assert removed.status_code == 200, removed.text
    async with database.sessionmaker() as session:
        tomorrow = today + timedelta(days=1)
        assert [f.decision_number for f in await lists_entered(session, as_of=tomorrow)] == ["L-2"]


async def test_the_demo_notices_count_from_the_clock_and_list_a_demo_owner(
    database: Database, settings: Settings
) -> None:
    # A day far from the real one: dates taken from the system clock would not match.
    with clock.use_clock(clock.FixedClock(datetime(2031, 3, 15, 20, 0, tzinfo=UTC))):
        today = clock.today()
        assert today.isoformat() == "2031-03-16"  # already the next day in China
        async with database.transaction() as session:
            assert await demo.load(session, settings) is True
        async with database.transaction() as session:
            assert await demo.load(session, settings) is False
        async with database.sessionmaker() as session:
            notices = (
                await session.scalars(
                    select(EnforcementNotice).order_by(col(EnforcementNotice.decision_date))
                )
            ).all()
            listed = await lists_entered(session, as_of=today, usccs=["91610402MA6XY00036"])
    assert {n.decision_date for n in notices} == {
        today - timedelta(days=d) for d in (40, 30, 20, 10, 5)
    }
    assert all(n.published_on == n.decision_date + timedelta(days=3) for n in notices)
    (entry,) = listed
    assert entry.entered_on == today - timedelta(days=30)
    assert entry.decision_number == "咸市监信列〔2026〕2号"


async def test_a_listing_typed_with_a_space_inside_the_name_is_a_fact(
    client: httpx.AsyncClient, database: Database, index_engine, make_user, auth_headers
) -> None:  # type: ignore[no-untyped-def]
    """The notice says it lists the party (records_listing ignores spaces and invisible
    characters anywhere), so the risk model must find the listing too: lists_entered narrowed
    its query with LIKE '%失信名单%', which a space or a zero-width character between 失信 and 名单
    (pasted from a decision's PDF) slipped past."""
    headers = await auth_headers(await make_user(Role.regulator, region="610400"))
    typed = [
        "列入严重违法失信　名单",
        "罚款；列入严重违法失\u200b信名单",
        "列入《严重违法失信名单》",
    ]
    for number, kind in enumerate(typed):
        created = await client.post(
            "/api/v1/notices",
            json=notice_payload(decision_number=f"LS-{number}", penalty_kind=kind),
            headers=headers,
        )
        assert created.status_code == 201, created.text
        assert created.json()["serious_dishonesty_list"] is not None, kind
    async with database.sessionmaker() as session:
        listed = await lists_entered(session, as_of=clock.today(), usccs=[USCC])
    assert sorted(f.decision_number for f in listed) == ["LS-0", "LS-1", "LS-2"]


async def test_a_correction_that_adds_the_listing_keeps_the_party_listed_three_years(
    client: httpx.AsyncClient, database: Database, index_engine, make_user, auth_headers
) -> None:  # type: ignore[no-untyped-def]
    """A minor fine is displayed three months; corrected into a fine and a listing, the notice
    kept those three months, so the party left the list (and the risk model's facts) after three
    months with no removal (移出) ever decided, and the page said 在名单中至 that day. A display
    period that followed the statutory default follows the corrected penalty's; one the
    regulator set stays theirs."""
    headers = await auth_headers(await make_user(Role.regulator, region="610400"))
    today = clock.today()
    created = await client.post(
        "/api/v1/notices", json=notice_payload(decision_number="C-1"), headers=headers
    )
    assert created.status_code == 201, created.text
    notice = created.json()
    assert notice["display_until"] == clock.add_months(today, 3).isoformat()
    corrected = await client.patch(
        f"/api/v1/notices/{notice['id']}",
        json={"penalty_kind": "罚款；列入严重违法失信名单"},
        headers=headers,
    )
    assert corrected.status_code == 200, corrected.text
    three_years = clock.add_months(today, 36).isoformat()
    assert corrected.json()["serious_dishonesty_list"]["listed_until"] == three_years
    async with database.sessionmaker() as session:
        later = clock.add_months(today, 4)
        assert [f.decision_number for f in await lists_entered(session, as_of=later)] == ["C-1"]
    # Set by the regulator (an early removal, 移出): a later correction leaves it.
    removed = await client.patch(
        f"/api/v1/notices/{notice['id']}", json={"display_until": today.isoformat()},
        headers=headers,
    )  # fmt: skip
    assert removed.status_code == 200, removed.text
    again = await client.patch(
        f"/api/v1/notices/{notice['id']}",
        json={"penalty_kind": "罚款，并列入严重违法失信名单"},
        headers=headers,
    )
    assert again.json()["display_until"] == today.isoformat()
