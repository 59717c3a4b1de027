"""The administrable calendar: a State Council notice imported into the database changes deadlines
at once in this process, in every other process (the refresh, the calendar.changed event), and a
year nobody knows is refused when the portal is set to refuse."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select

from api.complaints import jobs as complaint_jobs
from api.complaints.deadlines import recompute_open_deadlines
from api.complaints.models import Case, CaseEvent
from api.complaints.schemas import CaseAccept
from api.complaints.settings import ComplaintsSettings
from api.complaints.workflow import apply_action
from portal import clock, workdays
from portal.accounts.models import Role
from portal.audit.models import AuditEntry
from portal.db import Database
from portal.outbox.models import OutboxEvent
from portal.outbox.worker import OutboxWorker
from portal.settings import Settings
from portal.workdays import service
from portal.workdays.errors import CalendarYearNotLoaded
from portal.workdays.models import CalendarDay, CalendarYear
from tests.api.complaints.support import complaint_body, report_body
from tests.support import TEST_PASSWORD, MakeUser, assert_problem, empty_tables

NOTICES = Path(__file__).parent / "notices"
# The 2027 notice is not published yet (the State Council issues it around November): this one is
# invented in the real notice's form, with 2027's real weekdays and Spring Festival (6 February).
NOTICE_2027 = (NOTICES / "2027-invented.txt").read_text(encoding="utf-8")


@pytest.fixture(autouse=True)
async def calendar_as_before(database: Database) -> AsyncIterator[None]:
    """Tables are emptied after each test (also by tests without ``client``); the in-memory
    calendar and the policy go back too."""
    yield
    await empty_tables(database)
    workdays.configure(unknown_year="weekends")
    await service.refresh(database)


async def _login(client: httpx.AsyncClient, email: str) -> None:
    response = await client.post("/login", data={"email": email, "password": TEST_PASSWORD})
    assert response.status_code == 303, response.text


async def test_importing_2027_moves_deadlines_across_new_year_and_spring_festival(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Any, database: Database
) -> None:
    # Before: 2027 is beyond chinese-calendar 1.11, counted on weekends alone (issue 16).
    assert workdays.source_of(2027) is None
    assert workdays.add_working_days(date(2026, 12, 28), 15) == date(2027, 1, 18)
    assert workdays.add_working_days(date(2027, 1, 25), 15) == date(2027, 2, 15)
    assert workdays.basis_for(date(2026, 12, 28), date(2027, 1, 18)) == "weekends-only"

    admin = await make_user(Role.admin)
    response = await client.post(
        "/api/v1/admin/calendar", json={"text": NOTICE_2027}, headers=await auth_headers(admin)
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["year"] == 2027
    assert body["source"] == "notice"
    assert len(body["holidays"]) == 29
    assert {d["day"] for d in body["make_up_days"]} >= {"2027-01-31", "2027-02-20"}

    # At once in this process: 1 January is a holiday now, and Spring Festival (5–13 February)
    # with its make-up days (Sunday 31 January, Saturday 20 February).
    assert workdays.source_of(2027) == "notice"
    assert workdays.add_working_days(date(2026, 12, 28), 15) == date(2027, 1, 19)
    assert workdays.add_working_days(date(2027, 1, 25), 15) == date(2027, 2, 20)
    assert workdays.basis_for(date(2026, 12, 28), date(2027, 1, 19)) == "chinese-calendar"

    public = await client.get("/api/v1/calendar/2027")
    assert public.status_code == 200
    assert public.json()["holidays"] == body["holidays"]
    library = (await client.get("/api/v1/calendar/2026")).json()
    assert library["source"] == "library"
    assert {"day": "2026-02-15", "festival": "春节"} in library["holidays"]

    async with database.transaction() as session:
        event = await session.scalar(
            select(OutboxEvent).where(OutboxEvent.topic == "calendar.changed")
        )
        assert event is not None
        assert event.payload == {"years": [2027]}
        audit = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "calendar.import")
        )
        assert audit is not None
        assert audit.actor_id == admin.id
        assert audit.after is not None
        assert "2027-02-05" in audit.after["holidays"]


async def test_reimporting_replaces_the_year_and_removing_falls_back(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Any, database: Database
) -> None:
    headers = await auth_headers(await make_user(Role.admin))
    first = await client.post("/api/v1/admin/calendar", json={"text": NOTICE_2027}, headers=headers)
    assert first.status_code == 201
    # A corrected notice: no make-up Saturday on 20 February.
    corrected = NOTICE_2027.replace("、2月20日（周六）上班", "上班")
    second = await client.post("/api/v1/admin/calendar", json={"text": corrected}, headers=headers)
    assert second.status_code == 201, second.text
    assert "2027-02-20" not in {d["day"] for d in second.json()["make_up_days"]}
    assert not workdays.is_working_day(date(2027, 2, 20))
    async with database.transaction() as session:
        assert len((await session.scalars(select(CalendarYear))).all()) == 1
        days = (await session.scalars(select(CalendarDay))).all()
        assert len([d for d in days if d.working]) == 5  # six in the first, less 20 February

    removed = await client.delete("/api/v1/admin/calendar/2027", headers=headers)
    assert removed.status_code == 204
    assert workdays.source_of(2027) is None
    assert_problem(await client.get("/api/v1/calendar/2027"), 404, "calendar_year_not_found")
    assert_problem(
        await client.delete("/api/v1/admin/calendar/2027", headers=headers),
        404,
        "calendar_year_not_found",
    )


async def test_only_an_administrator_imports_and_a_bad_notice_writes_nothing(
    client: httpx.AsyncClient, make_user: MakeUser, auth_headers: Any, database: Database
) -> None:
    body = {"text": NOTICE_2027}
    assert_problem(await client.post("/api/v1/admin/calendar", json=body), 401)
    regulator = await auth_headers(await make_user(Role.regulator))
    assert_problem(await client.post("/api/v1/admin/calendar", json=body, headers=regulator), 403)

    admin = await auth_headers(await make_user(Role.admin))
    wrong = NOTICE_2027.replace("1月1日（周五）", "1月1日（周四）")
    problem = assert_problem(
        await client.post("/api/v1/admin/calendar", json={"text": wrong}, headers=admin),
        422,
        "invalid_holiday_notice",
    )
    assert "实为周五" in problem["detail_zh"]
    too_long = {"text": "放" * 20_001}
    assert_problem(await client.post("/api/v1/admin/calendar", json=too_long, headers=admin), 422)
    async with database.transaction() as session:
        assert (await session.scalars(select(CalendarYear))).all() == []
    assert workdays.source_of(2027) is None


async def test_a_rolled_back_import_changes_no_deadline(database: Database) -> None:
    async def import_then_fail() -> None:
        async with database.transaction() as session:
            await service.import_notice(session, text=NOTICE_2027, actor=None)
            raise RuntimeError("the request failed after the import")

    with pytest.raises(RuntimeError):
        await import_then_fail()
    assert workdays.source_of(2027) is None
    assert workdays.add_working_days(date(2026, 12, 28), 15) == date(2027, 1, 18)


async def test_refuse_raises_a_stable_error_until_the_year_is_imported(database: Database) -> None:
    workdays.configure(unknown_year="refuse")
    # Years chinese-calendar knows are unaffected.
    assert workdays.add_working_days(date(2025, 9, 30), 7) == date(2025, 10, 16)
    with pytest.raises(CalendarYearNotLoaded) as refused:
        workdays.add_working_days(date(2026, 12, 28), 15)
    assert refused.value.code == "calendar_year_not_loaded"
    assert refused.value.status == 503
    assert "2027年节假日安排尚未导入" in refused.value.detail_zh
    assert "2027" in refused.value.detail

    async with database.transaction() as session:
        await service.import_notice(session, text=NOTICE_2027, actor=None)
    assert workdays.add_working_days(date(2026, 12, 28), 15) == date(2027, 1, 19)
    with pytest.raises(CalendarYearNotLoaded):
        workdays.is_working_day(date(2028, 1, 3))


def test_coverage_warns_for_a_year_deadlines_may_reach() -> None:
    early = workdays.coverage(date(2026, 6, 1), horizon_days=100)
    assert [y.year for y in early.years] == [2026]
    assert early.warnings == []

    late = workdays.coverage(date(2026, 12, 1), horizon_days=100)
    assert [(y.year, y.source) for y in late.years] == [(2026, "library"), (2027, None)]
    assert late.missing == [2027]
    assert late.warnings[0].startswith("2027年节假日安排尚未导入")
    assert "按周末计算" in late.warnings[0]  # what the "weekends" policy does meanwhile

    workdays.configure(unknown_year="refuse")
    assert "无法计算" in workdays.coverage(date(2026, 12, 1), horizon_days=100).warnings[0]


async def test_coverage_over_the_api_and_readyz(
    client: httpx.AsyncClient, database: Database, make_user: MakeUser, auth_headers: Any
) -> None:
    response = await client.get("/api/v1/calendar")
    assert response.status_code == 200
    expected = workdays.coverage(clock.today(), horizon_days=100)
    assert response.json()["missing"] == expected.missing
    assert response.json()["warnings"] == expected.warnings
    assert response.json()["unknown_year"] == "weekends"
    public = (await client.get("/readyz")).json()["checks"]["calendar"]
    assert public == {"ok": True}  # the public sees only ok/failing (issue 11, finding 17)
    admin = await make_user(Role.admin)
    ready = (await client.get("/readyz", headers=await auth_headers(admin))).json()
    assert ready["checks"]["calendar"]["missing"] == expected.missing


async def test_the_calendar_changed_event_reloads_a_worker_and_calls_the_domains(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with database.transaction() as session:
        await service.import_notice(session, text=NOTICE_2027, actor=None)
    # Another process: it has not seen the import.
    workdays.install([])
    assert workdays.source_of(2027) is None

    seen: list[tuple[dict[str, Any], date]] = []

    async def on_calendar_changed(session: Any, payload: dict[str, Any], context: Any) -> None:
        # A domain recomputing deadlines sees the new calendar already.
        seen.append((payload, workdays.add_working_days(date(2026, 12, 28), 15)))

    # A stand-in for the complaints hook shows when it runs: after the reload, with the years.
    monkeypatch.setattr(complaint_jobs, "on_calendar_changed", on_calendar_changed, raising=False)
    worker = OutboxWorker(database)
    assert await worker.run_once() >= 1
    assert workdays.source_of(2027) == "notice"
    assert seen == [({"years": [2027]}, date(2027, 1, 19))]
    async with database.transaction() as session:
        event = await session.scalar(
            select(OutboxEvent).where(OutboxEvent.topic == "calendar.changed")
        )
        assert event is not None
        assert event.processed_at is not None


async def test_importing_a_year_recounts_the_deadlines_of_open_cases(
    client: httpx.AsyncClient,
    database: Database,
    make_user: MakeUser,
    settings: Settings,
    app: FastAPI,
) -> None:
    """Issue 16: a complaint and a report filed on 28 December 2026, before 2027's notice was
    known, were given deadlines counted on weekends alone; importing the notice moves them to the
    real working days (New Year's Day is a holiday), with an internal event saying so."""
    # Submissions count against the client's limit; earlier tests here have used some of it.
    await app.state.rate_limiter.reset()
    regulator = await make_user(Role.regulator, region="610400")
    filed = datetime(2026, 12, 28, 2, 0, tzinfo=UTC)  # 10:00 in China
    with clock.use_clock(clock.FixedClock(filed)):
        report = await client.post("/api/v1/cases", json=report_body())
        complaint = await client.post("/api/v1/cases", json=complaint_body())
        assert report.status_code == complaint.status_code == 201
        async with database.transaction() as session:
            accepted = await session.scalar(
                select(Case).where(Case.tracking_number == complaint.json()["tracking_number"])
            )
            assert accepted is not None
            await apply_action(
                session,
                accepted.id,
                CaseAccept(action="accept"),
                settings=settings,
                actor=regulator,
            )
        async with database.transaction() as session:
            cases = {c.kind.value: c for c in await session.scalars(select(Case))}
        assert cases["report"].handling_due == date(2027, 1, 18)  # 15 days, weekends only
        assert cases["complaint"].handling_due == workdays.add_working_days(date(2026, 12, 28), 45)
        weekends_only_mediation = cases["complaint"].handling_due

        async with database.transaction() as session:
            await service.import_notice(session, text=NOTICE_2027, actor=None)
        assert await OutboxWorker(database).run_once() >= 1

    async with database.transaction() as session:
        after = {c.kind.value: c for c in await session.scalars(select(Case))}
        events = list(
            await session.scalars(select(CaseEvent).where(CaseEvent.type == "deadline_recomputed"))
        )
    assert after["report"].handling_due == date(2027, 1, 19)
    assert after["complaint"].handling_due == workdays.add_working_days(date(2026, 12, 28), 45)
    assert after["complaint"].handling_due != weekends_only_mediation  # Spring Festival counted
    assert after["complaint"].acceptance_due == cases["complaint"].acceptance_due  # already past
    changed = {e.case_id: e.data for e in events}
    assert changed[after["report"].id]["handling_due"] == ["2027-01-18", "2027-01-19"]
    assert all(not e.public for e in events)
    # Counting again changes nothing: the hook is idempotent, as every handler must be.
    async with database.transaction() as session:
        assert (
            await recompute_open_deadlines(
                session,
                years=[2027],
                config=settings.of(ComplaintsSettings),
                today=clock.today(),
            )
            == 0
        )


async def test_every_process_refreshes_periodically(database: Database) -> None:
    stop = asyncio.Event()
    task = await service.start(database, stop, every=0.05)
    try:
        async with database.transaction() as session:
            await service.import_notice(session, text=NOTICE_2027, actor=None)
        workdays.install([])  # as in a process that did not import
        for _ in range(100):
            if workdays.source_of(2027) == "notice":
                break
            await asyncio.sleep(0.02)
        assert workdays.source_of(2027) == "notice"
    finally:
        stop.set()
        await task


async def test_the_back_office_form_previews_then_imports(
    client: httpx.AsyncClient, make_user: MakeUser, database: Database
) -> None:
    admin = await make_user(Role.admin)
    await _login(client, admin.email)
    page = await client.get("/admin/calendar")
    assert page.status_code == 200
    assert "节假日安排" in page.text
    assert 'name="viewport"' in page.text

    preview = await client.post("/admin/calendar", data={"text": NOTICE_2027, "intent": "preview"})
    assert preview.status_code == 200
    assert "calendar-preview" in preview.text
    assert "2027-02-05" in preview.text
    assert "确认导入2027年安排" in preview.text
    assert workdays.source_of(2027) is None  # a preview stores nothing
    async with database.transaction() as session:
        assert (await session.scalars(select(CalendarYear))).all() == []

    bad = await client.post(
        "/admin/calendar", data={"text": NOTICE_2027.replace("（周五）", "（周一）", 1)}
    )
    assert bad.status_code == 422
    assert "实为周五" in bad.text

    done = await client.post("/admin/calendar", data={"text": NOTICE_2027, "intent": "import"})
    assert done.status_code == 303
    assert done.headers["location"] == "/admin/calendar/2027?imported=1"
    assert workdays.source_of(2027) == "notice"
    year = await client.get(done.headers["location"])
    assert year.status_code == 200
    assert "已导入" in year.text
    assert "2027-02-20" in year.text

    # Removing needs the box ticked.
    assert (await client.post("/admin/calendar/2027/remove")).status_code == 422
    assert workdays.source_of(2027) == "notice"
    gone = await client.post("/admin/calendar/2027/remove", data={"confirm": "1"})
    assert gone.status_code == 303
    assert workdays.source_of(2027) is None


async def test_the_back_office_is_for_administrators_and_refuses_cross_site_posts(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    anonymous = await client.get("/admin/calendar")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == "/login?next=/admin/calendar"

    regulator = await make_user(Role.regulator)
    await _login(client, regulator.email)
    denied = await client.get("/admin/calendar")
    assert denied.status_code == 403
    assert "管理员" in denied.text
    assert (await client.post("/admin/calendar", data={"text": NOTICE_2027})).status_code == 403

    client.cookies.clear()
    admin = await make_user(Role.admin)
    await _login(client, admin.email)
    forged = await client.post(
        "/admin/calendar",
        data={"text": NOTICE_2027, "intent": "import"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert_problem(forged, 403, "cross_site_request")
    assert workdays.source_of(2027) is None


async def test_staff_see_the_missing_year_on_every_page(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    regulator = await make_user(Role.regulator)
    # Signed in on the same clock the page is read with: a session is dated by the portal clock.
    with clock.use_clock(clock.FixedClock(clock.now().replace(year=2026, month=12, day=1))):
        await _login(client, regulator.email)
        page = await client.get("/account")
        assert "2027年节假日安排尚未导入" in page.text
        client.cookies.clear()
        citizen = await make_user(Role.citizen)
        await _login(client, citizen.email)
        assert "节假日安排尚未导入" not in (await client.get("/account")).text


async def test_a_year_not_imported_yet_leads_to_the_import_form_not_to_a_missing_page(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    """On New Year's Day 2027 (Beijing) the table's first year was 2027, which nothing knew yet,
    and its link answered 404 (the page walk under ``make pytest-clocks``)."""
    admin = await make_user(Role.admin)
    new_year = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # 2027-01-01 07:30 in China
    with clock.use_clock(clock.FixedClock(new_year)):
        await _login(client, admin.email)
        page = await client.get("/admin/calendar")
        assert page.status_code == 200
        table = page.text[page.text.index('id="calendar-coverage"') :]
        table = table[: table.index("</table>")]
        assert "2027年" in table
        for year in re.findall(r'href="/admin/calendar/(\d{4})"', table):
            assert (await client.get(f"/admin/calendar/{year}")).status_code == 200, year
        assert 'href="/admin/calendar?year=2027#calendar-form"' in table
        form = await client.get("/admin/calendar", params={"year": "2027"})
        assert 'name="year" inputmode="numeric" pattern="[0-9]{4}" maxlength="4" value="2027"' in (
            form.text
        )
        ignored = await client.get("/admin/calendar", params={"year": "12ab"})
        assert ignored.status_code == 200
        assert 'maxlength="4" value=""' in ignored.text
