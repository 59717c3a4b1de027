"""The legal documents a case produces, as PDFs with an embedded CJK font: 受理通知书 and
不予受理告知书 (投诉举报处理暂行办法 第十四条/第十五条), 终止调解决定书 (第二十一条), 举报处理结果
告知书 (第三十一条). The text is read back from the PDF; only the submitter and the handling
regulator of the case's region may download one."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pypdfium2 as pdfium

from api.complaints.documents import NO_LINE_START, break_lines
from api.complaints.settings import ComplaintsSettings
from portal import clock
from portal.accounts.models import Role
from portal.db import Database
from tests.api.complaints.support import complaint_body, report_body
from tests.api.complaints.test_staff_pages import _login
from tests.api.complaints.test_workflow import Staff, case_id, submit
from tests.support import assert_problem


def pdf_text(body: bytes) -> str:
    """Every page's text, without the spaces a justified line may read back with."""
    assert body.startswith(b"%PDF-")
    document = pdfium.PdfDocument(body)
    try:
        pages = [document[i].get_textpage().get_text_range() for i in range(len(document))]
    finally:
        document.close()
    return "".join("".join(pages).split())


def chinese_day(day: date | str) -> str:
    if isinstance(day, str):
        day = date.fromisoformat(day)
    return f"{day.year}年{day.month}月{day.day}日"


def received_day(created: dict[str, Any], tracked: dict[str, Any]) -> str:
    return chinese_day(clock.local_date(datetime.fromisoformat(tracked["received_at"])))


async def tracked(client: httpx.AsyncClient, created: dict[str, Any]) -> dict[str, Any]:
    response = await client.get(
        f"/api/v1/cases/{created['tracking_number']}",
        headers={"X-Case-Token": created["access_token"]},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def download(client: httpx.AsyncClient, created: dict[str, Any], doc_id: str) -> str:
    response = await client.get(
        f"/api/v1/cases/{created['tracking_number']}/documents/{doc_id}",
        headers={"X-Case-Token": created["access_token"]},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert "no-store" in response.headers["cache-control"]
    return pdf_text(response.content)


async def test_acceptance_notice_cites_article_14_and_only_the_parties_download_it(
    client: httpx.AsyncClient, database: Database, make_user, auth_headers
) -> None:
    """投诉举报处理暂行办法 第十四条: the complainant is told of the acceptance decision — the
    受理通知书 names the case, the dates, the mediation limit and the article; another person
    (no code, another case's code, another region's regulator, an administrator) cannot have it."""
    created = await submit(client, complaint_body())
    other = await submit(client, complaint_body(description="另一起投诉。"))
    regulator = await make_user(Role.regulator, region="610400")
    cid = await case_id(database, created["tracking_number"])
    staff = Staff(client, await auth_headers(regulator), cid)
    view = await staff.ok("accept", body="将于五个工作日内联系双方。")
    case = await tracked(client, created)
    [doc] = case["documents"]
    assert doc["title"] == "受理通知书"
    assert doc["kind"] == "acceptance_notice"
    assert [d["title"] for d in view["documents"]] == ["受理通知书"]

    text = await download(client, created, doc["id"])
    assert "受理通知书" in text
    assert created["tracking_number"] in text
    assert "张三" in text  # addressed to the complainant
    assert received_day(created, case) in text
    assert chinese_day(doc["issued_on"]) in text
    assert chinese_day(case["deadlines"]["handling_due"]) in text
    assert "第十四条" in text
    assert "四十五" not in text
    assert "45个工作日" in text
    assert "不计算在调解期限内" in text  # every deadline told says testing time does not count

    url = f"/api/v1/cases/{created['tracking_number']}/documents/{doc['id']}"
    assert_problem(await client.get(url), 404, "case_not_found")
    assert_problem(
        await client.get(url, headers={"X-Case-Token": other["access_token"]}),
        404,
        "case_not_found",
    )
    # The other case's number with its own code: that case has no such document.
    assert_problem(
        await client.get(
            f"/api/v1/cases/{other['tracking_number']}/documents/{doc['id']}",
            headers={"X-Case-Token": other["access_token"]},
        ),
        404,
        "case_document_not_found",
    )

    staff_url = f"/api/v1/staff/cases/{cid}/documents/{doc['id']}"
    mine = await client.get(staff_url, headers=await auth_headers(regulator))
    assert mine.status_code == 200
    assert created["tracking_number"] in pdf_text(mine.content)
    elsewhere = await make_user(Role.regulator, region="610102")
    assert_problem(await client.get(staff_url, headers=await auth_headers(elsewhere)), 403)
    admin = await make_user(Role.admin, region="610000")
    assert_problem(
        await client.get(staff_url, headers=await auth_headers(admin)),
        403,
        "case_document_forbidden",
    )
    citizen = await make_user(Role.citizen, region="610402")
    assert (await client.get(staff_url, headers=await auth_headers(citizen))).status_code == 403


async def test_rejection_notice_gives_the_ground_and_article_15(
    client: httpx.AsyncClient, database: Database, make_user, auth_headers
) -> None:
    """投诉举报处理暂行办法 第十五条: the 不予受理告知书 states the ground of non-acceptance."""
    created = await submit(client, complaint_body())
    regulator = await make_user(Role.regulator, region="610400")
    staff = Staff(
        client, await auth_headers(regulator), await case_id(database, created["tracking_number"])
    )
    await staff.ok("reject", reason_code="time_barred", body="购买时间为 2021 年。")
    [doc] = (await tracked(client, created))["documents"]
    assert doc["title"] == "不予受理告知书"
    text = await download(client, created, doc["id"])
    assert "不予受理告知书" in text
    assert "第十五条" in text
    assert "超过三年" in text
    assert "购买时间为2021年" in text
    assert created["tracking_number"] in text
    assert chinese_day(doc["issued_on"]) in text


async def test_mediation_termination_decision_names_both_parties_and_article_21(
    client: httpx.AsyncClient, database: Database, make_user, auth_headers
) -> None:
    """投诉举报处理暂行办法 第二十一条: the 终止调解决定书 goes to both parties within seven
    working days of the decision; it says by when, and that mediation ending is not the end of
    the handling (第二十三条第二款)."""
    created = await submit(client, complaint_body())
    regulator = await make_user(Role.regulator, region="610400")
    staff = Staff(
        client, await auth_headers(regulator), await case_id(database, created["tracking_number"])
    )
    await staff.ok("accept")
    await staff.ok("mediate", body="约双方调解。")
    view = await staff.ok(
        "conclude", finding="substantiated", mediation_result="no_agreement", body="双方各执一词。"
    )
    told_by = view["events"][-1]["data"]["parties_told_by"]
    docs = (await tracked(client, created))["documents"]
    assert [d["title"] for d in docs] == ["受理通知书", "终止调解决定书"]
    text = await download(client, created, docs[1]["id"])
    assert "终止调解决定书" in text
    assert "第二十一条" in text
    assert "投诉人张三、被投诉人咸阳市秦都区张记肉铺" in text
    assert "未能达成调解协议" in text
    assert chinese_day(told_by) in text
    assert "7个工作日" in text
    assert "不免除经营者依法应当承担的其他法律责任" in text


async def test_report_result_is_for_a_real_name_reporter_only_article_31(
    client: httpx.AsyncClient, database: Database, make_user, auth_headers
) -> None:
    """投诉举报处理暂行办法 第三十一条: a real-name reporter is told of the 立案 decision within
    five working days; an anonymous report produces no 举报处理结果告知书."""
    named = await submit(
        client,
        report_body(anonymous=False, complainant={"name": "李四", "phone": "13900139000"}),
    )
    anonymous = await submit(client, report_body())
    regulator = await make_user(Role.regulator, region="610400")
    headers = await auth_headers(regulator)
    for report in (named, anonymous):
        staff = Staff(client, headers, await case_id(database, report["tracking_number"]))
        await staff.ok("accept")
        await staff.ok("conclude", finding="substantiated", filing="filed", body="已立案查处。")
    [doc] = (await tracked(client, named))["documents"]
    assert doc["title"] == "举报处理结果告知书"
    text = await download(client, named, doc["id"])
    assert "李四" in text
    assert named["tracking_number"] in text
    assert "决定立案调查" in text
    assert "第三十一条" in text
    assert "第十八条" in text
    assert chinese_day(doc["issued_on"]) in text

    assert (await tracked(client, anonymous))["documents"] == []
    # Its decision is not a document, even with the case's own code.
    anon_id = await case_id(database, anonymous["tracking_number"])
    events = (await client.get(f"/api/v1/staff/cases/{anon_id}", headers=headers)).json()["events"]
    decision = next(e for e in events if e["type"] == "concluded")
    assert decision is not None
    assert (await client.get(f"/api/v1/staff/cases/{anon_id}", headers=headers)).json()[
        "documents"
    ] == []


async def test_documents_from_the_tracking_page_and_the_staff_case_page(
    client: httpx.AsyncClient, database: Database, make_user
) -> None:
    """The tracking page offers the documents through the 查询码 flow; the staff case page links
    them for the handling regulator."""
    created = await submit(client, complaint_body())
    regulator = await make_user(Role.regulator, region="610400")
    cid = await case_id(database, created["tracking_number"])
    await _login(client, regulator)
    done = await client.post(
        f"/staff/complaints/{cid}/actions", data={"action": "accept", "body": ""}
    )
    assert done.status_code == 303, done.text
    page = await client.get(f"/staff/complaints/{cid}")
    link = re.search(rf'href="(/staff/complaints/{cid}/documents/[0-9a-f-]+)"', page.text)
    assert link is not None
    assert "受理通知书（PDF）" in page.text
    staff_pdf = await client.get(link.group(1))
    assert staff_pdf.status_code == 200
    assert "受理通知书" in pdf_text(staff_pdf.content)
    client.cookies.clear()

    number, code = created["tracking_number"], created["access_token"]
    shown = await client.post(
        "/complaints/track", data={"tracking_number": number, "access_token": code}
    )
    assert "受理通知书（PDF）" in shown.text
    document_id = re.search(r'name="document_id" value="([0-9a-f-]+)"', shown.text)
    assert document_id is not None
    form = {"tracking_number": number, "access_token": code, "document_id": document_id.group(1)}
    got = await client.post("/complaints/track/document", data=form)
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/pdf"
    assert number in pdf_text(got.content)
    refused = await client.post(
        "/complaints/track/document", data={**form, "access_token": "WRONG-CODE-0000-0000"}
    )
    assert refused.status_code == 404
    assert "application/pdf" not in refused.headers["content-type"]
    # Staff pages refuse a visitor who is not logged in.
    assert (await client.get(link.group(1))).status_code in (303, 401, 403)


def test_lines_break_between_characters_never_before_a_closing_mark() -> None:
    """Chinese typography: a line never starts with ，。、；：）” — the mark hangs instead — and
    a tracking number or date is never split."""
    text = "您于2026年11月30日提交的投诉（受理编号：JL20261130-000123），本局已决定受理。" * 4
    for width in range(40, 400, 7):
        lines = break_lines(text, float(width), lambda s: 10.0 * len(s))
        assert "".join(lines) == text
        for line in lines:
            assert line[0] not in NO_LINE_START, (width, line)
            assert not line.endswith("（"), (width, line)
        if width >= 190:
            assert all("JL20261130-000123" in line for line in lines if "JL2026" in line)


async def test_without_a_cjk_font_the_document_is_refused_with_503(
    client: httpx.AsyncClient, database: Database, make_user, auth_headers, settings
) -> None:
    """No CJK font installed (or the configured one missing): 503 document_font_missing, never a
    PDF with missing glyphs nor a 500."""
    created = await submit(client, complaint_body())
    regulator = await make_user(Role.regulator, region="610400")
    staff = Staff(
        client, await auth_headers(regulator), await case_id(database, created["tracking_number"])
    )
    await staff.ok("accept")
    [doc] = (await tracked(client, created))["documents"]
    config = settings.of(ComplaintsSettings)
    config.complaint_document_font_file = Path("/nonexistent/font.ttc")
    try:
        response = await client.get(
            f"/api/v1/cases/{created['tracking_number']}/documents/{doc['id']}",
            headers={"X-Case-Token": created["access_token"]},
        )
    finally:
        config.complaint_document_font_file = None
    assert_problem(response, 503, "document_font_missing")
