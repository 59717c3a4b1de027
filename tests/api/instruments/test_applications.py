"""Verification applications: register → confirm → apply → appointment → certificate →
complete, with the state current; the institution's queue (reschedule, refuse); what is refused."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from openpyxl import load_workbook

from portal.accounts.models import Organization, Role, User
from portal.db import Database
from tests.api.certificates.support import Issue, days
from tests.api.instruments.support import org_code, owner_uscc, registration_body
from tests.support import assert_problem

Headers = Callable[[User], Awaitable[dict[str, str]]]


async def _confirmed(
    client: httpx.AsyncClient, owner: dict[str, str], bureau: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    created = await client.post(
        "/api/v1/instruments", json=registration_body(**overrides), headers=owner
    )
    assert created.status_code == 201, created.text
    confirmed = await client.post(
        f"/api/v1/instruments/{created.json()['id']}/confirm", headers=bureau
    )
    assert confirmed.status_code == 200, confirmed.text
    data: dict[str, Any] = confirmed.json()
    return data


async def test_register_apply_appointment_certificate_complete(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    institution_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    issue: Issue,
) -> None:
    owner = await auth_headers(owner_user)
    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    lab = await auth_headers(institution_user)
    lab_code = await org_code(database, institution_user)
    uscc = await owner_uscc(database, owner_user)
    scale = await _confirmed(client, owner, bureau, serial="APP-1")
    pump = await _confirmed(client, owner, bureau, serial="APP-2")
    pending = await client.post(
        "/api/v1/instruments", json=registration_body(serial="APP-3"), headers=owner
    )
    assert scale["verification_status"] == "none"
    body = {
        "institution_code": lab_code,
        "registration_ids": [scale["id"], pending.json()["id"]],
        "preferred_on": days(3),
        "mode": "on_site",
    }
    refused = await client.post("/api/v1/verification-applications", json=body, headers=owner)
    problem = assert_problem(refused, 422, "application_invalid")
    assert [e["type"] for e in problem["errors"]] == ["registration_not_confirmed"]

    body["registration_ids"] = [scale["id"], pump["id"]]
    created = await client.post("/api/v1/verification-applications", json=body, headers=owner)
    assert created.status_code == 201, created.text
    application = created.json()
    assert application["status"] == "submitted"
    assert [i["serial"] for i in application["items"]] == ["APP-1", "APP-2"]
    assert_problem(
        await client.post("/api/v1/verification-applications", json=body, headers=owner),
        422,
        "application_invalid",
    )  # already in an open application

    # The institution's queue; another institution neither sees nor handles it.
    queue = (await client.get("/api/v1/verification-applications", headers=lab)).json()
    assert [a["id"] for a in queue["items"]] == [application["id"]]
    other_lab = await auth_headers(await make_user(Role.institution, region="610100"))
    assert (await client.get("/api/v1/verification-applications", headers=other_lab)).json()[
        "total"
    ] == 0
    url = f"/api/v1/verification-applications/{application['id']}"
    assert_problem(
        await client.post(f"{url}/accept", json={"appointment_on": days(5)}, headers=other_lab),
        404,
        "application_not_found",
    )
    assert_problem(
        await client.post(f"{url}/accept", json={"appointment_on": days(5)}, headers=lab),
        422,
        "application_invalid",
    )  # on site: the address is required
    accepted = await client.post(
        f"{url}/accept",
        json={"appointment_on": days(5), "address": "人民路农贸市场", "staff": "陈工、赵工"},
        headers=lab,
    )
    assert accepted.json()["status"] == "accepted"
    moved = await client.post(
        f"{url}/reschedule",
        json={"appointment_on": days(6), "address": "人民路农贸市场", "staff": "陈工"},
        headers=lab,
    )
    assert moved.json()["appointment_on"] == days(6)
    assert [e["kind"] for e in moved.json()["events"]] == ["submitted", "accepted", "rescheduled"]

    # Not complete before every instrument has its result.
    await issue(
        number="APP-C1", serial="APP-1", region_code="610402", verified_on=days(0), owner_uscc=uscc
    )
    missing = assert_problem(
        await client.post(f"{url}/complete", headers=lab), 409, "application_results_missing"
    )
    assert [e["field"] for e in missing["errors"]] == ["APP-2"]
    await issue(
        number="APP-C2",
        serial="APP-2",
        owner_uscc=uscc,
        region_code="610402",
        verified_on=days(0),
        kind="notice",
        conclusion="不合格",
        valid_until=None,
    )
    done = await client.post(f"{url}/complete", headers=lab)
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["status"] == "completed"
    assert result["days_to_result"] == 0
    assert result["within_limit"] is True
    assert {i["serial"]: i["verification_status"] for i in result["items"]} == {
        "APP-1": "valid",
        "APP-2": "failed",
    }
    mine = (await client.get(url, headers=owner)).json()
    assert mine["items"][0]["certificate_number"] == "APP-C1"
    assert_problem(await client.post(f"{url}/cancel", headers=owner), 409)

    # Refused with reasons, and withdrawn by the owner.
    third = await _confirmed(client, owner, bureau, serial="APP-4")
    body["registration_ids"] = [third["id"]]
    body["mode"] = "in_lab"
    second = (
        await client.post("/api/v1/verification-applications", json=body, headers=owner)
    ).json()
    refused_app = await client.post(
        f"/api/v1/verification-applications/{second['id']}/refuse",
        json={"reason": "本机构暂无该量程的检定能力"},
        headers=lab,
    )
    assert refused_app.json()["status"] == "refused"
    third_app = (
        await client.post("/api/v1/verification-applications", json=body, headers=owner)
    ).json()
    cancelled = await client.post(
        f"/api/v1/verification-applications/{third_app['id']}/cancel", headers=owner
    )
    assert cancelled.json()["status"] == "cancelled"
    stranger = await auth_headers(await make_user(Role.owner, region="610402"))
    assert_problem(
        await client.get(f"/api/v1/verification-applications/{third_app['id']}", headers=stranger),
        404,
        "application_not_found",
    )


async def test_the_plan_lists_what_falls_due_with_what_to_do(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    institution_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    issue: Issue,
) -> None:
    owner = await auth_headers(owner_user)
    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    await _confirmed(client, owner, bureau, serial="PL-NEW")  # never verified: first, today
    await _confirmed(
        client, owner, bureau, serial="PL-PAPER", last_verified_on=days(-330)
    )  # due in about a month
    await _confirmed(
        client, owner, bureau, serial="PL-LATER", last_verified_on=days(-30)
    )  # due in eleven months
    await _confirmed(
        client,
        owner,
        bureau,
        serial="PL-WATER",
        category_code="water-meter",
        attributes={"dn": 15},
        manufacturer="宁波水表股份有限公司",
    )
    await issue(
        number="PL-C1",
        serial="PL-WATER",
        owner_uscc=await owner_uscc(database, owner_user),
        category_code="water-meter",
        manufacturer="宁波水表股份有限公司",
        region_code="610402",
        verified_on=days(-2100),
        valid_until=days(60),
    )
    plan = (
        await client.get("/api/v1/verification-plan", params={"months": 3}, headers=owner)
    ).json()
    rows = [(i["registration"]["serial"], i["action"]) for i in plan["items"]]
    assert rows == [("PL-NEW", "first"), ("PL-PAPER", "reverify"), ("PL-WATER", "replace")]
    assert plan["items"][2]["due_on"] == days(61)
    year = (
        await client.get("/api/v1/verification-plan", params={"months": 12}, headers=owner)
    ).json()
    assert "PL-LATER" in [i["registration"]["serial"] for i in year["items"]]
    exported = await client.get(
        "/api/v1/verification-plan.csv", params={"months": 3}, headers=owner
    )
    assert exported.text.startswith("\ufeff应检日期")
    assert "到期更换" in exported.text
    assert_problem(
        await client.get("/api/v1/verification-plan", params={"months": 0}, headers=owner), 422
    )
    lab = await auth_headers(institution_user)
    assert (await client.get("/api/v1/verification-plan", headers=lab)).json()["items"] == []

    # The same rows as an Excel workbook.
    workbook = await client.get(
        "/api/v1/verification-plan.xlsx", params={"months": 3}, headers=owner
    )
    assert workbook.status_code == 200
    sheet = load_workbook(io.BytesIO(workbook.content)).worksheets[0]
    cells = [[c.value for c in row] for row in sheet.iter_rows()]
    assert cells[0][:4] == ["应检日期", "事项", "器具", "出厂编号"]
    assert [(row[3], row[1]) for row in cells[1:]] == [
        ("PL-NEW", "首次检定"),
        ("PL-PAPER", "周期检定"),
        ("PL-WATER", "到期更换"),
    ]
    # The page: a calendar whose due days link to the list, for the owner; others are refused.
    page = await client.get("/owner/plan", params={"months": 3}, headers=owner)
    assert page.status_code == 200, page.text
    assert f'href="#d-{days(61)}"' in page.text
    assert f'id="d-{days(61)}"' in page.text
    assert page.text.count('class="reg-item"') == 3
    assert "/api/v1/verification-plan.xlsx?months=3" in page.text
    assert (await client.get("/owner/plan", headers=lab)).status_code == 403
    assert (await client.get("/backoffice/plan", headers=lab)).status_code == 200
    assert (await client.get("/backoffice/plan", headers=owner)).status_code == 403
    anonymous = await client.get("/owner/plan")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/login")


def test_the_plan_calendar_runs_across_the_new_year() -> None:
    """Month grids from this month to the month of the plan's end, across a year's end; weeks
    start on Monday; what is already overdue is not drawn on past days."""
    from datetime import date

    from api.instruments.plans import PlanItem, month_calendars

    def item(day: date) -> PlanItem:
        return PlanItem(due_on=day, action="reverify", registration=None)  # type: ignore[arg-type]

    items = [item(date(2026, 11, 20)), item(date(2026, 12, 31)), item(date(2026, 12, 31))]
    items.append(item(date(2027, 1, 4)))
    months = month_calendars(items, today=date(2026, 12, 31), until=date(2027, 2, 28))
    assert [(m.year, m.month, m.total) for m in months] == [
        (2026, 12, 2),
        (2027, 1, 1),
        (2027, 2, 0),
    ]
    december = {c.day: c.count for week in months[0].weeks for c in week if c.day is not None}
    assert december[date(2026, 12, 31)] == 2
    assert sum(december.values()) == 2
    assert months[1].weeks[0][0].day is None  # 2027-01-01 is a Friday: Monday to Thursday blank
    assert months[1].weeks[0][4].day == date(2027, 1, 1)
    assert months[1].weeks[1][0].count == 1  # Monday 2027-01-04


async def test_an_appointment_is_within_a_year(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    institution_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> None:
    """An institution could accept (or move) an appointment to 9999-12-31: the owner saw 已预约
    with a date nobody would keep. The appointment has the bound of the owner's wish."""
    owner = await auth_headers(owner_user)
    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    lab = await auth_headers(institution_user)
    lab_code = await org_code(database, institution_user)
    scale = await _confirmed(client, owner, bureau, serial="APP-FAR")
    body = {
        "institution_code": lab_code,
        "registration_ids": [scale["id"]],
        "preferred_on": days(3),
        "mode": "in_lab",
    }
    created = await client.post("/api/v1/verification-applications", json=body, headers=owner)
    url = f"/api/v1/verification-applications/{created.json()['id']}"
    for far in ("9999-12-31", days(367)):
        assert_problem(
            await client.post(f"{url}/accept", json={"appointment_on": far}, headers=lab),
            422,
            "application_invalid",
        )
    accepted = await client.post(f"{url}/accept", json={"appointment_on": days(366)}, headers=lab)
    assert accepted.json()["appointment_on"] == days(366)
    assert_problem(
        await client.post(f"{url}/reschedule", json={"appointment_on": "9999-12-31"}, headers=lab),
        422,
        "application_invalid",
    )
    mine = (await client.get(url, headers=owner)).json()
    assert mine["appointment_on"] == days(366)


async def test_an_institutions_plan_holds_only_what_is_still_applied_to_it(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    institution_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> None:
    """An institution's plan listed every instrument ever named in an application to it: one it
    had refused, one the owner withdrew, and one the owner has since taken to another
    institution still showed there with its owner, serial, place and certificate, for good."""
    owner = await auth_headers(owner_user)
    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    lab = await auth_headers(institution_user)
    other_user = await make_user(Role.institution, region="610400")
    other = await auth_headers(other_user)
    async with database.transaction() as session:
        codes = {}
        for user in (institution_user, other_user):
            org = await session.get(Organization, user.organization_id)
            assert org is not None
            codes[user.id] = org.code

    async def apply(serial_id: str, institution: User) -> str:
        body = {
            "institution_code": codes[institution.id],
            "registration_ids": [serial_id],
            "preferred_on": days(3),
            "mode": "in_lab",
        }
        created = await client.post("/api/v1/verification-applications", json=body, headers=owner)
        assert created.status_code == 201, created.text
        return f"/api/v1/verification-applications/{created.json()['id']}"

    kept = await _confirmed(client, owner, bureau, serial="PLAN-KEPT")
    refused = await _confirmed(client, owner, bureau, serial="PLAN-REFUSED")
    withdrawn = await _confirmed(client, owner, bureau, serial="PLAN-WITHDRAWN")
    moved = await _confirmed(client, owner, bureau, serial="PLAN-MOVED")
    await apply(kept["id"], institution_user)
    url = await apply(refused["id"], institution_user)
    assert (
        await client.post(f"{url}/refuse", json={"reason": "暂无该项目"}, headers=lab)
    ).status_code == 200
    url = await apply(withdrawn["id"], institution_user)
    assert (await client.post(f"{url}/cancel", headers=owner)).status_code == 200
    url = await apply(moved["id"], institution_user)
    assert (await client.post(f"{url}/cancel", headers=owner)).status_code == 200
    await apply(moved["id"], other_user)

    def serials(plan: dict[str, Any]) -> list[str]:
        return sorted(i["registration"]["serial"] for i in plan["items"])

    mine = (await client.get("/api/v1/verification-plan", headers=lab)).json()
    assert serials(mine) == ["PLAN-KEPT"]
    csv_text = (await client.get("/api/v1/verification-plan.csv", headers=lab)).text
    assert "PLAN-KEPT" in csv_text
    assert "PLAN-REFUSED" not in csv_text
    assert "PLAN-MOVED" not in csv_text
    theirs = (await client.get("/api/v1/verification-plan", headers=other)).json()
    assert serials(theirs) == ["PLAN-MOVED"]


async def test_another_owners_instrument_in_an_application_is_only_not_found(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    institution_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> None:
    """An owner naming another owner's instrument that is in an open application was told
    "already applied" with that instrument's serial, besides "not found": its id was enough to
    learn the serial and that it awaits verification."""
    owner = await auth_headers(owner_user)
    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    stranger = await auth_headers(await make_user(Role.owner, region="610402"))
    lab_code = await org_code(database, institution_user)
    theirs = await _confirmed(client, owner, bureau, serial="SECRET-SERIAL-1")
    body = {
        "institution_code": lab_code,
        "registration_ids": [theirs["id"]],
        "preferred_on": days(3),
        "mode": "in_lab",
    }
    created = await client.post("/api/v1/verification-applications", json=body, headers=owner)
    assert created.status_code == 201, created.text
    refused = await client.post("/api/v1/verification-applications", json=body, headers=stranger)
    problem = assert_problem(refused, 422, "application_invalid")
    assert [e["type"] for e in problem["errors"]] == ["registration_not_found"]
    assert "SECRET-SERIAL-1" not in refused.text


async def test_an_instrument_retired_while_applied_for_needs_no_result(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    institution_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    issue: Issue,
) -> None:
    """The owner scraps one of two scales after the appointment: the institution verifies the
    other and completes the application (it answered results_missing for ever before); an
    application whose instruments are all retired is refused or withdrawn, not completed."""
    owner = await auth_headers(owner_user)
    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    lab = await auth_headers(institution_user)
    lab_code = await org_code(database, institution_user)
    uscc = await owner_uscc(database, owner_user)
    kept = await _confirmed(client, owner, bureau, serial="RET-1")
    scrapped = await _confirmed(client, owner, bureau, serial="RET-2")
    alone = await _confirmed(client, owner, bureau, serial="RET-3")

    async def accepted(ids: list[str]) -> str:
        created = await client.post(
            "/api/v1/verification-applications",
            json={
                "institution_code": lab_code,
                "registration_ids": ids,
                "preferred_on": days(3),
                "mode": "in_lab",
            },
            headers=owner,
        )
        assert created.status_code == 201, created.text
        url = f"/api/v1/verification-applications/{created.json()['id']}"
        answer = await client.post(f"{url}/accept", json={"appointment_on": days(5)}, headers=lab)
        assert answer.status_code == 200, answer.text
        return url

    async def retire(registration: dict[str, Any]) -> None:
        answer = await client.post(
            f"/api/v1/instruments/{registration['id']}/events",
            json={"kind": "retired", "reason": "秤损坏，已报废"},
            headers=owner,
        )
        assert answer.status_code == 200, answer.text

    both = await accepted([kept["id"], scrapped["id"]])
    await retire(scrapped)
    missing = assert_problem(
        await client.post(f"{both}/complete", headers=lab), 409, "application_results_missing"
    )
    assert [e["field"] for e in missing["errors"]] == ["RET-1"]  # not the scrapped one
    await issue(
        number="RET-C1", serial="RET-1", region_code="610402", verified_on=days(0), owner_uscc=uscc
    )
    done = await client.post(f"{both}/complete", headers=lab)
    assert done.status_code == 200, done.text
    assert {i["serial"]: i["verification_status"] for i in done.json()["items"]} == {
        "RET-1": "valid",
        "RET-2": "retired",
    }

    only = await accepted([alone["id"]])
    await retire(alone)
    assert_problem(
        await client.post(f"{only}/complete", headers=lab), 409, "application_state_conflict"
    )
    refused = await client.post(f"{only}/refuse", json={"reason": "器具已报废"}, headers=lab)
    assert refused.status_code == 200, refused.text
