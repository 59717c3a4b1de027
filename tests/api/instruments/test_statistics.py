"""Regional statistics for regulators: the SQL that counts by status agrees with the status the
registrations' pages compute one instrument at a time, on data with every status; the region
rule; the rates, the institutions' times and the months; CSV and XLSX."""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from typing import Any

import httpx
from openpyxl import load_workbook
from sqlalchemy import select

from api.instruments import statistics
from api.instruments.models import (
    ApplicationMode,
    ApplicationStatus,
    RegisteredInstrument,
    VerificationApplication,
)
from api.instruments.review import enter_due_registrations, read_models
from portal import clock
from portal.accounts.models import Organization, Role, User
from portal.db import Database
from tests.api.certificates.support import Issue, days
from tests.api.instruments.support import registration_body
from tests.api.instruments.test_pages import _login
from tests.support import assert_problem

Headers = Callable[[User], Awaitable[dict[str, str]]]
MAKER = "上海友声衡器有限公司"
EVERY_STATUS = {
    "valid",
    "expiring",
    "expired",
    "replace",
    "failed",
    "revoked",
    "none",
    "not_due",
    "retired",
    "rejected",
}


async def _every_status(
    client: httpx.AsyncClient,
    owner: dict[str, str],
    bureau: dict[str, str],
    lab: dict[str, str],
    issue: Issue,
) -> dict[str, str]:
    """Registrations in 秦都区 in every state, as demo data has them: serial → expected state."""
    expected: dict[str, str] = {}

    async def register(serial: str, state: str, confirm: bool = True, **overrides: Any) -> str:
        response = await client.post(
            "/api/v1/instruments",
            json=registration_body(serial=serial, manufacturer=MAKER, **overrides),
            headers=owner,
        )
        assert response.status_code == 201, response.text
        rid: str = response.json()["id"]
        if confirm:
            done = await client.post(f"/api/v1/instruments/{rid}/confirm", headers=bureau)
            assert done.status_code == 200, done.text
        expected[serial] = state
        return rid

    async def certify(serial: str, category: str = "scale-pc", **overrides: Any) -> None:
        await issue(
            number=f"ST-{serial}",
            serial=serial,
            manufacturer=MAKER,
            category_code=category,
            region_code="610402",
            **overrides,
        )

    # From the registry's certificates.
    for serial, state, category, attributes, cert in (
        ("S-VALID", "valid", "scale-pc", {}, {"valid_until": days(300)}),
        ("S-EXPIRING", "expiring", "scale-pc", {}, {"valid_until": days(12)}),
        ("S-EXPIRED", "expired", "scale-pc", {}, {"verified_on": days(-360), "valid_until": days(-3)}),
        ("S-REPLACE", "replace", "water-meter", {"dn": 20},
         {"verified_on": days(-2000), "valid_until": days(-1)}),
        ("S-FAILED", "failed", "scale-pc", {}, {"valid_until": None, "conclusion": "不合格",
                                                 "kind": "notice"}),
        ("S-REVOKED", "revoked", "scale-pc", {}, {"valid_until": days(200)}),
    ):  # fmt: skip
        await certify(serial, category, **cert)
        await register(serial, state, category_code=category, attributes=attributes)
    revoked = await client.post(
        "/api/v1/certificates/ST-S-REVOKED/revoke", json={"reason": "数据录入错误"}, headers=lab
    )
    assert revoked.status_code == 200, revoked.text
    # From the owner's declaration (no certificate in the registry).
    await register("D-VALID", "valid", last_verified_on=days(-30))
    await register("D-EXPIRED", "expired", last_verified_on=days(-400))
    await register(
        "D-REPLACE",
        "replace",
        category_code="water-meter",
        attributes={"dn": 20},
        last_verified_on=days(-2300),
        in_use_since=days(-2300),
    )
    await register("D-NONE", "none")
    await register("D-NONE-PENDING", "none", confirm=False)
    await register("D-NOT-DUE", "not_due", in_use_since=days(20))
    retired = await register("D-RETIRED", "retired")
    gone = await client.post(
        f"/api/v1/instruments/{retired}/events", json={"kind": "retired"}, headers=owner
    )
    assert gone.status_code == 200, gone.text
    rejected = await register("D-REJECTED", "rejected", confirm=False)
    sent_back = await client.post(
        f"/api/v1/instruments/{rejected}/reject", json={"reason": "编号不符"}, headers=bureau
    )
    assert sent_back.status_code == 200, sent_back.text
    return expected


async def test_sql_counts_equal_the_status_each_registration_shows(
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
    expected = await _every_status(client, owner, bureau, lab, issue)
    async with database.transaction() as session:
        await enter_due_registrations(session, today=clock.today())
    async with database.transaction() as session:
        rows = list((await session.scalars(select(RegisteredInstrument))).all())
        shown = {r.serial: r.verification_status for r in await read_models(session, rows)}
        counted = await statistics.status_counts(session, region="610400", today=clock.today())
    assert shown == expected  # the data covers every state, as the pages show them
    assert set(shown.values()) == EVERY_STATUS
    by_state: Counter[str] = Counter()
    for row in counted:
        by_state[row.state] += row.count
    assert by_state == Counter(shown.values())

    # The API: the region and below, grouped into the six states, with the rates.
    response = await client.get("/api/v1/instrument-statistics", headers=bureau)
    assert response.status_code == 200, response.text
    stats = response.json()
    assert stats["region_code"] == "610402"
    groups = {s["code"]: s["count"] for s in stats["by_status"]}
    assert groups == {
        "valid": 2,
        "expiring": 1,
        "expired": 4,
        "unverified": 3,
        "failed": 2,
        "retired": 1,
    }
    assert [s["name"] for s in stats["by_status"]] == [
        "有效",
        "即将到期",
        "已过期",
        "未检定",
        "不合格",
        "已注销",
    ]
    assert stats["registered"] == 13
    assert stats["rejected"] == 1
    assert stats["in_use"] == 12
    assert stats["due"] == 11  # not 未到检定期
    assert stats["verification_rate"] == round(3 / 11, 4)
    assert stats["overdue_rate"] == round(6 / 11, 4)  # expired 2, to replace 2, never 2
    water = next(c for c in stats["categories"] if c["category_code"] == "water-meter")
    assert water["total"] == 2
    assert water["counts"]["expired"] == 2
    assert len(stats["months"]) == 12
    this_month = stats["months"][-1]
    assert this_month["month"] == clock.today().strftime("%Y-%m")
    assert this_month["registered"] == 13  # not the rejected one
    assert this_month["retired"] == 1

    # The city's bureau sees the same; the province's too.
    city = await auth_headers(await make_user(Role.regulator, region="610400"))
    assert (await client.get("/api/v1/instrument-statistics", headers=city)).json()[
        "registered"
    ] == 13
    assert (
        await client.get("/api/v1/instrument-statistics", params={"region": "610000"}, headers=city)
    ).status_code == 403


async def test_only_the_region_and_below_and_the_exports(
    client: httpx.AsyncClient,
    database: Database,
    owner_user: User,
    institution_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> None:
    owner = await auth_headers(owner_user)
    created = await client.post(
        "/api/v1/instruments",
        json=registration_body(serial="STAT-1"),
        headers=owner,
    )
    assert created.status_code == 201, created.text
    other = await auth_headers(await make_user(Role.regulator, region="610102"))
    assert_problem(
        await client.get(
            "/api/v1/instrument-statistics", params={"region": "610402"}, headers=other
        ),
        403,
    )
    assert (await client.get("/api/v1/instrument-statistics", headers=other)).json()[
        "registered"
    ] == 0
    assert_problem(await client.get("/api/v1/instrument-statistics", headers=owner), 403)
    lab = await auth_headers(institution_user)
    assert_problem(await client.get("/api/v1/instrument-statistics.csv", headers=lab), 403)
    assert_problem(
        await client.get("/api/v1/instrument-statistics", params={"region": "1"}, headers=other),
        422,
    )
    admin = await auth_headers(await make_user(Role.admin, region="610000"))
    assert_problem(
        await client.get(
            "/api/v1/instrument-statistics", params={"region": "999999"}, headers=admin
        ),
        422,
    )

    # Applications: the days from application to result, by institution, against the limit.
    async with database.transaction() as session:
        lab_org = await session.get(Organization, institution_user.organization_id)
        owner_org = await session.get(Organization, owner_user.organization_id)
        assert lab_org is not None
        assert owner_org is not None
        start = datetime.combine(clock.today() - timedelta(days=40), time(10), clock.SHANGHAI)
        for made, took, status in (
            (start, 5, ApplicationStatus.completed),
            (start, 25, ApplicationStatus.completed),
            (start, None, ApplicationStatus.accepted),  # open 40 days: past the 20-day limit
            (start + timedelta(days=39), None, ApplicationStatus.submitted),
            (start, None, ApplicationStatus.refused),
        ):
            session.add(
                VerificationApplication(
                    owner_id=owner_org.id,
                    institution_id=lab_org.id,
                    region_code="610402",
                    mode=ApplicationMode.in_lab,
                    preferred_on=clock.today(),
                    status=status,
                    created_at=made,
                    completed_at=None if took is None else made + timedelta(days=took),
                )
            )
        lab_code = lab_org.code
    admin_view = (
        await client.get(
            "/api/v1/instrument-statistics", params={"region": "610402"}, headers=admin
        )
    ).json()
    assert admin_view["registered"] == 1
    [row] = admin_view["institutions"]
    assert row["institution_code"] == lab_code
    assert row["applications"] == 5
    assert row["completed"] == 2
    assert row["average_days"] == 15.0
    assert row["longest_days"] == 25
    assert row["within_limit"] == 1
    assert row["within_limit_rate"] == 0.5
    assert row["open"] == 2
    assert row["open_past_limit"] == 1

    csv_response = await client.get(
        "/api/v1/instrument-statistics.csv", params={"region": "610402"}, headers=admin
    )
    assert csv_response.status_code == 200
    assert csv_response.headers["content-type"].startswith("text/csv")
    assert "按检定机构" in csv_response.text
    assert lab_code in csv_response.text
    xlsx = await client.get(
        "/api/v1/instrument-statistics.xlsx", params={"region": "610402"}, headers=admin
    )
    assert xlsx.status_code == 200
    book = load_workbook(io.BytesIO(xlsx.content), read_only=True)
    assert book.sheetnames == ["概况", "按器具类别", "按检定机构", "按月趋势"]
    institutions = [list(r) for r in book["按检定机构"].iter_rows(values_only=True)]
    assert institutions[1][0] == lab_code
    assert institutions[1][2] == 5


async def test_the_regulators_statistics_page(
    client: httpx.AsyncClient,
    owner_user: User,
    make_user: Callable[..., Awaitable[User]],
    auth_headers: Headers,
) -> None:
    owner = await auth_headers(owner_user)
    for n in range(3):
        created = await client.post(
            "/api/v1/instruments", json=registration_body(serial=f"PAGE-{n}"), headers=owner
        )
        assert created.status_code == 201, created.text
    assert (await client.get("/backoffice/instrument-statistics")).status_code == 303  # login
    await _login(client, owner_user)
    assert (await client.get("/backoffice/instrument-statistics")).status_code == 403
    await client.post("/logout")
    client.cookies.clear()
    await _login(client, await make_user(Role.regulator, region="610400"))
    page = await client.get("/backoffice/instrument-statistics")
    assert page.status_code == 200
    assert "辖区强检器具统计" in page.text
    assert '<span class="stats-figure" id="stats-registered">3</span>' in page.text
    assert "电子计价秤" in page.text
    assert "<svg" in page.text
    assert 'href="/backoffice/instrument-statistics?region=610402"' in page.text  # 秦都区
    # Another region's code: refused politely, the own region shown instead.
    other = await client.get("/backoffice/instrument-statistics", params={"region": "610100"})
    assert other.status_code == 200
    assert "只能查看本辖区及下级区划的统计" in other.text
    assert "610400" in other.text
