"""The portal pages: lookup, the institution back office (import report, revoke), the
regulator's overdue list; logged in with the portal's cookie."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx

from portal.accounts.models import Role, User
from tests.api.certificates.support import Issue, days
from tests.support import TEST_PASSWORD, assert_problem


async def _login(client: httpx.AsyncClient, user: User) -> None:
    response = await client.post(
        "/login", data={"email": user.email, "password": TEST_PASSWORD, "next": "/account"}
    )
    assert response.status_code == 303, response.text


async def test_lookup_page(client: httpx.AsyncClient, issue: Issue) -> None:
    await issue(number="W-1", serial="WEB-1", owner_name="赵六", owner_uscc=None)
    page = await client.get("/certificates", params={"q": "W-1"})
    assert 'id="status-badge" data-status="valid"' in page.text
    assert "合格有效" in page.text
    assert "赵*" in page.text and "赵六" not in page.text  # noqa: PT018
    by_serial = await client.get("/certificates", params={"q": "WEB-1"})
    assert "W-1" in by_serial.text
    nothing = await client.get("/certificates", params={"q": "NOTHING"})
    assert "查无此证" in nothing.text


async def test_institution_back_office_import_and_revoke(
    client: httpx.AsyncClient, institution_user: User
) -> None:
    assert (await client.get("/backoffice/certificates")).status_code == 303  # to the login
    await _login(client, institution_user)
    csv_text = (
        "证书编号,器具类别,出厂编号,送检单位,行政区划代码,检定日期\n"
        f"B-1,电子计价秤,BO-1,咸阳市某超市有限公司,610402,{days(-3)}\n"
        f"B-2,电子计价秤,BO-2,咸阳市某超市有限公司,000000,{days(-3)}\n"
    )
    page = await client.post(
        "/backoffice/certificates/import", files={"file": ("c.csv", csv_text.encode())}
    )
    assert page.status_code == 200
    assert 'id="report-created">1<' in page.text
    assert 'id="report-failed">1<' in page.text
    assert "行政区划代码不存在" in page.text
    revoked = await client.post("/backoffice/certificates/B-1/revoke", data={"reason": "录入错误"})
    assert "证书 B-1 已注销" in revoked.text
    assert (await client.get("/api/v1/certificates/B-1")).json()["status"] == "revoked"


async def test_an_institution_issues_one_certificate_from_a_form(
    client: httpx.AsyncClient, institution_user: User, make_user: Callable[..., Awaitable[User]]
) -> None:
    """Issue 14: institutions had no form to issue one certificate (only the API and files)."""
    await _login(client, institution_user)
    office = await client.get("/backoffice/certificates")
    assert 'href="/backoffice/certificates/new"' in office.text
    form = await client.get("/backoffice/certificates/new")
    assert form.status_code == 200
    assert "电子计价秤" in form.text  # the catalogue, by name
    # Missing and wrong fields: each says what is wrong under the field, in Chinese; nothing saved.
    refused = await client.post(
        "/backoffice/certificates/new",
        data={"number": "F-1", "category_code": "scale-pc", "serial": "", "owner_name": "某超市",
              "region_code": "610402", "verified_on": "2026-13-45"},
    )  # fmt: skip
    assert refused.status_code == 422
    assert 'id="e-serial"' in refused.text
    assert "请填写出厂编号" in refused.text
    assert "检定日期不是有效日期" in refused.text
    assert 'value="F-1"' in refused.text  # what was typed is kept
    assert (await client.get("/api/v1/certificates/F-1")).status_code == 404
    unknown_region = await client.post(
        "/backoffice/certificates/new",
        data={"number": "F-1", "category_code": "scale-pc", "serial": "S-1",
              "owner_name": "某超市", "region_code": "999999", "verified_on": days(-2)},
    )  # fmt: skip
    assert unknown_region.status_code == 422
    assert 'id="e-region_code"' in unknown_region.text
    issued = await client.post(
        "/backoffice/certificates/new",
        data={"number": "f-1", "category_code": "scale-pc", "serial": "S-1",
              "owner_name": "咸阳市某超市有限公司", "region_code": "610402",
              "verified_on": days(-2), "conclusion": "合格"},
        follow_redirects=True,
    )  # fmt: skip
    assert issued.status_code == 200
    assert "证书 F-1 已登记" in issued.text
    assert (await client.get("/api/v1/certificates/F-1")).json()["status"] == "valid"
    # A link cannot make the back office announce a certificate this institution did not issue.
    bait = await client.get("/backoffice/certificates", params={"issued": "假证书 已作废"})
    assert "假证书" not in bait.text
    citizen = await make_user(Role.citizen)
    await _login(client, citizen)
    assert (await client.get("/backoffice/certificates/new")).status_code == 403


async def test_regulator_overdue_page(
    client: httpx.AsyncClient,
    issue: Issue,
    make_user: Callable[..., Awaitable[User]],
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    await issue(number="OD-1", serial="LATE-9", verified_on=days(-300), valid_until=days(-9))
    citizen = await make_user(Role.citizen)
    await _login(client, citizen)
    assert (await client.get("/backoffice/overdue")).status_code == 403
    regulator = await make_user(Role.regulator, region="610400")
    await _login(client, regulator)
    page = await client.get("/backoffice/overdue")
    assert 'id="overdue-total">1<' in page.text
    assert "LATE-9" in page.text
    assert '<td data-label="逾期天数">9 天</td>' in page.text
    # The filter form sent with its fields cleared is the default list, not a 422.
    cleared = await client.get("/backoffice/overdue", params={"region": "", "within_days": ""})
    assert cleared.status_code == 200
    assert "LATE-9" in cleared.text
    assert "陕西省咸阳市" in page.text  # regions by name, not 610400
    # Issue 14: a certificate revoked today is not "剩 0 天" (as if still valid): it is due now.
    await issue(number="OD-2", serial="GONE-1", valid_until=days(200))
    revoked = await client.post(
        "/api/v1/certificates/OD-2/revoke",
        json={"reason": "器具报废"},
        headers=await auth_headers(institution_user),
    )
    assert revoked.status_code == 200, revoked.text
    page = await client.get("/backoffice/overdue")
    assert "GONE-1" in page.text
    assert "剩 0 天" not in page.text
    assert "今天起" in page.text


async def test_the_revoke_form_bounds_the_number_like_the_api(
    client: httpx.AsyncClient, institution_user: User
) -> None:
    await _login(client, institution_user)
    response = await client.post(
        f"/backoffice/certificates/{'B' * 65}/revoke", data={"reason": "录入错误"}
    )
    assert_problem(response, 422, "validation_error")
