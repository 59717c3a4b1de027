"""Personal data is kept no longer than needed (个人信息保护法 第十九条): a finished case's
submitter data is erased after the retention period; the case and its audit trail stay."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlmodel import col, select

from api.complaints.models import Case, CaseParty, CaseStatus
from api.complaints.retention import erase_expired_personal_data
from portal import clock
from portal.audit.models import AuditEntry
from portal.db import Database
from tests.api.complaints.support import complaint_body


async def test_a_finished_case_loses_its_personal_data_after_the_retention_period(
    client: httpx.AsyncClient, database: Database
) -> None:
    finished = (await client.post("/api/v1/cases", json=complaint_body())).json()
    still_open = (await client.post("/api/v1/cases", json=complaint_body())).json()
    recent = (await client.post("/api/v1/cases", json=complaint_body())).json()
    now = clock.now()
    async with database.transaction() as session:
        cases = {c.tracking_number: c for c in await session.scalars(select(Case))}
        for number, closed_days_ago in ((finished, 400), (recent, 10)):
            case = cases[number["tracking_number"]]
            case.status = CaseStatus.closed
            case.closed_at = now - timedelta(days=closed_days_ago)
        cases[still_open["tracking_number"]].updated_at = now - timedelta(days=999)

    async with database.transaction() as session:
        assert await erase_expired_personal_data(session, now=now, retention_days=365) == 1
    async with database.transaction() as session:
        # Counting again erases nothing more: the job may run any number of times.
        assert await erase_expired_personal_data(session, now=now, retention_days=365) == 0
        by_number = {c.tracking_number: c for c in await session.scalars(select(Case))}
        parties = {
            c.tracking_number: list(
                await session.scalars(select(CaseParty).where(col(CaseParty.case_id) == c.id))
            )
            for c in by_number.values()
        }
        audit = list(
            await session.scalars(
                select(AuditEntry).where(AuditEntry.action == "case.personal_data.erase")
            )
        )
    gone = parties[finished["tracking_number"]]
    assert gone
    assert all((p.name, p.phone, p.phone_hash, p.id_number, p.address, p.email) == (None,) * 6
               for p in gone)  # fmt: skip
    assert by_number[finished["tracking_number"]].personal_data_erased_at is not None
    assert by_number[finished["tracking_number"]].description  # the matter itself stays
    for kept in (still_open, recent):  # open, or finished within the period: untouched
        assert [p.name for p in parties[kept["tracking_number"]]] == ["张三"]
    assert [str(a.entity_id) for a in audit] == [str(by_number[finished["tracking_number"]].id)]


async def test_the_form_says_how_personal_data_is_used_and_for_how_long(
    client: httpx.AsyncClient,
) -> None:
    page = (await client.get("/complaints/new")).text
    assert "您的个人信息如何使用" in page
    assert "保存 3 年" in page
    assert "不向被投诉人或社会公开" in page
