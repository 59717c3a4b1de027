"""Which bureau handles a case: 分送 by a higher bureau (投诉举报处理暂行办法 第三十七条) and
disputes over jurisdiction settled by the common higher bureau (第三十条)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlmodel import col, select

from api.complaints.deadlines import is_overdue, recompute_open_deadlines
from api.complaints.jurisdiction import NATIONAL, common_superior
from api.complaints.models import Case, CaseEvent
from api.complaints.schemas import STAFF_ACTIONS, StaffCaseRead
from api.complaints.settings import ComplaintsSettings
from api.complaints.workflow import apply_action
from portal import clock, workdays
from portal.accounts.models import Role
from portal.audit.models import AuditEntry
from portal.db import Database
from tests.api.complaints.support import complaint_body, report_body
from tests.api.complaints.test_staff_pages import _login
from tests.api.complaints.test_workflow import Staff, case_id, submit
from tests.support import assert_problem


async def audit_regions(database: Database, prefix: str) -> set[tuple[str, str | None]]:
    async with database.transaction() as session:
        return {
            (e.action, e.region_code)
            for e in await session.scalars(
                select(AuditEntry).where(col(AuditEntry.action).like(f"{prefix}%"))
            )
        }


async def timeline(client: httpx.AsyncClient, created: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/cases/{created['tracking_number']}",
        headers={"X-Case-Token": created["access_token"]},
    )
    assert response.status_code == 200, response.text
    return list(response.json()["timeline"])


async def test_a_higher_bureau_dispatches_a_case_to_a_lower_one_article_37(
    client: httpx.AsyncClient, database: Database, make_user, auth_headers
) -> None:
    """暂行办法 第三十七条: the city bureau that received a complaint dispatches (分送) it to the
    district with jurisdiction: the district's acceptance period (第十四条, seven working days)
    starts on receipt, both regions keep the audit entry, the complainant is told."""
    created = await submit(client, complaint_body(region_code="610400"))
    cid = await case_id(database, created["tracking_number"])
    city = Staff(client, await auth_headers(await make_user(Role.regulator, region="610400")), cid)
    district = await make_user(Role.regulator, region="610402")
    # A district cannot take a city's case for itself, nor dispatch outside the city.
    assert (
        await Staff(client, await auth_headers(district), cid).act(
            "dispatch", region_code="610402", body="x"
        )
    ).status_code == 403
    assert_problem(
        await city.act("dispatch", region_code="610102", body="西安"), 422, "case_action_invalid"
    )
    assert_problem(await city.act("dispatch", region_code="610402"), 422, "case_action_invalid")

    view = await city.ok("dispatch", region_code="610402", body="经营地在秦都区。")
    assert view["region_code"] == "610402"
    assert view["dispatched_from"] == "610400"
    assert view["status"] == "received"
    assert (
        view["deadlines"]["acceptance_due"]
        == workdays.add_working_days(clock.today(), 7).isoformat()
    )
    event = view["events"][-1]
    assert (event["type"], event["public"]) == ("dispatched", True)
    assert event["data"] == {"from": "610400", "to": "610402"}
    assert "秦都区" in event["body"]
    assert await audit_regions(database, "case.dispatch") == {
        ("case.dispatch.out", "610400"),
        ("case.dispatch", "610402"),
    }
    assert "已分送下级部门办理" in [t["title"] for t in await timeline(client, created)]
    # Now in a district: nothing lower to dispatch to (the state machine says so).
    assert_problem(
        await city.act("dispatch", region_code="610402", body="x"), 409, "illegal_transition"
    )
    handled = Staff(client, await auth_headers(district), cid)
    assert (await handled.ok("accept"))["status"] == "accepted"


async def test_a_dispute_over_jurisdiction_goes_to_the_common_higher_bureau_article_30(
    client: httpx.AsyncClient, database: Database, make_user, auth_headers
) -> None:
    """暂行办法 第三十条: two bureaus disputing jurisdiction settle it within seven working days;
    if they cannot, the common higher bureau designates the one that handles the case."""
    created = await submit(client, report_body(anonymous=False, complainant={"name": "李四"}))
    cid = await case_id(database, created["tracking_number"])
    qindu = Staff(client, await auth_headers(await make_user(Role.regulator, region="610402")), cid)
    assert_problem(await qindu.act("escalate", body="x"), 409, "illegal_transition")
    assert_problem(
        await qindu.act("dispute", region_code="610402", body="x"), 422, "case_action_invalid"
    )
    view = await qindu.ok("dispute", region_code="610403", body="杨陵区认为经营地在秦都区。")
    assert view["dispute_region"] == "610403"
    assert view["dispute_due"] == workdays.add_working_days(clock.today(), 7).isoformat()
    assert view["events"][-1]["public"] is False  # the complainant sees the outcome only
    async with database.transaction() as session:
        case = await session.get(Case, uuid.UUID(cid))
        assert case is not None
        due = date.fromisoformat(view["dispute_due"])
        # Not settled within the seven working days: overdue until escalated.
        assert not is_overdue(case, due)
        assert is_overdue(case, due + timedelta(days=1))
    assert_problem(
        await qindu.act("dispute", region_code="610404", body="x"), 409, "illegal_transition"
    )
    # A party cannot designate itself.
    assert_problem(
        await qindu.act("dispatch", region_code="610402", body="x"), 422, "case_action_invalid"
    )
    view = await qindu.ok("escalate", body="协商未果。")
    assert view["dispute_escalated_to"] == "610400"
    assert "咸阳市" in view["events"][-1]["body"]
    assert await audit_regions(database, "case.dispute") == {
        ("case.dispute", "610402"),
        ("case.dispute.raised", "610403"),
        ("case.dispute.escalated", "610400"),
    }
    assert [t["type"] for t in await timeline(client, created)] == ["submitted"]

    city = Staff(client, await auth_headers(await make_user(Role.regulator, region="610400")), cid)
    assert_problem(
        await city.act("dispatch", region_code="610404", body="x"), 422, "case_action_invalid"
    )
    view = await city.ok("dispatch", region_code="610403", body="经营地在杨陵区。")
    assert view["region_code"] == "610403"
    assert view["dispute_region"] is None
    assert view["dispute_escalated_to"] is None
    assert (view["events"][-1]["type"], view["events"][-1]["public"]) == ("designated", True)
    # A report's verification period (15 working days) starts again where it was designated.
    assert (
        view["deadlines"]["handling_due"]
        == workdays.add_working_days(clock.today(), 15).isoformat()
    )
    assert "上级部门已指定处理机关" in [t["title"] for t in await timeline(client, created)]


async def test_bureaus_that_agree_end_the_dispute_by_transfer(
    client: httpx.AsyncClient, database: Database, make_user, auth_headers
) -> None:
    """暂行办法 第三十条: 协商解决 — the bureaus agree; the case is transferred and no dispute
    stays open."""
    created = await submit(client, complaint_body())
    cid = await case_id(database, created["tracking_number"])
    qindu = Staff(client, await auth_headers(await make_user(Role.regulator, region="610402")), cid)
    await qindu.ok("dispute", region_code="610404", body="渭城区不同意接收。")
    moved = await qindu.ok("transfer", region_code="610404", body="协商一致，由渭城区办理。")
    assert moved["region_code"] == "610404"
    assert moved["dispute_region"] is None
    # Or the bureau holding it takes it: accepting settles the dispute too.
    kept = await submit(client, complaint_body(description="另一起投诉。"))
    held = Staff(qindu.client, qindu.headers, await case_id(database, kept["tracking_number"]))
    assert (await held.ok("dispute", region_code="610404", body="x"))["dispute_region"]
    accepted = await held.ok("accept")
    assert accepted["dispute_region"] is None
    assert accepted["dispute_due"] is None


async def test_the_common_higher_bureau_of_two_regions(database: Database) -> None:
    """暂行办法 第三十条 共同的上一级: the city over two districts, the province over two cities'
    districts, the State Administration across provinces, the province over a city and its own
    district."""
    async with database.transaction() as session:
        assert await common_superior(session, "610402", "610403") == "610400"
        assert await common_superior(session, "610402", "610102") == "610000"
        assert await common_superior(session, "610400", "610402") == "610000"
        assert await common_superior(session, "610402", "110101") == NATIONAL


async def test_the_case_page_names_the_bureaus_of_a_dispute(
    client: httpx.AsyncClient, database: Database, make_user, auth_headers
) -> None:
    """暂行办法 第三十条 on the staff case page: the other bureau and the common higher bureau by
    name, the day to settle by, and the designation form."""
    created = await submit(client, complaint_body())
    cid = await case_id(database, created["tracking_number"])
    regulator = await make_user(Role.regulator, region="610402")
    qindu = Staff(client, await auth_headers(regulator), cid)
    view = await qindu.ok("dispute", region_code="610403", body="杨陵区不同意接收。")
    await qindu.ok("escalate", body="协商未果。")
    await _login(client, regulator)
    page = await client.get(f"/staff/complaints/{cid}")
    assert page.status_code == 200
    assert "杨陵区（610403）协商" in page.text
    assert f"{view['dispute_due']} 前解决" in page.text
    assert "已报请陕西省咸阳市指定处理机关" in page.text
    assert 'id="action-dispatch"' in page.text


async def test_a_calendar_import_counts_dispatch_and_dispute_periods_again_article_30(
    client: httpx.AsyncClient, database: Database, make_user, settings
) -> None:
    """Counted again after a year's holidays are imported (docs/calendar.md): a dispatched case's
    acceptance period from the day it was dispatched (第十四条, 第三十七条), an open dispute's
    seven working days (第三十条) from the day it was raised, across National Day 2025."""
    created = await submit(client, complaint_body(region_code="610400"))
    cid = uuid.UUID(await case_id(database, created["tracking_number"]))
    city = await make_user(Role.regulator, region="610400")
    async with database.transaction() as session:  # received in September 2025
        received = datetime(2025, 9, 25, 2, 0, tzinfo=UTC)
        for event in await session.scalars(select(CaseEvent).where(col(CaseEvent.case_id) == cid)):
            event.at = received
        case = await session.get(Case, cid)
        assert case is not None
        case.received_at = received

    async def act(action: dict[str, Any], day: date) -> StaffCaseRead:
        async with database.transaction() as session:
            return await apply_action(
                session,
                cid,
                STAFF_ACTIONS.validate_python(action),
                settings=settings,
                actor=city,
                now=datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC),  # 10:00 in China
            )

    dispatched = await act(
        {"action": "dispatch", "region_code": "610402", "body": "秦都区"}, date(2025, 9, 26)
    )
    assert dispatched.deadlines.acceptance_due == workdays.add_working_days(date(2025, 9, 26), 7)
    disputed = await act(
        {"action": "dispute", "region_code": "610403", "body": "杨陵区"}, date(2025, 9, 29)
    )
    # 30 Sep, 9, 10, 11 (a Saturday worked), 13, 14, 15 Oct: 1–8 Oct are the National Day holidays.
    assert disputed.dispute_due == date(2025, 10, 15)
    config = settings.of(ComplaintsSettings)
    async with database.transaction() as session:
        changed = await recompute_open_deadlines(
            session, years=[2025], config=config, today=date(2025, 9, 29)
        )
        assert changed == 0  # counted from the dispatch and the dispute, not the submission
        case = await session.get(Case, cid)
        assert case is not None
        case.dispute_due = date(2025, 10, 8)  # as if counted on weekends alone
    async with database.transaction() as session:
        assert (
            await recompute_open_deadlines(
                session, years=[2025], config=config, today=date(2025, 9, 29)
            )
            == 1
        )
        case = await session.get(Case, cid)
        assert case is not None
        assert case.dispute_due == date(2025, 10, 15)
        recount = await session.scalar(
            select(CaseEvent).where(
                col(CaseEvent.case_id) == cid, col(CaseEvent.type) == "deadline_recomputed"
            )
        )
    assert recount is not None
    assert recount.data["dispute_due"] == ["2025-10-08", "2025-10-15"]
