"""Owners register their compulsory-verification instruments; the bureau confirms or rejects;
never-verified instruments reach the region's overdue list from their due day; certificates
attach to the registered instrument; changes are events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, ClassVar

import httpx
import pytest
from sqlalchemy import select

from api.certificates.overdue import scan_overdue
from api.certificates.queries import instruments, warnings
from api.certificates.settings import CertificatesSettings
from api.instruments.reminders import send_reminders, send_unconfirmed_due_digest
from api.instruments.review import enter_due_registrations
from api.instruments.settings import InstrumentsSettings
from portal import clock, notify
from portal.accounts.models import Role, User
from portal.db import Database
from tests.api.certificates.support import Issue, days
from tests.api.instruments.support import owner_uscc, registration_body
from tests.support import assert_problem, workbook_with_a_row_on_the_last_line

Headers = Callable[[User], Awaitable[dict[str, str]]]


async def _register(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/instruments", json=registration_body(**overrides), headers=headers
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def _overdue_serials(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, str]:
    listing = (
        await client.get(
            "/api/v1/instruments/overdue",
            params={"region": "610402", "per_page": 200},
            headers=headers,
        )
    ).json()
    return {item["serial"]: item["status"] for item in listing["items"]}


async def _overdue_items(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> dict[str, dict[str, Any]]:
    listing = (
        await client.get(
            "/api/v1/instruments/overdue",
            params={"region": "610402", "per_page": 200},
            headers=headers,
        )
    ).json()
    return {item["serial"]: item for item in listing["items"]}


async def test_bad_registrations_are_refused_field_by_field(
    client: httpx.AsyncClient, owner_user: User, auth_headers: Headers
) -> None:
    headers = await auth_headers(owner_user)
    cases = [
        ({"category_code": "no-such"}, "category_code", "unknown_category"),
        ({"category_code": "water-meter"}, "attributes.dn", "attribute_required"),
        (
            {"category_code": "water-meter", "attributes": {"dn": "大"}},
            "attributes.dn",
            "invalid_attribute",
        ),
        ({"category_code": "load-cell"}, "category_code", "not_compulsory"),
        (
            {"category_code": "taximeter", "usage_area": "医疗卫生"},
            "usage_area",
            "usage_not_compulsory",
        ),
        ({"last_verified_on": days(3)}, "last_verified_on", "date_out_of_range"),
    ]
    for overrides, field, code in cases:
        response = await client.post(
            "/api/v1/instruments", json=registration_body(**overrides), headers=headers
        )
        problem = assert_problem(response, 422, "registration_invalid")
        assert [(e["field"], e["type"]) for e in problem["errors"]] == [(field, code)], overrides
        assert problem["errors"][0]["message_zh"]
    assert_problem(
        await client.post(
            "/api/v1/instruments",
            json=registration_body(serial="x" * 101),
            headers=headers,
        ),
        422,
    )
    listing = (await client.get("/api/v1/instrument-registrations", headers=headers)).json()
    assert listing["total"] == 0


async def test_register_confirm_and_the_overdue_list_from_the_due_day(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> None:
    headers = await auth_headers(owner_user)
    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    never = await _register(
        client, headers, serial="NEVER-1", category_code="water-meter", attributes={"dn": 20}
    )
    assert never["status"] == "pending"
    assert never["cycle_months"] == 72
    assert never["verification_form"] == "initial_rotation"
    assert never["due_on"] == clock.today().isoformat()  # never verified: due before use
    assert never["verification_status"] == "none"
    assert never["sticker_token"] is None  # not in the registry before the bureau confirms

    # A meter verified 300 days ago on paper: due a cycle later.
    paper = await _register(
        client,
        headers,
        serial="PAPER-1",
        category_code="scale-pc",
        last_verified_on=days(-300),
    )
    assert paper["verification_status"] == "valid"
    wrong = await _register(client, headers, serial="WRONG-1")
    # Due today and never verified, still awaiting the bureau: in the region's overdue list
    # (and its export) from today, marked 待确认, as the regional statistics count it.
    listing = (
        await client.get("/api/v1/instruments/overdue", params={"region": "610402"}, headers=bureau)
    ).json()
    waiting = {i["serial"]: i for i in listing["items"]}
    assert set(waiting) == {"NEVER-1", "WRONG-1"}
    assert listing["total"] == 2
    assert waiting["NEVER-1"]["status"] == "none"
    assert waiting["NEVER-1"]["status_name"] == "未检定"
    assert waiting["NEVER-1"]["registration_status"] == "pending"
    assert waiting["NEVER-1"]["sticker_token"] is None
    assert waiting["NEVER-1"]["days_overdue"] == 0
    assert waiting["NEVER-1"]["owner_name"] == "咸阳市秦都区人民路农贸市场有限公司"
    exported = await client.get(
        "/api/v1/instruments/overdue.csv", params={"region": "610402"}, headers=bureau
    )
    assert exported.status_code == 200, exported.text
    lines = exported.text.lstrip("\ufeff").splitlines()
    assert lines[0].endswith("登记状态")
    never_line = next(line for line in lines if line.startswith("NEVER-1,"))
    assert never_line.endswith(",待确认")
    assert ",未检定," in never_line
    stats = (await client.get("/api/v1/instrument-statistics", headers=bureau)).json()
    assert stats["overdue"] == listing["total"]
    assert stats["overdue_unconfirmed"] == 2
    page = await client.get("/backoffice/overdue", headers=bureau)
    assert page.status_code == 200, page.text
    assert "NEVER-1" in page.text
    assert "登记待确认" in page.text

    # The bureau of the region confirms; another region's bureau does not see it; an owner
    # cannot confirm.
    other = await auth_headers(await make_user(Role.regulator, region="610102"))
    assert_problem(
        await client.post(f"/api/v1/instruments/{never['id']}/confirm", headers=other),
        404,
        "registration_not_found",
    )
    assert_problem(
        await client.post(f"/api/v1/instruments/{never['id']}/confirm", headers=headers), 403
    )
    confirmed = await client.post(f"/api/v1/instruments/{never['id']}/confirm", headers=bureau)
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["status"] == "confirmed"
    assert body["sticker_token"]  # never verified and due: entered in the registry
    assert [e["kind"] for e in body["events"]] == ["registered", "confirmed", "entered"]
    assert_problem(
        await client.post(f"/api/v1/instruments/{never['id']}/confirm", headers=bureau),
        409,
        "registration_not_pending",
    )
    rejected = await client.post(
        f"/api/v1/instruments/{wrong['id']}/reject",
        json={"reason": "出厂编号与铭牌不符，请核对后重新登记"},
        headers=bureau,
    )
    assert rejected.json()["status"] == "rejected"
    assert rejected.json()["review_reason"].startswith("出厂编号")
    assert (await client.post(f"/api/v1/instruments/{paper['id']}/confirm", headers=bureau)).json()[
        "sticker_token"
    ] is None  # not due yet

    overdue = await _overdue_serials(client, bureau)
    assert overdue.get("NEVER-1") == "none"
    assert "PAPER-1" not in overdue
    assert "WRONG-1" not in overdue

    # On its due day the paper-verified one enters the registry, and the region's list counts it.
    due = clock.add_months(clock.today() - timedelta(days=300), 12)
    async with database.transaction() as session:
        assert await enter_due_registrations(session, today=due - timedelta(days=1)) == 0
        assert await enter_due_registrations(session, today=due) == 1
        assert await enter_due_registrations(session, today=due) == 0
    assert "PAPER-1" in await _overdue_serials(client, bureau)

    region_list = (
        await client.get(
            "/api/v1/instrument-registrations", params={"status": "confirmed"}, headers=bureau
        )
    ).json()
    assert sorted(i["serial"] for i in region_list["items"]) == ["NEVER-1", "PAPER-1"]
    assert (await client.get("/api/v1/instrument-registrations", headers=other)).json()[
        "total"
    ] == 0

    # The same instrument again: refused.
    assert_problem(
        await client.post(
            "/api/v1/instruments",
            json=registration_body(
                serial="NEVER-1",
                category_code="water-meter",
                manufacturer="上海友声衡器有限公司",
                attributes={"dn": 20},
            ),
            headers=headers,
        ),
        409,
        "registration_exists",
    )


async def test_certificates_attach_and_a_first_only_meter_past_its_life_is_to_be_replaced(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    auth_headers: Headers,
    issue: Issue,
) -> None:
    headers = await auth_headers(owner_user)
    scale = await _register(client, headers, serial="ATTACH-1")
    assert scale["verification_status"] == "none"
    first_cert = await issue(
        owner_uscc=await owner_uscc(database, owner_user),
        number="ATT-1",
        serial="ATTACH-1",
        manufacturer="上海友声衡器有限公司",
        category_code="scale-pc",
        region_code="610402",
    )
    # The periodic step links it to the instrument the certificate created.
    async with database.transaction() as session:
        assert await enter_due_registrations(session, today=clock.today()) == 1
    again = (
        await client.get(f"/api/v1/instrument-registrations/{scale['id']}", headers=headers)
    ).json()
    assert again["verification_status"] == "valid"
    assert again["certificate_number"] == "ATT-1"
    assert again["sticker_token"] == first_cert["instrument"]["sticker_token"]

    # Certified first, registered later: linked at once to the same registry instrument.
    first = await issue(
        number="ATT-2",
        serial="METER-OLD",
        manufacturer="宁波水表股份有限公司",
        category_code="water-meter",
        region_code="610402",
        verified_on=days(-2000),
        valid_until=days(-10),
    )
    meter = await _register(
        client,
        headers,
        serial="METER-OLD",
        manufacturer="宁波水表股份有限公司",
        category_code="water-meter",
        attributes={"dn": 15},
        in_use_since=days(-1990),
    )
    assert meter["sticker_token"] == first["instrument"]["sticker_token"]
    assert meter["verification_status"] == "replace"
    assert meter["verification_status_name"] == "到期更换"


async def test_moved_replaced_and_retired_are_events(
    client: httpx.AsyncClient,
    owner_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> None:
    headers = await auth_headers(owner_user)
    scale = await _register(client, headers, serial="EV-1")
    moved = await client.post(
        f"/api/v1/instruments/{scale['id']}/events",
        json={"kind": "moved", "location": "二楼 36 号摊位", "reason": "摊位调整"},
        headers=headers,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["location"] == "二楼 36 号摊位"
    replaced = await client.post(
        f"/api/v1/instruments/{scale['id']}/events",
        json={
            "kind": "replaced",
            "reason": "秤损坏",
            "replacement": registration_body(serial="EV-2"),
        },
        headers=headers,
    )
    body = replaced.json()
    assert body["status"] == "retired"
    assert body["verification_status"] == "retired"
    assert [e["kind"] for e in body["events"]] == ["registered", "moved", "replaced"]
    assert body["events"][-1]["data"]["serial"] == "EV-2"
    assert_problem(
        await client.post(
            f"/api/v1/instruments/{scale['id']}/events",
            json={"kind": "retired"},
            headers=headers,
        ),
        409,
        "registration_retired",
    )
    # Another owner neither sees nor changes it; the bureau sees every event.
    stranger = await auth_headers(await make_user(Role.owner, region="610402"))
    assert_problem(
        await client.get(f"/api/v1/instrument-registrations/{scale['id']}", headers=stranger),
        404,
        "registration_not_found",
    )
    bureau = await auth_headers(await make_user(Role.regulator, region="610400"))
    seen = (
        await client.get(f"/api/v1/instrument-registrations/{scale['id']}", headers=bureau)
    ).json()
    assert len(seen["events"]) == 3


CSV_HEADER = "器具类别,型号规格,出厂编号,制造单位,安装位置,用途,公称口径,启用日期,上次检定日期\n"


async def test_bulk_csv_gb18030_and_xlsx_with_row_errors_and_idempotence(
    client: httpx.AsyncClient, owner_user: User, auth_headers: Headers
) -> None:
    headers = await auth_headers(owner_user)
    rows = [
        "电子计价秤,ACS-15,B-1,上海友声衡器有限公司,1 号摊位,贸易结算,,2026-01-05,",
        "水表,LXS-20,B-2,宁波水表股份有限公司,一楼水表间,贸易结算,20,2025-06-01,2025-06-01",
        "水表,LXS-20,B-3,宁波水表股份有限公司,一楼水表间,贸易结算,,2025-06-01,",  # DN missing
        "未知器具,X,B-4,某厂,,贸易结算,,,",  # unknown category
        "电子计价秤,ACS-15,B-5,上海友声衡器有限公司,2 号摊位,娱乐,,,",  # usage
        "电子计价秤,ACS-15,B-6,上海友声衡器有限公司,3 号摊位,贸易结算,,2026-13-01,",  # date
        "电子计价秤,ACS-15,B-1,上海友声衡器有限公司,1 号摊位,贸易结算,,2026-01-05,",  # again
    ]
    data = (CSV_HEADER + "\n".join(rows) + "\n").encode("gb18030")

    async def send(name: str, content: bytes) -> dict[str, Any]:
        response = await client.post(
            "/api/v1/instruments/import", files={"file": (name, content)}, headers=headers
        )
        assert response.status_code == 200, response.text
        report: dict[str, Any] = response.json()
        return report

    report = await send("登记.csv", data)
    assert (report["total_rows"], report["created"], report["failed"]) == (7, 2, 5)
    assert {(e["line"], e["column"], e["code"]) for e in report["errors"]} == {
        (4, "attributes.dn", "attribute_required"),
        (5, "category_code", "unknown_category"),
        (6, "usage_area", "invalid_value"),
        (7, "in_use_since", "invalid_date"),
        (8, "serial", "duplicate_in_file"),
    }
    listing = (await client.get("/api/v1/instrument-registrations", headers=headers)).json()
    assert sorted(i["serial"] for i in listing["items"]) == ["B-1", "B-2"]
    water = next(i for i in listing["items"] if i["serial"] == "B-2")
    assert water["attributes"] == {"dn": 20}
    assert water["due_on"] == "2031-06-01"

    again = await send("登记.csv", data)
    assert (again["created"], again["unchanged"]) == (0, 2)

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["出厂编号", "器具类别", "用途", "公称口径", "制造单位"])
    sheet.append(["X-1", "water-meter", "贸易结算", 40, "宁波水表股份有限公司"])
    sheet.append(["X-2", "燃气表", "贸易结算", None, "某燃气表厂"])
    import io

    buffer = io.BytesIO()
    book.save(buffer)
    report = await send("登记.xlsx", buffer.getvalue())
    assert report["created"] == 1
    assert [(e["line"], e["code"]) for e in report["errors"]] == [(3, "attribute_required")]

    assert_problem(
        await client.post(
            "/api/v1/instruments/import",
            files={"file": ("x.csv", "型号\nA\n".encode())},
            headers=headers,
        ),
        422,
        "registration_file_unsupported",
    )


async def test_control_and_invisible_characters_are_refused_field_by_field(
    client: httpx.AsyncClient, owner_user: User, auth_headers: Headers
) -> None:
    """A NUL in a serial was stored on SQLite and failed the request on PostgreSQL with a generic
    invalid_value (in an import: the whole file, no row named); a right-to-left override or a
    zero-width space registered a serial that shows as another and that no certificate matches.
    Each is the field's error, and in an import only that row's."""
    headers = await auth_headers(owner_user)
    for field, value in (
        ("serial", "A\x00B"),
        ("manufacturer", "上海友声\u202e衡器有限公司"),
        ("serial", "ZW\u200b1"),
        ("location", "1 号摊位\x1b"),
    ):
        refused = await client.post(
            "/api/v1/instruments", json=registration_body(**{field: value}), headers=headers
        )
        problem = assert_problem(refused, 422, "registration_invalid")
        assert [(e["field"], e["type"]) for e in problem["errors"]] == [
            (field, "invalid_character")
        ]
    # A place written on two lines of a spreadsheet cell is still a place.
    two_lines = await client.post(
        "/api/v1/instruments", json=registration_body(location="一楼\n水表间"), headers=headers
    )
    assert two_lines.status_code == 201, two_lines.text
    rows = [
        "电子计价秤,ACS-15,CC-1,上海友声衡器有限公司,1 号摊位,贸易结算,,,",
        "电子计价秤,ACS-15,CC-\x002,上海友声衡器有限公司,2 号摊位,贸易结算,,,",
        "电子计价秤,ACS-15,CC-3,上海友声衡器有限公司,3 号摊位,贸易结算,,,",
    ]
    report = await client.post(
        "/api/v1/instruments/import",
        files={"file": ("登记.csv", (CSV_HEADER + "\n".join(rows) + "\n").encode())},
        headers=headers,
    )
    assert report.status_code == 200, report.text
    assert report.json()["created"] == 2
    assert [(e["line"], e["column"], e["code"]) for e in report.json()["errors"]] == [
        (3, "serial", "invalid_character")
    ]
    mine = (await client.get("/api/v1/instrument-registrations", headers=headers)).json()
    assert sorted(i["serial"] for i in mine["items"] if i["serial"].startswith("CC-")) == [
        "CC-1",
        "CC-3",
    ]


async def test_a_workbook_whose_row_sits_on_the_last_line_is_refused_at_once(
    client: httpx.AsyncClient, database: Database, owner_user: User, auth_headers: Headers
) -> None:
    """A 5 KB workbook with its one row on line 1,048,576 (and a dimension of 16,384 columns)
    was read blank line by blank line, each padded to every column, for most of a minute in the
    request's event loop, and then answered 200. Blank lines count against a bound too."""
    from api.instruments.models import RegisteredInstrument

    workbook = workbook_with_a_row_on_the_last_line(
        ["器具类别", "型号规格", "出厂编号", "制造单位", "安装位置", "用途"],
        ["电子计价秤", "ACS-15", "LAST-1", "上海友声衡器有限公司", "1 号摊位", "贸易结算"],
        column=3,
    )
    refused = await client.post(
        "/api/v1/instruments/import",
        files={"file": ("instruments.xlsx", workbook)},
        headers=await auth_headers(owner_user),
    )
    assert_problem(refused, 422, "registration_file_too_large")
    async with database.sessionmaker() as session:
        stored = (await session.scalars(select(RegisteredInstrument.serial))).all()
    assert stored == []


async def test_a_gb18030_file_with_an_undecodable_row_keeps_its_good_rows(
    client: httpx.AsyncClient, owner_user: User, auth_headers: Headers
) -> None:
    """One line cut mid-character (a stray byte, a file pasted together) is that row's error,
    not "the file is neither UTF-8 nor GB18030" for a file that is GB18030; a UTF-8 file with
    such a line is read as UTF-8. A file mostly undecodable is refused whole."""
    headers = await auth_headers(owner_user)
    for encoding in ("gb18030", "utf-8"):
        good = [
            f"电子计价秤,ACS-15,{encoding}-1,上海友声衡器有限公司,1 号摊位,贸易结算,,,",
            f"电子计价秤,ACS-15,{encoding}-3,上海友声衡器有限公司,3 号摊位,贸易结算,,,",
        ]
        data = (
            (CSV_HEADER + good[0] + "\n").encode(encoding)
            + "电子计价秤,ACS-15,坏-2,".encode(encoding)
            + b"\xff\xfe\x81,2 \xe5\xb7,\n"
            + (good[1] + "\n").encode(encoding)
        )
        response = await client.post(
            "/api/v1/instruments/import", files={"file": ("登记.csv", data)}, headers=headers
        )
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["total_rows"], report["created"], report["failed"]) == (3, 2, 1)
        assert [(e["line"], e["code"]) for e in report["errors"]] == [(3, "undecodable_row")]
        assert "GB18030" in report["errors"][0]["reason_zh"]
        listing = (await client.get("/api/v1/instrument-registrations", headers=headers)).json()
        serials = {i["serial"] for i in listing["items"]}
        assert {f"{encoding}-1", f"{encoding}-3"} <= serials  # read in the file's own encoding
    mostly_broken = CSV_HEADER.encode() + b"\xff\xfe,a\n\xff\xfe,b\n"
    assert_problem(
        await client.post(
            "/api/v1/instruments/import",
            files={"file": ("x.csv", mostly_broken)},
            headers=headers,
        ),
        422,
        "registration_file_unsupported",
    )


class RecordingSender:
    """A notifier that keeps what it was given (a test's stand-in for an SMS gateway)."""

    sent: ClassVar[list[notify.Notification]] = []

    def __init__(self, settings: object = None) -> None:
        self.settings = settings

    async def send(self, notification: notify.Notification) -> None:
        RecordingSender.sent.append(notification)


async def test_owners_are_reminded_once_before_the_due_day(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    auth_headers: Headers,
) -> None:
    headers = await auth_headers(owner_user)
    await _register(client, headers, serial="REM-1", last_verified_on=days(-350))  # due in ~15 d
    await _register(client, headers, serial="REM-2", last_verified_on=days(-100))  # not yet
    await _register(
        client, headers, serial="REM-3", in_use_since=days(10)
    )  # to be verified before use in 10 days
    config = InstrumentsSettings(registration_reminder_sender=f"{__name__}:RecordingSender")
    RecordingSender.sent.clear()
    async with database.transaction() as session:
        assert await send_reminders(session, settings=config, today=clock.today()) == 2
    async with database.transaction() as session:
        assert await send_reminders(session, settings=config, today=clock.today()) == 0
    bodies = {n.subject.rsplit(" ", 1)[-1]: n.body for n in RecordingSender.sent}
    assert set(bodies) == {"REM-1", "REM-3"}
    assert "首次检定" in bodies["REM-3"]
    assert "周期检定" in bodies["REM-1"]
    assert all(n.recipient_kind == "owner" for n in RecordingSender.sent)


async def test_the_bureau_is_told_daily_of_due_registrations_awaiting_confirmation(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> None:
    """Registrations awaiting the bureau are not in the registry, so the registry's overdue
    warnings cannot name them: the bureau of their region hears of those that fell due, each
    day until it decides; a confirmed, rejected or not yet due registration is not counted."""
    headers = await auth_headers(owner_user)
    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    config = InstrumentsSettings(registration_reminder_sender=f"{__name__}:RecordingSender")
    RecordingSender.sent.clear()
    async with database.transaction() as session:
        assert await send_unconfirmed_due_digest(session, settings=config, today=clock.today()) == 0
    assert RecordingSender.sent == []

    await _register(client, headers, serial="DIG-1")  # never verified: due today
    second = await _register(client, headers, serial="DIG-2")
    await _register(client, headers, serial="DIG-3", last_verified_on=days(-30))  # not yet due
    decided = await _register(client, headers, serial="DIG-4")
    assert (
        await client.post(f"/api/v1/instruments/{decided['id']}/confirm", headers=bureau)
    ).status_code == 200
    async with database.transaction() as session:
        assert await send_unconfirmed_due_digest(session, settings=config, today=clock.today()) == 1
    (told,) = RecordingSender.sent
    assert (told.recipient_kind, told.recipient) == ("regulator", "610402")
    assert "有 2 台已登记、尚待确认" in told.body
    assert f"最早 {clock.today().isoformat()}" in told.body
    assert told.reference == f"unconfirmed-due:610402:{clock.today().isoformat()}"
    assert "DIG-" not in told.body
    assert "农贸市场" not in told.body

    # The next day the bureau hears again of what it has still not decided, and only that.
    rejected = await client.post(
        f"/api/v1/instruments/{second['id']}/reject",
        json={"reason": "出厂编号与铭牌不符"},
        headers=bureau,
    )
    assert rejected.status_code == 200, rejected.text
    RecordingSender.sent.clear()
    tomorrow = clock.today() + timedelta(days=1)
    async with database.transaction() as session:
        assert await send_unconfirmed_due_digest(session, settings=config, today=tomorrow) == 1
    assert "有 1 台已登记、尚待确认" in RecordingSender.sent[0].body


async def test_a_retired_registration_leaves_the_overdue_list_and_warnings(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    issue: Issue,
) -> None:
    """An instrument its owner retired (scrapped, replaced, out of compulsory use) is no longer
    due anywhere: the region's overdue list, its CSV and the daily scan's warnings leave it out,
    while an instrument another owner still has registered stays in."""
    headers = await auth_headers(owner_user)
    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    kept = await _register(client, headers, serial="RET-KEEP")
    gone = await _register(client, headers, serial="RET-GONE")
    swapped = await _register(client, headers, serial="RET-SWAP")
    expired = await _register(client, headers, serial="RET-EXP")
    await issue(
        number="RET-C1",
        serial="RET-EXP",
        manufacturer="上海友声衡器有限公司",
        category_code="scale-pc",
        region_code="610402",
        owner_name="咸阳市秦都区人民路农贸市场有限公司",
        owner_uscc=await owner_uscc(database, owner_user),  # its registered owner: not held
        verified_on=days(-400),
        valid_until=days(-35),
    )
    for r in (kept, gone, swapped, expired):
        confirmed = await client.post(f"/api/v1/instruments/{r['id']}/confirm", headers=bureau)
        assert confirmed.status_code == 200, confirmed.text
    assert (await _overdue_items(client, bureau))["RET-EXP"]["registration_status"] is None
    assert set(await _overdue_serials(client, bureau)) >= {
        "RET-KEEP",
        "RET-GONE",
        "RET-SWAP",
        "RET-EXP",
    }

    for r, change in (
        (gone, {"kind": "retired", "reason": "报废"}),
        (expired, {"kind": "retired", "reason": "停用"}),
        (
            swapped,
            {
                "kind": "replaced",
                "reason": "更换新秤",
                "replacement": registration_body(serial="RET-NEW", last_verified_on=days(-10)),
            },
        ),
    ):
        changed = await client.post(
            f"/api/v1/instruments/{r['id']}/events", json=change, headers=headers
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["status"] == "retired"

    overdue = await _overdue_serials(client, bureau)
    assert "RET-KEEP" in overdue
    assert not {"RET-GONE", "RET-SWAP", "RET-EXP", "RET-NEW"} & set(overdue)
    exported = await client.get(
        "/api/v1/instruments/overdue.csv", params={"region": "610402"}, headers=bureau
    )
    assert exported.status_code == 200, exported.text
    assert "RET-KEEP" in exported.text
    assert "RET-GONE" not in exported.text
    assert "RET-EXP" not in exported.text

    async with database.transaction() as session:
        await scan_overdue(session, settings=CertificatesSettings())
        warned = set(
            (
                await session.scalars(
                    select(instruments.c.serial).join(
                        warnings, warnings.c.instrument_id == instruments.c.id
                    )
                )
            ).all()
        )
    assert "RET-KEEP" in warned
    assert not {"RET-GONE", "RET-SWAP", "RET-EXP"} & warned


async def test_a_stranger_cannot_take_anothers_instrument_off_the_overdue_list(
    client: httpx.AsyncClient,
    owner_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
    issue: Issue,
) -> None:
    """An instrument certified for one owner, now past its validity, is on the bureau's overdue
    list. Anyone with an owner account can register the same serial (it is linked to the
    registry's instrument at once, still pending) and retire it the same minute: a retirement
    nobody confirmed must not take someone else's overdue instrument off the list."""
    await issue(
        number="STR-C1",
        serial="STR-1",
        manufacturer="上海友声衡器有限公司",
        category_code="scale-pc",
        region_code="610402",
        owner_name="咸阳市秦都区某某加油站有限公司",
        verified_on=days(-400),
        valid_until=days(-35),
    )
    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    assert "STR-1" in await _overdue_serials(client, bureau)
    assert (await _overdue_items(client, bureau))["STR-1"]["registration_status"] is None
    stranger = await auth_headers(owner_user)
    claimed = await _register(client, stranger, serial="STR-1")
    # Linked to the registry's instrument at once, unconfirmed: the bureau sees it is so.
    assert (await _overdue_items(client, bureau))["STR-1"]["registration_status"] == "pending"
    exported = await client.get(
        "/api/v1/instruments/overdue.csv", params={"region": "610402"}, headers=bureau
    )
    assert next(line for line in exported.text.splitlines() if "STR-1," in line).endswith(",待确认")
    retired = await client.post(
        f"/api/v1/instruments/{claimed['id']}/events",
        json={"kind": "retired", "reason": "报废"},
        headers=stranger,
    )
    assert retired.status_code == 200, retired.text
    assert retired.json()["status"] == "retired"
    assert "STR-1" in await _overdue_serials(client, bureau)


async def test_a_file_is_read_and_checked_outside_the_event_loop(
    client: httpx.AsyncClient,
    owner_user: User,
    auth_headers: Headers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Up to 20 MB of reading and checking: in the event loop, one owner's workbook held every
    other request of the process for as long as it took."""
    import threading

    from api.instruments import imports

    read_in: list[int] = []
    read_rows = imports.read_rows

    def recorded(*args: Any, **kwargs: Any) -> Any:
        read_in.append(threading.get_ident())
        return read_rows(*args, **kwargs)

    monkeypatch.setattr(imports, "read_rows", recorded)
    row = "电子计价秤,ACS-15,T-1,上海友声衡器有限公司,1 号摊位,贸易结算,,2026-01-05,"
    response = await client.post(
        "/api/v1/instruments/import",
        files={"file": ("登记.csv", (CSV_HEADER + row + "\n").encode("utf-8"))},
        headers=await auth_headers(owner_user),
    )
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 1
    assert read_in
    assert threading.get_ident() not in read_in
