"""Follow-ups of failed inspections through the API and the page, on SQLite and PostgreSQL: a
failed inspection opens one follow-up (a replay opens no second) with a deadline in working
days; it is overdue once the clock passes the deadline; the bureau moves it through the steps its
status allows (others are 409, bad input 422); only the campaign's bureau sees it; unresolved
follow-ups are facts for the next risk score."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlmodel import col

from enforcement import follow_ups
from enforcement.models import FollowUp, FollowUpEvent
from enforcement.settings import EnforcementSettings
from portal import clock, facts, workdays
from portal.accounts.models import Role, User
from portal.db import Database
from portal.settings import Settings
from tests.enforcement.support import Sites, drawn_inspections, inspection_result
from tests.support import assert_problem

Headers = Callable[[User], Awaitable[dict[str, str]]]
API = "/api/v1/enforcement/follow-ups"


async def _inspected(
    client: httpx.AsyncClient,
    bureau: dict[str, str],
    weicheng: str,
    *,
    follow_up: str = "correct",
) -> tuple[str, str, dict[str, Any], str]:
    """A drawn campaign whose 渭城区 site the bureau recorded: the inspection id, the Idempotency-Key,
    the body sent and the 秦都区 site's inspection id."""
    by_site = await drawn_inspections(client, bureau, weicheng)
    inspection = by_site[weicheng]
    form = await client.get(f"/api/v1/enforcement/inspections/{inspection}", headers=bureau)
    body = inspection_result(form.json()["instruments"], check_note="", follow_up=follow_up)
    key = str(uuid.uuid4())
    recorded = await client.put(
        f"/api/v1/enforcement/inspections/{inspection}/result",
        json=body,
        headers={**bureau, "Idempotency-Key": key},
    )
    assert recorded.status_code == 200, recorded.text
    others = [i for s, i in by_site.items() if s != weicheng]
    return inspection, key, body, others[0]


async def _count(database: Database) -> int:
    async with database.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(FollowUp))).scalar_one())


async def test_a_failed_inspection_opens_one_follow_up_the_bureau_moves_to_closed(
    client: httpx.AsyncClient, database: Database, settings: Settings, sites: Sites
) -> None:
    bureau, _, weicheng = sites
    inspection, key, body, _ = await _inspected(client, bureau, weicheng)

    listed = await client.get(API, headers=bureau)
    assert listed.status_code == 200, listed.text
    assert listed.json()["total"] == 1
    item = listed.json()["items"][0]
    days = settings.of(EnforcementSettings).enforcement_correction_working_days
    assert days == 10
    assert item["inspection_id"] == inspection
    assert item["site_id"] == weicheng
    assert item["kind"] == "correct"
    assert item["status"] == "open"
    assert item["overdue"] is False
    assert "封印破损" in item["findings"]
    assert item["ordered_on"] == clock.today().isoformat()
    assert item["deadline"] == workdays.add_working_days(clock.today(), days).isoformat()

    # A replay of the same submission (a phone that lost the answer) opens no second one.
    replay = await client.put(
        f"/api/v1/enforcement/inspections/{inspection}/result",
        json=body,
        headers={**bureau, "Idempotency-Key": key},
    )
    assert replay.status_code == 200, replay.text
    assert await _count(database) == 1

    follow_up = item["id"]
    detail = await client.get(f"{API}/{follow_up}", headers=bureau)
    assert detail.status_code == 200, detail.text
    assert [e["action"] for e in detail.json()["events"]] == ["opened"]

    # An open order to correct is not closed, nor corrected on a day after today or before the
    # order, nor without what the re-inspection saw.
    assert_problem(
        await client.post(f"{API}/{follow_up}/close", json={"outcome": "结了"}, headers=bureau),
        409,
        "follow_up_transition_not_allowed",
    )
    tomorrow = (clock.today() + timedelta(days=1)).isoformat()
    assert_problem(
        await client.post(
            f"{API}/{follow_up}/correction",
            json={"evidence": "已更换封印", "reinspected_on": tomorrow},
            headers=bureau,
        ),
        422,
        "reinspection_date_invalid",
    )
    for bad in (
        {"evidence": "   ", "reinspected_on": clock.today().isoformat()},
        {"evidence": "x" * 1001, "reinspected_on": clock.today().isoformat()},
        {"evidence": "已更换封印", "reinspected_on": "2026-13-01"},
        {"evidence": "已更换封印"},
    ):
        assert_problem(
            await client.post(f"{API}/{follow_up}/correction", json=bad, headers=bureau), 422
        )
    assert (await client.get(f"{API}/{follow_up}", headers=bureau)).json()["status"] == "open"

    corrected = await client.post(
        f"{API}/{follow_up}/correction",
        json={"evidence": "已更换封印并送检合格", "reinspected_on": clock.today().isoformat()},
        headers=bureau,
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["status"] == "corrected"
    assert corrected.json()["reinspected_on"] == clock.today().isoformat()
    # Corrected once: neither again nor a case now.
    assert_problem(
        await client.post(
            f"{API}/{follow_up}/correction",
            json={"evidence": "again", "reinspected_on": clock.today().isoformat()},
            headers=bureau,
        ),
        409,
        "follow_up_transition_not_allowed",
    )
    assert_problem(
        await client.post(f"{API}/{follow_up}/case", json={"case_number": "X-1"}, headers=bureau),
        409,
        "follow_up_transition_not_allowed",
    )
    closed = await client.post(
        f"{API}/{follow_up}/close", json={"outcome": "复查合格，办结"}, headers=bureau
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    events = closed.json()["events"]
    assert [e["action"] for e in events] == ["opened", "corrected", "closed"]
    assert all(e["actor_name"] for e in events)

    assert (await client.get(API, params={"status": "closed"}, headers=bureau)).json()["total"] == 1
    assert (await client.get(API, params={"status": "open"}, headers=bureau)).json()["total"] == 0
    assert_problem(await client.get(API, params={"status": "nonsense"}, headers=bureau), 422)
    assert_problem(
        await client.get(f"{API}/{uuid.uuid4()}", headers=bureau), 404, "follow_up_not_found"
    )


async def test_overdue_comes_from_the_clock_and_is_a_fact_for_the_risk_score(
    client: httpx.AsyncClient,
    database: Database,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    sites: Sites,
) -> None:
    bureau, _, weicheng = sites
    await _inspected(client, bureau, weicheng)
    item = (await client.get(API, headers=bureau)).json()["items"][0]
    deadline = clock.today().fromisoformat(item["deadline"])

    async with database.transaction() as session:
        found = await facts.follow_up_facts(session, as_of=clock.today(), region="610400")
    assert [(f.follow_up_id, f.owner_id, f.overdue) for f in found] == [
        (uuid.UUID(item["id"]), uuid.UUID(weicheng), False)
    ]

    later = clock.now() + timedelta(days=(deadline - clock.today()).days + 3)
    with clock.use_clock(clock.FixedClock(later)):
        # Signed in then (a token of today's would have expired).
        bureau = await auth_headers(await make_user(Role.regulator, region="610400"))
        overdue = await client.get(API, params={"overdue": "true"}, headers=bureau)
        assert overdue.json()["total"] == 1
        assert overdue.json()["items"][0]["status"] == "overdue"
        assert (await client.get(API, params={"status": "overdue"}, headers=bureau)).json()[
            "total"
        ] == 1
        assert (await client.get(API, params={"status": "open"}, headers=bureau)).json()[
            "total"
        ] == 0
        assert (await client.get(API, params={"overdue": "false"}, headers=bureau)).json()[
            "total"
        ] == 0
        page = await client.get("/backoffice/follow-ups", headers=bureau)
        assert "已逾期" in page.text
        async with database.transaction() as session:
            late = await facts.follow_up_facts(session, as_of=clock.today(), region=None)
        assert late[0].overdue is True
        assert late[0].overdue_days == (clock.today() - deadline).days
        # Another region's sites: none.
        async with database.transaction() as session:
            assert await facts.follow_up_facts(session, as_of=clock.today(), region="610100") == []
        # Filing the case (逾期不改正) resolves neither the fact nor the overdue order silently:
        # a filed case is still unresolved, but no longer overdue.
        filed = await client.post(
            f"{API}/{item['id']}/case",
            json={"case_number": "咸市监立〔2026〕12号", "note": "逾期不改正"},
            headers=bureau,
        )
        assert filed.status_code == 200, filed.text
        assert filed.json()["status"] == "case_filed"
        async with database.transaction() as session:
            after = await facts.follow_up_facts(session, as_of=clock.today(), region=None)
        assert [(f.status, f.overdue) for f in after] == [("case_filed", False)]


async def test_a_penalty_case_is_filed_or_not_and_kinds_filter(
    client: httpx.AsyncClient, database: Database, sites: Sites
) -> None:
    bureau, _, weicheng = sites
    await _inspected(client, bureau, weicheng, follow_up="penalty_case")
    assert (await client.get(API, params={"kind": "correct"}, headers=bureau)).json()["total"] == 0
    listed = await client.get(API, params={"kind": "penalty_case"}, headers=bureau)
    item = listed.json()["items"][0]
    assert item["working_days"] == 15
    assert item["deadline"] == workdays.add_working_days(clock.today(), 15).isoformat()
    # A penalty case is filed or closed, never "corrected".
    assert_problem(
        await client.post(
            f"{API}/{item['id']}/correction",
            json={"evidence": "已改", "reinspected_on": clock.today().isoformat()},
            headers=bureau,
        ),
        409,
        "follow_up_transition_not_allowed",
    )
    for bad in ("", "x" * 65, "<script>", "a;b"):
        assert_problem(
            await client.post(
                f"{API}/{item['id']}/case", json={"case_number": bad}, headers=bureau
            ),
            422,
        )
    assert_problem(
        await client.post(f"{API}/{item['id']}/close", json={"outcome": " "}, headers=bureau), 422
    )
    # 经核查不予立案: closed from open, with the reason.
    closed = await client.post(
        f"{API}/{item['id']}/close", json={"outcome": "经核查不予立案：已当场改正"}, headers=bureau
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "closed"
    assert_problem(
        await client.post(f"{API}/{item['id']}/case", json={"case_number": "A-1"}, headers=bureau),
        409,
        "follow_up_transition_not_allowed",
    )


async def test_only_the_campaigns_bureau_sees_and_moves_its_follow_ups(
    client: httpx.AsyncClient,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    sites: Sites,
) -> None:
    bureau, _, weicheng = sites
    await _inspected(client, bureau, weicheng)
    follow_up = (await client.get(API, headers=bureau)).json()["items"][0]["id"]
    # The site's own district office (kept away from its sites by the draw), another city's
    # bureau: the region rule's 403, and an empty list.
    for region in ("610404", "610102"):
        other = await auth_headers(await make_user(Role.regulator, region=region))
        assert (await client.get(API, headers=other)).json()["total"] == 0
        assert_problem(
            await client.get(f"{API}/{follow_up}", headers=other), 403, "region_forbidden"
        )
        assert_problem(
            await client.post(
                f"{API}/{follow_up}/case", json={"case_number": "A-1"}, headers=other
            ),
            403,
            "region_forbidden",
        )
        page = await client.post(
            f"/backoffice/follow-ups/{follow_up}/case", data={"case_number": "A-1"}, headers=other
        )
        assert page.status_code == 403
    # The province above sees it; a citizen and a visitor do not.
    province = await auth_headers(await make_user(Role.regulator, region="610000"))
    assert (await client.get(API, headers=province)).json()["total"] == 1
    citizen = await auth_headers(await make_user(Role.citizen, region="610402"))
    assert_problem(await client.get(API, headers=citizen), 403)
    assert (await client.get(API)).status_code == 401
    assert (await client.get("/backoffice/follow-ups")).status_code == 303
    assert (await client.get("/backoffice/follow-ups", headers=citizen)).status_code == 403
    assert (await client.get(f"{API}/{follow_up}", headers=bureau)).json()["status"] == "open"


async def test_the_page_lists_open_follow_ups_and_its_forms_move_them(
    client: httpx.AsyncClient, sites: Sites
) -> None:
    bureau, _, weicheng = sites
    empty = await client.get("/backoffice/follow-ups", headers=bureau)
    assert empty.status_code == 200
    assert "没有待办" in empty.text
    await _inspected(client, bureau, weicheng)
    follow_up = (await client.get(API, headers=bureau)).json()["items"][0]
    page = await client.get("/backoffice/follow-ups", headers=bureau)
    assert page.status_code == 200
    assert "张三" in page.text  # the bureau sees the site's own name
    assert follow_up["deadline"] in page.text
    assert f"/backoffice/follow-ups/{follow_up['id']}/correction" in page.text
    assert f"/backoffice/follow-ups/{follow_up['id']}/case" in page.text

    moved = await client.post(
        f"/backoffice/follow-ups/{follow_up['id']}/correction",
        data={"evidence": "已更换封印", "reinspected_on": clock.today().isoformat()},
        headers=bureau,
    )
    assert moved.status_code == 303
    assert moved.headers["location"].startswith("/backoffice/follow-ups?done=corrected")
    assert "没有待办" in (await client.get("/backoffice/follow-ups", headers=bureau)).text
    done = await client.get("/backoffice/follow-ups?view=corrected", headers=bureau)
    assert "已更换封印" in done.text
    assert f"/backoffice/follow-ups/{follow_up['id']}/close" in done.text
    # A step its status does not allow: the error page with the Chinese reason.
    again = await client.post(
        f"/backoffice/follow-ups/{follow_up['id']}/case",
        data={"case_number": "A-1"},
        headers=bureau,
    )
    assert again.status_code == 409
    assert "不允许" in again.text or "不能" in again.text
    # An unknown view is the to-do view.
    assert (await client.get("/backoffice/follow-ups?view=x", headers=bureau)).status_code == 200


async def test_a_calendar_change_counts_open_deadlines_again(
    client: httpx.AsyncClient, database: Database, sites: Sites
) -> None:
    bureau, _, weicheng = sites
    await _inspected(client, bureau, weicheng)
    async with database.transaction() as session:
        follow_up = (await session.execute(select(FollowUp))).scalar_one()
        right = follow_up.deadline
        follow_up.deadline = right + timedelta(days=3)  # as counted on an older calendar
        await session.flush()
        changed = await follow_ups.recompute_deadlines(session, years=[right.year])
        assert changed == 1
        assert follow_up.deadline == right
        actions = (
            await session.execute(
                select(col(FollowUpEvent.action))
                .where(col(FollowUpEvent.follow_up_id) == follow_up.id)
                .order_by(col(FollowUpEvent.at))
            )
        ).scalars()
        assert list(actions) == ["opened", "deadline_moved"]
        assert await follow_ups.recompute_deadlines(session, years=[right.year]) == 0


async def test_two_bureau_users_acting_at_once_move_it_once(
    client: httpx.AsyncClient, database: Database, sites: Sites
) -> None:
    bureau, _, weicheng = sites
    await _inspected(client, bureau, weicheng, follow_up="penalty_case")
    follow_up = (await client.get(API, headers=bureau)).json()["items"][0]["id"]
    raced = await asyncio.gather(
        client.post(f"{API}/{follow_up}/case", json={"case_number": "A-1"}, headers=bureau),
        # 不予立案 as the page offers it for an open case: the status seen goes with it (without
        # it, a close that read the follow-up after the filing committed closed the filed case
        # with "不予立案", and both answered 200).
        client.post(
            f"{API}/{follow_up}/close",
            json={"outcome": "不予立案", "expected_status": "open"},
            headers=bureau,
        ),
    )
    assert sorted(r.status_code for r in raced) == [200, 409], [r.text for r in raced]
    loser = raced[[r.status_code for r in raced].index(409)]
    assert_problem(loser, 409, "follow_up_transition_not_allowed")
    async with database.transaction() as session:
        actions = (
            await session.execute(
                select(col(FollowUpEvent.action)).where(
                    col(FollowUpEvent.follow_up_id) == uuid.UUID(follow_up)
                )
            )
        ).scalars()
        assert sorted(actions) in (["case_filed", "opened"], ["closed", "opened"])


async def test_a_close_written_for_an_open_case_does_not_close_a_filed_one(
    client: httpx.AsyncClient, sites: Sites
) -> None:
    """Two bureau users have the page open; one files the case, the other then sends the
    不予立案 form they filled in for the open case: refused (409, the page says so), not
    recorded as how the filed case ended. The API without the status seen still closes."""
    bureau, _, weicheng = sites
    await _inspected(client, bureau, weicheng, follow_up="penalty_case")
    follow_up = (await client.get(API, headers=bureau)).json()["items"][0]["id"]
    filed = await client.post(
        f"{API}/{follow_up}/case", json={"case_number": "A-1"}, headers=bureau
    )
    assert filed.status_code == 200, filed.text
    stale = await client.post(
        f"/backoffice/follow-ups/{follow_up}/close",
        data={"outcome": "经核查不予立案", "expected_status": "open"},
        headers=bureau,
    )
    assert stale.status_code == 409
    assert "刚刚已被他人处理" in stale.text
    assert_problem(
        await client.post(
            f"{API}/{follow_up}/close",
            json={"outcome": "经核查不予立案", "expected_status": "open"},
            headers=bureau,
        ),
        409,
        "follow_up_transition_not_allowed",
    )
    assert (await client.get(f"{API}/{follow_up}", headers=bureau)).json()["status"] == (
        "case_filed"
    )
    closed = await client.post(
        f"{API}/{follow_up}/close", json={"outcome": "已作出处罚决定"}, headers=bureau
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["outcome"] == "已作出处罚决定"
