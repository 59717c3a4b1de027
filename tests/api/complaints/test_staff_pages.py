"""The handling staff's pages: the queue in the order work is done, a case in words a regulator
reads (issue 14: raw keys, English event names and region codes were shown)."""

from __future__ import annotations

import re
from datetime import date

import httpx
from sqlmodel import select

from api.complaints.deadlines import flag_overdue
from api.complaints.models import Case
from portal import clock
from portal.accounts.models import Role, User
from portal.db import Database
from tests.api.complaints.support import complaint_body, report_body
from tests.support import TEST_PASSWORD


async def _login(client: httpx.AsyncClient, user: User) -> None:
    response = await client.post(
        "/login", data={"email": user.email, "password": TEST_PASSWORD, "next": "/account"}
    )
    assert response.status_code == 303, response.text


async def test_the_queue_lists_overdue_first_then_by_deadline(
    client: httpx.AsyncClient, database: Database, make_user
) -> None:
    report = (await client.post("/api/v1/cases", json=report_body())).json()
    complaint = (await client.post("/api/v1/cases", json=complaint_body())).json()
    late = (
        await client.post("/api/v1/cases", json=complaint_body(description="又一起缺斤短两。"))
    ).json()
    async with database.transaction() as session:
        overdue = await session.scalar(
            select(Case).where(Case.tracking_number == late["tracking_number"])
        )
        assert overdue is not None
        overdue.acceptance_due = date(2020, 1, 2)  # long past
        await flag_overdue(session, today=clock.today())
    await _login(client, await make_user(Role.regulator, region="610400"))
    page = await client.get("/staff/complaints")
    assert page.status_code == 200
    listed = re.findall(r"JL\d{8}-\d{6}", page.text)
    # Overdue first; then the complaint (acceptance due in 7 working days) before the report
    # (verification due in 15).
    assert listed == [
        late["tracking_number"],
        complaint["tracking_number"],
        report["tracking_number"],
    ]
    assert "秦都区" in page.text  # the region by name


async def test_a_case_reads_in_words_not_keys(
    client: httpx.AsyncClient, database: Database, make_user
) -> None:
    created = (await client.post("/api/v1/cases", json=complaint_body())).json()
    async with database.transaction() as session:
        case_id = await session.scalar(
            select(Case.id).where(Case.tracking_number == created["tracking_number"])
        )
    await _login(client, await make_user(Role.regulator, region="610400"))
    page = (await client.get(f"/staff/complaints/{case_id}")).text
    for words in ("所购商品", "排骨", "商家所称重量（克）", "1000", "已提交", "陕西省咸阳市秦都区"):
        assert words in page, words
    for key in ("claimed_quantity", "1000.0", "<strong>submitted</strong>", ">610402<"):
        assert key not in page, key
    # 暂行办法 第九条: a complaint gives the complainant's 通讯地址; without it staff are told to
    # record it.
    assert 'id="address-missing"' in page
    with_address = complaint_body()
    with_address["complainant"] = {
        **with_address["complainant"],
        "address": "咸阳市秦都区人民路 1 号",
    }
    second = (await client.post("/api/v1/cases", json=with_address)).json()
    async with database.transaction() as session:
        second_id = await session.scalar(
            select(Case.id).where(Case.tracking_number == second["tracking_number"])
        )
    second_page = (await client.get(f"/staff/complaints/{second_id}")).text
    assert "咸阳市秦都区人民路 1 号" in second_page
    assert 'id="address-missing"' not in second_page
    # Only the actions a received complaint allows, none chosen in advance.
    offered = re.findall(r'<details class="case-action" id="action-(\w+)"', page)
    assert offered[:2] == ["accept", "reject"]
    assert "close" not in offered
    assert "reopen" not in offered
    assert " open" not in re.findall(r'<details class="case-action"[^>]*>', page)[0]
    done = await client.post(
        f"/staff/complaints/{case_id}/actions", data={"action": "accept"}, follow_redirects=True
    )
    assert "“受理”已完成。" in done.text
    assert "已受理" in done.text
