"""The staff workflow: every transition, illegal ones, deadlines, regions and roles, audit,
notifications through the outbox, the overdue job."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import col, select

from api.complaints.deadlines import flag_overdue, recompute_open_deadlines
from api.complaints.errors import CaseChangedMeanwhile, IllegalTransition
from api.complaints.intake import submit_case
from api.complaints.models import Case, CaseEvent
from api.complaints.notifications import send_notification
from api.complaints.schemas import STAFF_ACTIONS, CaseAccept, CaseCreate, StaffCaseRead
from api.complaints.settings import ComplaintsSettings
from api.complaints.workflow import apply_action
from portal import clock, workdays
from portal.accounts.models import Role, User
from portal.audit.models import AuditEntry
from portal.db import Database
from portal.notify import Notification
from portal.outbox.models import OutboxEvent
from portal.outbox.worker import OutboxWorker
from portal.settings import Settings
from tests.api.complaints.support import complaint_body, report_body
from tests.support import assert_problem


async def submit(client: httpx.AsyncClient, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/cases", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def case_id(database: Database, number: str) -> str:
    async with database.transaction() as session:
        found = await session.scalar(select(Case.id).where(Case.tracking_number == number))
    assert found is not None
    return str(found)


class Staff:
    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str], cid: str) -> None:
        self.client, self.headers, self.cid = client, headers, cid

    async def act(self, action: str, **fields: Any) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/staff/cases/{self.cid}/actions",
            json={"action": action, **fields},
            headers=self.headers,
        )

    async def ok(self, action: str, **fields: Any) -> dict[str, Any]:
        response = await self.act(action, **fields)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
async def regulator(make_user) -> User:
    return await make_user(Role.regulator, region="610400")


async def test_complaint_through_every_step(
    client: httpx.AsyncClient, database: Database, regulator: User, auth_headers, make_user
) -> None:
    created = await submit(client, complaint_body())
    staff = Staff(
        client, await auth_headers(regulator), await case_id(database, created["tracking_number"])
    )

    assert_problem(await staff.act("mediate"), 409, "illegal_transition")
    assert_problem(
        await staff.act("conclude", finding="substantiated", body="x"), 409, "illegal_transition"
    )
    assert_problem(await staff.act("close"), 409, "illegal_transition")
    assert_problem(await staff.act("extend", body="x"), 409, "illegal_transition")

    view = await staff.ok("accept", body="已受理，将于五个工作日内联系双方。")
    assert view["status"] == "accepted"
    assert view["deadlines"]["handling_due"] is not None
    assert view["parties"][0]["phone"] == "13800138000"  # staff see the complainant

    qindu = await make_user(Role.regulator, region="610402")
    view = await staff.ok("assign", assignee_id=str(qindu.id))
    assert view["assignee_id"] == str(qindu.id)
    xian = await make_user(Role.regulator, region="610100")
    assert_problem(await staff.act("assign", assignee_id=str(xian.id)), 422, "case_action_invalid")

    await staff.ok("note", body="内部：商户曾被投诉两次。")
    await staff.ok("note", body="您好，我们已联系商户。", public=True)
    view = await staff.ok("mediate", body="约定 11 月 30 日调解。")
    assert view["status"] == "mediating"
    assert_problem(await staff.act("conclude", body="无结论"), 422, "case_action_invalid")
    view = await staff.ok(
        "conclude",
        finding="substantiated",
        body="商户退还差价 12 元。",
        mediation_result="agreement",
    )
    assert view["status"] == "concluded"
    assert view["finding"] == "substantiated"
    view = await staff.ok("close")
    assert view["status"] == "closed"
    assert_problem(await staff.act("reopen"), 422, "case_action_invalid")
    view = await staff.ok("reopen", body="投诉人反映商户未履行调解协议。")
    assert view["status"] == "accepted"
    assert view["finding"] is None

    tracked = await client.get(
        f"/api/v1/cases/{created['tracking_number']}",
        headers={"X-Case-Token": created["access_token"]},
    )
    timeline = tracked.json()["timeline"]
    types = [e["type"] for e in timeline]
    assert types == [
        "submitted",
        "accepted",
        "reply",
        "mediating",
        "concluded",
        "closed",
        "reopened",
    ]
    assert "内部" not in tracked.text  # internal notes never reach the submitter
    assert "商户退还差价 12 元" in tracked.text

    async with database.transaction() as session:
        entries = (
            await session.scalars(
                select(AuditEntry)
                .where(AuditEntry.entity_id == staff.cid)
                .order_by(col(AuditEntry.at))
            )
        ).all()
    actions = [e.action for e in entries if e.action != "case.parties.view"]
    assert actions == [
        "case.accept",
        "case.assign",
        "case.note",
        "case.note",
        "case.mediate",
        "case.conclude",
        "case.close",
        "case.reopen",
    ]
    accept = (
        entries[0]
        if entries[0].action == "case.accept"
        else next(e for e in entries if e.action == "case.accept")
    )
    assert accept.before is not None
    assert accept.before["status"] == "received"
    assert accept.after is not None
    assert accept.after["status"] == "accepted"
    assert accept.actor_id == regulator.id
    assert accept.region_code == "610402"
    assert any(e.action == "case.parties.view" for e in entries)  # reading PII is audited too


async def test_report_reject_reopen_extend_merge(
    client: httpx.AsyncClient, database: Database, regulator: User, auth_headers
) -> None:
    first = await submit(client, report_body())
    second = await submit(client, report_body())
    headers = await auth_headers(regulator)
    a = Staff(client, headers, await case_id(database, first["tracking_number"]))
    b = Staff(client, headers, await case_id(database, second["tracking_number"]))

    assert_problem(await a.act("reject"), 422, "case_action_invalid")
    assert_problem(await a.act("reject", reason_code="because"), 422, "case_action_invalid")
    view = await a.ok("reject", reason_code="no_lead")
    assert view["status"] == "rejected"
    assert view["reject_reason"] == "no_lead"
    view = await a.ok("reopen", body="补充了照片。")
    assert view["status"] == "received"
    view = await a.ok("accept")
    due = date.fromisoformat(view["deadlines"]["handling_due"])
    assert_problem(await a.act("mediate"), 409, "illegal_transition")  # reports are not mediated
    assert_problem(await a.act("extend"), 422, "case_action_invalid")
    view = await a.ok("extend", body="需送检，经负责人批准延长。")
    assert view["deadlines"]["extended"] is True
    assert date.fromisoformat(view["deadlines"]["handling_due"]) == workdays.add_working_days(
        due, 15
    )
    assert_problem(await a.act("extend", body="again"), 409, "illegal_transition")

    view = await b.ok("merge", duplicate_of=first["tracking_number"])
    assert view["status"] == "merged"
    assert view["merged_into_tracking_number"] == first["tracking_number"]
    assert_problem(await b.act("accept"), 409, "illegal_transition")
    assert_problem(await a.act("merge", duplicate_of=first["tracking_number"]), 422)
    complaint = await submit(client, complaint_body())
    c = Staff(client, headers, await case_id(database, complaint["tracking_number"]))
    assert_problem(await c.act("merge", duplicate_of=first["tracking_number"]), 422)
    view = await b.ok("reopen", body="并非重复。")
    assert view["status"] == "received"
    assert view["merged_into_tracking_number"] is None


async def test_region_and_role_rules(
    client: httpx.AsyncClient, database: Database, make_user, auth_headers
) -> None:
    created = await submit(client, report_body(region_code="610404"))  # 渭城区
    cid = await case_id(database, created["tracking_number"])
    city = await make_user(Role.regulator, region="610400")
    qindu = await make_user(Role.regulator, region="610402")
    citizen = await make_user(Role.citizen)
    institution = await make_user(Role.institution)

    ok = await client.get(f"/api/v1/staff/cases/{cid}", headers=await auth_headers(city))
    assert ok.status_code == 200
    assert_problem(
        await client.get(f"/api/v1/staff/cases/{cid}", headers=await auth_headers(qindu)),
        403,
        "region_forbidden",
    )
    for user in (citizen, institution):
        assert_problem(
            await client.get(f"/api/v1/staff/cases/{cid}", headers=await auth_headers(user)), 403
        )
        assert_problem(
            await client.get("/api/v1/staff/cases", headers=await auth_headers(user)), 403
        )
    assert_problem(await client.get("/api/v1/staff/cases"), 401)
    assert_problem(
        await client.post(
            f"/api/v1/staff/cases/{cid}/actions",
            json={"action": "accept"},
            headers=await auth_headers(qindu),
        ),
        403,
        "region_forbidden",
    )
    # The queue shows each regulator their own region and below.
    queue = (await client.get("/api/v1/staff/cases", headers=await auth_headers(city))).json()
    assert [c["tracking_number"] for c in queue["items"]] == [created["tracking_number"]]
    queue = (await client.get("/api/v1/staff/cases", headers=await auth_headers(qindu))).json()
    assert queue["items"] == []
    assert_problem(
        await client.get(
            "/api/v1/staff/cases", params={"region": "610100"}, headers=await auth_headers(city)
        ),
        403,
        "region_forbidden",
    )
    filtered = await client.get(
        "/api/v1/staff/cases", params={"status": "accepted"}, headers=await auth_headers(city)
    )
    assert filtered.json()["total"] == 0


async def test_deadlines_across_national_day_and_the_overdue_job(
    database: Database, settings: Settings, regulator: User, client: httpx.AsyncClient
) -> None:
    # Received Tuesday 30 Sep 2025, 10:00 in Shanghai.
    received = datetime(2025, 9, 30, 2, 0, tzinfo=UTC)
    data = CaseCreate.model_validate(complaint_body())
    async with database.transaction() as session:
        created, _ = await submit_case(
            session,
            data,
            settings=settings,
            user=None,
            client="test",
            idempotency_key=None,
            now=received,
        )
    assert created.tracking_number.startswith("JL20250930-")
    assert created.deadlines.acceptance_due == date(2025, 10, 16)
    assert created.deadlines.calendar == "chinese-calendar"

    async with database.transaction() as session:
        # 16 Oct is still in time; 17 Oct is overdue.
        assert await flag_overdue(session, today=date(2025, 10, 16)) == 0
        assert await flag_overdue(session, today=date(2025, 10, 17)) == 1
        assert await flag_overdue(session, today=date(2025, 10, 18)) == 0  # flagged once
        case = await session.scalar(
            select(Case).where(Case.tracking_number == created.tracking_number)
        )
        assert case is not None
        assert case.overdue
        events = (await session.scalars(select(CaseEvent).where(CaseEvent.type == "overdue"))).all()
        assert len(events) == 1
        assert not events[0].public

    async with database.transaction() as session:
        case = await session.scalar(
            select(Case).where(Case.tracking_number == created.tracking_number)
        )
        assert case is not None
        accepted_at = datetime(2025, 10, 17, 1, 0, tzinfo=UTC)  # Friday 17 Oct
        view = await apply_action(
            session,
            case.id,
            CaseAccept(action="accept"),
            settings=settings,
            actor=regulator,
            now=accepted_at,
        )
    # Accepted late; the overdue flag follows the new (mediation) deadline.
    assert view.deadlines.overdue is False
    assert view.deadlines.handling_due == workdays.add_working_days(date(2025, 10, 17), 45)


async def test_deadline_beyond_the_calendar_data_uses_weekends(
    database: Database, settings: Settings
) -> None:
    _, last = workdays.covered_years()
    received = datetime(last + 2, 3, 2, 2, 0, tzinfo=UTC)
    data = CaseCreate.model_validate(report_body())
    async with database.transaction() as session:
        created, _ = await submit_case(
            session,
            data,
            settings=settings,
            user=None,
            client="test",
            idempotency_key=None,
            now=received,
        )
    assert created.deadlines.calendar == "weekends-only"
    start = received.date()
    due = created.deadlines.handling_due
    assert due is not None
    assert due.weekday() < 5
    weekdays = sum(
        1
        for offset in range(1, (due - start).days + 1)
        if date.fromordinal(start.toordinal() + offset).weekday() < 5
    )
    assert weekdays == 15


class RecordingNotifier:
    """A gateway for this test, configured through GONGZHI_NOTIFY_SENDER like a real one."""

    sent: list[dict[str, str]] = []

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, notification: Notification) -> None:
        RecordingNotifier.sent.append(
            {
                "phone": notification.recipient,
                "message": notification.body,
                "reference": notification.reference,
            }
        )


async def test_notifications_go_through_the_outbox(
    client: httpx.AsyncClient,
    database: Database,
    regulator: User,
    auth_headers,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(
        settings.of(ComplaintsSettings), "notify_sender", f"{__name__}:RecordingNotifier"
    )
    created = await submit(client, complaint_body())
    staff = Staff(
        client, await auth_headers(regulator), await case_id(database, created["tracking_number"])
    )
    await staff.ok("accept")
    await staff.ok("note", body="内部备注")  # internal: no notification
    async with database.transaction() as session:
        topics = (await session.scalars(select(OutboxEvent.topic))).all()
    assert topics.count("complaints.notify") == 2
    RecordingNotifier.sent.clear()
    worker = OutboxWorker(database)
    assert await worker.run_once() >= 2
    messages = [m for m in RecordingNotifier.sent if created["tracking_number"] in m["message"]]
    assert len(messages) == 2
    assert all(m["phone"] == "13800138000" for m in messages)
    assert "已受理" in messages[1]["message"]
    # Idempotent: running the same events again sends nothing new.
    async with database.transaction() as session:
        for event in (await session.scalars(select(OutboxEvent))).all():
            await send_notification(session, event.payload, settings=database_settings(client))
    assert (
        len([m for m in RecordingNotifier.sent if created["tracking_number"] in m["message"]]) == 2
    )


def database_settings(client: httpx.AsyncClient) -> Settings:
    transport = client._transport
    app = transport.app  # type: ignore[attr-defined]
    settings: Settings = app.state.settings
    return settings


async def test_testing_time_does_not_count_toward_the_mediation_period(
    database: Database,
    settings: Settings,
    regulator: User,
    client: httpx.AsyncClient,
    auth_headers,
) -> None:
    """市场监督管理投诉举报处理暂行办法 第二十条: 检定、检验、检测、鉴定所需时间不计算在调解期限内.
    Staff pause the period when the scale goes for 检定 and resume it when the result is back;
    the due date moves by the working days paused (National Day 2025's holidays not among them),
    the case is not overdue meanwhile, and the complainant is told both times."""
    complaint = await submit(client, complaint_body())
    cid = await case_id(database, complaint["tracking_number"])
    staff = Staff(client, await auth_headers(regulator), cid)
    assert_problem(
        await staff.act("pause", testing="检定", body="送市计量所"), 409, "illegal_transition"
    )  # a complaint's period to pause is mediation, after acceptance

    async def act(action: dict[str, Any], day: date) -> StaffCaseRead:
        async with database.transaction() as session:
            return await apply_action(
                session,
                uuid.UUID(cid),
                STAFF_ACTIONS.validate_python(action),
                settings=settings,
                actor=regulator,
                now=datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC),  # 10:00 in China
            )

    accepted = await act({"action": "accept"}, date(2025, 9, 25))
    due = accepted.deadlines.handling_due
    assert due == workdays.add_working_days(date(2025, 9, 25), 45)
    assert_problem(await staff.act("pause", body="送市计量所"), 422, "case_action_invalid")
    paused = await act(
        {"action": "pause", "testing": "检定", "body": "送咸阳市计量测试所检定。"},
        date(2025, 9, 29),
    )
    assert paused.deadlines.paused_since == date(2025, 9, 29)
    assert_problem(await staff.act("pause", testing="检测", body="再送"), 409, "illegal_transition")
    async with database.transaction() as session:
        # Long past the due date while paused: not overdue, the period is not counting.
        assert await flag_overdue(session, today=due + timedelta(days=30)) == 0
    resumed = await act({"action": "resume", "body": "检定结果：合格。"}, date(2025, 10, 10))
    # Working days after 29 Sep up to 10 Oct: 30 Sep, 9 and 10 Oct (1–8 Oct are holidays).
    assert resumed.deadlines.handling_due == workdays.add_working_days(due, 3)
    assert resumed.deadlines.paused_since is None
    assert_problem(await staff.act("resume"), 409, "illegal_transition")
    async with database.transaction() as session:
        # Counting the case again from its events (as a calendar import does) gives the same
        # date: the pause is part of the count, not lost by it.
        assert (
            await recompute_open_deadlines(
                session,
                years=[2025],
                config=settings.of(ComplaintsSettings),
                today=date(2025, 10, 10),
            )
            == 0
        )
        events = list(
            await session.scalars(
                select(CaseEvent)
                .where(col(CaseEvent.type).in_(["paused", "resumed"]))
                .order_by(col(CaseEvent.at))
            )
        )
    assert [(e.type, e.public) for e in events] == [("paused", True), ("resumed", True)]
    assert "不计算在期限内" in (events[0].body or "")
    assert events[1].data["working_days"] == 3
    tracked = await client.get(
        f"/api/v1/cases/{complaint['tracking_number']}",
        headers={"X-Case-Token": complaint["access_token"]},
    )
    assert tracked.status_code == 200, tracked.text
    titles = [t["title"] for t in tracked.json()["timeline"]]
    assert "送检，期限暂停计算" in titles
    assert "期限恢复计算" in titles


async def test_a_report_ends_in_the_decision_to_open_a_case_or_not(
    client: httpx.AsyncClient, database: Database, regulator: User, auth_headers
) -> None:
    """市场监督管理行政处罚程序规定 第十八条: a report's verification ends in 立案 or 不予立案;
    投诉举报处理暂行办法 第三十一条: a real-name reporter is told within five working days (here,
    at once, through the outbox); an anonymous report is followed by its tracking number only."""
    named = await submit(
        client,
        report_body(anonymous=False, complainant={"name": "李四", "phone": "13900139000"}),
    )
    anonymous = await submit(client, report_body())
    headers = await auth_headers(regulator)
    for report, told in ((named, True), (anonymous, False)):
        staff = Staff(client, headers, await case_id(database, report["tracking_number"]))
        await staff.ok("accept")
        assert_problem(
            await staff.act("conclude", finding="substantiated", body="属实"),
            422,
            "case_action_invalid",
        )
        concluded = await staff.ok(
            "conclude", finding="substantiated", filing="filed", body="已立案查处。"
        )
        event = concluded["events"][-1]
        assert event["type"] == "concluded"
        assert event["public"] is True
        assert "决定立案调查" in event["body"]
        assert event["data"]["filing"] == "filed"
        assert ("reporter_told_by" in event["data"]) is told
    # The decision is queued for the real-name reporter's phone, in the same transaction.
    named_id = await case_id(database, named["tracking_number"])
    async with database.transaction() as session:
        queued = [
            e.payload["event_id"]
            for e in await session.scalars(
                select(OutboxEvent).where(col(OutboxEvent.topic) == "complaints.notify")
            )
            if e.payload["case_id"] == named_id
        ]
        decision = await session.scalar(
            select(CaseEvent).where(
                col(CaseEvent.case_id) == uuid.UUID(named_id), CaseEvent.type == "concluded"
            )
        )
    assert decision is not None
    assert str(decision.id) in queued


async def test_mediation_without_agreement_is_terminated_and_the_parties_told(
    client: httpx.AsyncClient, database: Database, regulator: User, auth_headers
) -> None:
    """投诉举报处理暂行办法 第二十一条: mediation that reaches no agreement is terminated
    (终止调解) and the parties are told within seven working days of the decision; the
    complainant's timeline says so at once."""
    created = await submit(client, complaint_body())
    staff = Staff(
        client, await auth_headers(regulator), await case_id(database, created["tracking_number"])
    )
    await staff.ok("accept")
    await staff.ok("mediate", body="约双方调解。")
    view = await staff.ok(
        "conclude", finding="substantiated", mediation_result="no_agreement", body="双方各执一词。"
    )
    event = view["events"][-1]
    assert "终止调解" in event["body"]
    told_by = date.fromisoformat(event["data"]["parties_told_by"])
    assert told_by == workdays.add_working_days(
        clock.local_date(datetime.fromisoformat(event["at"])), 7
    )
    tracked = await client.get(
        f"/api/v1/cases/{created['tracking_number']}",
        headers={"X-Case-Token": created["access_token"]},
    )
    assert "终止调解" in tracked.json()["timeline"][-1]["body"]


async def test_two_staff_resuming_together_move_the_due_date_once(
    client: httpx.AsyncClient, database: Database, settings: Settings, regulator: User
) -> None:
    """Attack review: four staff pressing 恢复计算期限 together each moved the due date and each
    told the complainant. The case's version is claimed first: one resume wins, the rest are
    refused (409 case_changed_meanwhile, or the database's own refusal on SQLite)."""
    complaint = await submit(client, complaint_body())
    cid = uuid.UUID(await case_id(database, complaint["tracking_number"]))

    async def act(action: dict[str, Any], day: date) -> StaffCaseRead:
        async with database.transaction() as session:
            return await apply_action(
                session,
                cid,
                STAFF_ACTIONS.validate_python(action),
                settings=settings,
                actor=regulator,
                now=datetime(day.year, day.month, day.day, 2, 0, tzinfo=UTC),
            )

    await act({"action": "accept"}, date(2025, 9, 25))
    await act({"action": "pause", "testing": "检定", "body": "送检。"}, date(2025, 9, 29))
    results = await asyncio.gather(
        *(act({"action": "resume", "body": "结果已出。"}, date(2025, 10, 10)) for _ in range(4)),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, StaffCaseRead)]
    assert len(won) == 1, results
    assert all(
        isinstance(r, CaseChangedMeanwhile | IllegalTransition | OperationalError)
        for r in results
        if not isinstance(r, StaffCaseRead)
    ), results
    async with database.transaction() as session:
        resumed = list(await session.scalars(select(CaseEvent).where(CaseEvent.type == "resumed")))
        case = await session.get(Case, cid)
    assert len(resumed) == 1
    assert case is not None
    assert case.handling_due == won[0].deadlines.handling_due


async def test_a_case_is_transferred_to_the_competent_bureau(
    client: httpx.AsyncClient, database: Database, make_user, auth_headers
) -> None:
    """暂行办法 第十二条 / 第二十五条: a case belongs to the bureau of the place of business. A
    district that received another's case transfers it: the period starts again there, the
    submitter is told where it went, both districts keep the audit entry, and the sender no
    longer handles it."""
    created = await submit(client, complaint_body())  # filed in 秦都区 (610402)
    cid = await case_id(database, created["tracking_number"])
    qindu = await make_user(Role.regulator, region="610402")
    staff = Staff(client, await auth_headers(qindu), cid)
    assert_problem(
        await staff.act("transfer", region_code="610402", body="本区"), 422, "case_action_invalid"
    )
    assert_problem(
        await staff.act("transfer", region_code="619999", body="无此区"), 422, "case_action_invalid"
    )
    assert_problem(await staff.act("transfer", region_code="610404"), 422, "case_action_invalid")
    moved = await staff.ok("transfer", region_code="610404", body="经营地在渭城区。")
    assert moved["region_code"] == "610404"
    assert moved["status"] == "received"
    assert (
        moved["deadlines"]["acceptance_due"]
        == workdays.add_working_days(clock.today(), 7).isoformat()
    )
    event = moved["events"][-1]
    assert (event["type"], event["public"]) == ("transferred", True)
    assert "渭城区" in event["body"]
    assert event["data"] == {"from": "610402", "to": "610404"}
    assert [p["name"] for p in moved["parties"]] == ["张*"]  # not the sender's to read now
    # 秦都 no longer handles it; 渭城 does.
    assert (await staff.act("accept")).status_code in (403, 404)
    weicheng = Staff(
        client, await auth_headers(await make_user(Role.regulator, region="610404")), cid
    )
    assert (await weicheng.ok("accept"))["status"] == "accepted"
    async with database.transaction() as session:
        regions = {
            (e.action, e.region_code)
            for e in await session.scalars(
                select(AuditEntry).where(col(AuditEntry.action).like("case.transfer%"))
            )
        }
    assert regions == {("case.transfer.out", "610402"), ("case.transfer", "610404")}
    tracked = await client.get(
        f"/api/v1/cases/{created['tracking_number']}",
        headers={"X-Case-Token": created["access_token"]},
    )
    assert "已移送有管辖权的部门" in [t["title"] for t in tracked.json()["timeline"]]
