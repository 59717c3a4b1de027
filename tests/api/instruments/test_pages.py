"""The owner's page (register one, upload a file, see states) and the bureau's review page,
logged in with the portal's cookie."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx

from portal import clock
from portal.accounts.models import Organization, Role, User
from portal.db import Database
from tests.support import TEST_PASSWORD


async def _login(client: httpx.AsyncClient, user: User) -> None:
    response = await client.post(
        "/login", data={"email": user.email, "password": TEST_PASSWORD, "next": "/account"}
    )
    assert response.status_code == 303, response.text


async def test_owner_registers_on_the_page_and_the_bureau_confirms(
    client: httpx.AsyncClient, owner_user: User, make_user: Callable[..., Awaitable[User]]
) -> None:
    assert (await client.get("/owner/instruments")).status_code == 303  # to the login
    await _login(client, owner_user)
    page = await client.get("/owner/instruments")
    assert page.status_code == 200
    assert "强检器具登记" in page.text
    assert '<option value="water-meter"' in page.text

    missing_dn = await client.post(
        "/owner/instruments",
        data={"category_code": "water-meter", "serial": "P-1", "usage_area": "贸易结算"},
    )
    assert missing_dn.status_code == 422
    assert 'id="e-dn"' in missing_dn.text
    assert "公称口径" in missing_dn.text

    done = await client.post(
        "/owner/instruments",
        data={
            "category_code": "water-meter",
            "serial": "P-1",
            "usage_area": "贸易结算",
            "dn": "20",
        },
    )
    assert done.status_code == 303
    listing = await client.get(done.headers["location"])
    assert "出厂编号为 P-1 的器具已登记" in listing.text
    assert "未检定" in listing.text

    upload = await client.post(
        "/owner/instruments/import",
        files={
            "file": (
                "a.csv",
                "器具类别,出厂编号,用途\n电子计价秤,P-2,贸易结算\n水表,P-3,贸易结算\n".encode(
                    "gb18030"
                ),
            )
        },
    )
    assert upload.status_code == 200
    assert "新登记 1 台" in upload.text
    assert "第 3 行" in upload.text

    bureau = await make_user(Role.regulator, region="610402")
    await _login(client, bureau)
    queue = await client.get("/backoffice/registrations")
    assert queue.status_code == 200
    assert 'id="registrations-total">2<' in queue.text
    registration_id = queue.text.split('id="r-', 1)[1].split('"', 1)[0]
    confirmed = await client.post(
        f"/backoffice/registrations/{registration_id}", data={"decision": "confirm"}
    )
    assert confirmed.status_code == 303
    queue = await client.get("/backoffice/registrations")
    assert 'id="registrations-total">1<' in queue.text
    assert (await client.get("/owner/instruments")).status_code == 403


async def test_owner_applies_on_the_page_and_the_institution_handles_it(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    institution_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    owner = await auth_headers(owner_user)
    bureau = await auth_headers(await make_user(Role.regulator, region="610402"))
    created = await client.post(
        "/api/v1/instruments",
        json={"category_code": "scale-pc", "serial": "PG-1", "usage_area": "贸易结算"},
        headers=owner,
    )
    registration_id = created.json()["id"]
    await client.post(f"/api/v1/instruments/{registration_id}/confirm", headers=bureau)

    await _login(client, owner_user)
    page = await client.get("/owner/applications")
    assert page.status_code == 200
    assert f'value="{registration_id}"' in page.text
    async with database.transaction() as session:
        org = await session.get(Organization, institution_user.organization_id)
        assert org is not None
        code = org.code
    assert f'<option value="{code}">' in page.text
    incomplete = await client.post("/owner/applications", data={"institution_code": code})
    assert incomplete.status_code == 422
    sent = await client.post(
        "/owner/applications",
        data={
            "institution_code": code,
            "registration_ids": registration_id,
            "preferred_on": clock.today().isoformat(),
            "mode": "in_lab",
        },
    )
    assert sent.status_code == 303
    assert "检定申请已提交" in (await client.get(sent.headers["location"])).text

    await _login(client, institution_user)
    queue = await client.get("/backoffice/applications")
    assert queue.status_code == 200
    assert 'id="applications-total">1<' in queue.text
    application_id = queue.text.split('id="a-', 1)[1].split('"', 1)[0]
    accepted = await client.post(
        f"/backoffice/applications/{application_id}",
        data={"action": "accept", "appointment_on": clock.today().isoformat(), "staff": "陈工"},
    )
    assert "done=accept" in accepted.headers["location"]
    queue = await client.get("/backoffice/applications?status=accepted")
    assert "已预约" in queue.text
    # Rescheduling starts from the appointment as it is: the staff need not be typed again.
    assert f'id="s-{application_id}" type="text" name="staff" maxlength="100" value="陈工"' in (
        queue.text
    )
    # A refused action shows why at its application and keeps what was typed, in the same view.
    yesterday = (clock.today() - timedelta(days=1)).isoformat()
    refused = await client.post(
        f"/backoffice/applications/{application_id}",
        data={
            "action": "reschedule",
            "appointment_on": yesterday,
            "address": "二号楼检定室",
            "staff": "陈工、周工",
            "view": "accepted",
        },
    )
    assert refused.status_code == 422
    assert f'id="failed-{application_id}"' in refused.text
    assert "预约日期不能早于今天" in refused.text
    assert f'value="{yesterday}"' in refused.text
    assert 'value="二号楼检定室"' in refused.text
    assert 'value="陈工、周工"' in refused.text
    assert 'name="view" value="accepted"' in refused.text
    no_reason = await client.post(
        f"/backoffice/applications/{application_id}", data={"action": "refuse", "reason": "x"}
    )
    assert no_reason.status_code == 422
    assert "请写明拒绝原因" in no_reason.text
    moved = await client.post(
        f"/backoffice/applications/{application_id}",
        data={
            "action": "reschedule",
            "appointment_on": clock.today().isoformat(),
            "staff": "周工",
            "view": "accepted",
        },
    )
    assert moved.status_code == 303
    assert moved.headers["location"].endswith(f"&status=accepted#a-{application_id}")


async def test_owner_moves_and_retires_on_the_page_and_the_bureau_sees_each_event(
    client: httpx.AsyncClient, owner_user: User, make_user: Callable[..., Awaitable[User]]
) -> None:
    """The moves and retirements the bureau must see as events were recordable only through the
    API, and the bureau's page showed no events at all."""
    await _login(client, owner_user)
    for serial in ("EV-1", "EV-2"):
        sent = await client.post(
            "/owner/instruments",
            data={
                "category_code": "scale-pc",
                "serial": serial,
                "usage_area": "贸易结算",
                "location": "1 号摊位",
            },
        )
        assert sent.status_code == 303, sent.text
    page = (await client.get("/owner/instruments")).text
    ids = {
        serial: page.split(serial, 1)[0].rsplit('id="r-', 1)[1].split('"', 1)[0]
        for serial in ("EV-1", "EV-2")
    }
    assert f'action="/owner/instruments/{ids["EV-1"]}/change"' in page
    unnamed = await client.post(
        f"/owner/instruments/{ids['EV-1']}/change", data={"kind": "moved", "location": " "}
    )
    assert unnamed.status_code == 422
    assert "变更位置须填写新的安装位置" in unnamed.text
    moved = await client.post(
        f"/owner/instruments/{ids['EV-1']}/change", data={"kind": "moved", "location": "7 号摊位"}
    )
    assert moved.status_code == 303
    assert "已记录变更" in (await client.get(moved.headers["location"])).text
    retired = await client.post(
        f"/owner/instruments/{ids['EV-2']}/change", data={"kind": "retired", "reason": "损坏报废"}
    )
    assert retired.status_code == 303
    page = (await client.get("/owner/instruments")).text
    assert "7 号摊位" in page
    assert f'action="/owner/instruments/{ids["EV-2"]}/change"' not in page  # retired: no more

    client.cookies.clear()
    await _login(client, await make_user(Role.regulator, region="610400"))
    bureau = (await client.get("/backoffice/registrations?status=")).text
    assert "变更位置：1 号摊位 → 7 号摊位" in bureau
    assert "注销（损坏报废）" in bureau
    # Another owner cannot change them.
    client.cookies.clear()
    await _login(client, await make_user(Role.owner, region="610402"))
    stranger = await client.post(
        f"/owner/instruments/{ids['EV-1']}/change", data={"kind": "moved", "location": "别处"}
    )
    assert stranger.status_code == 404


async def test_superscript_and_full_width_digits_in_the_address_are_no_server_error(
    client: httpx.AsyncClient,
    owner_user: User,
    institution_user: User,
    make_user: Callable[..., Awaitable[User]],
) -> None:
    """ "²" and "６" are digits to str.isdigit and not to int(): ?page=², ?months=² answered 500
    (attack review). Each page reads them as the default instead."""
    regulator = await make_user(Role.regulator, region="610400")
    admin = await make_user(Role.admin)
    asked = [
        (
            owner_user,
            ["/owner/instruments?page=²", "/owner/plan?months=²", "/owner/plan?months=１"],
        ),
        (institution_user, ["/backoffice/plan?months=²"]),
        (regulator, ["/backoffice/instrument-statistics?region=６１０４００"]),
        (admin, ["/admin/calendar?year=²０２７"]),
    ]
    for user, urls in asked:
        client.cookies.clear()
        await _login(client, user)
        for url in urls:
            response = await client.get(url)
            assert response.status_code == 200, (url, response.status_code)
    client.cookies.clear()
    await _login(client, admin)
    typed = await client.post("/admin/calendar", data={"text": "通知", "year": "²"})
    assert typed.status_code == 422  # the form's own message: 年份应为四位数字
    assert "年份应为四位数字" in typed.text
