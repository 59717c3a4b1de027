"""Repeated reports of the same matter: merged into the case that handles it, or answered with
the result of the case that handled it (SAMR Order 121 on repeated reports, as summarised in the
research; 投诉举报处理暂行办法 第三十一条 for telling every real-name reporter)."""

from __future__ import annotations

import uuid

import httpx
from sqlmodel import col, select

from api.complaints.models import CaseEvent
from portal.accounts.models import Role
from portal.db import Database
from portal.outbox.models import OutboxEvent
from tests.api.complaints.support import complaint_body, report_body
from tests.api.complaints.test_documents import download, tracked
from tests.api.complaints.test_workflow import Staff, case_id, submit
from tests.support import assert_problem


def named_report(name: str, phone: str) -> dict[str, object]:
    return report_body(anonymous=False, complainant={"name": name, "phone": phone})


async def test_a_repeat_of_a_handled_report_is_answered_with_its_result_order_121(
    client: httpx.AsyncClient, database: Database, make_user, auth_headers
) -> None:
    """SAMR Order 121: a repeated report of a matter already handled, with no new facts, is not
    handled again: the reporter is told the earlier case's result (never its narrative)."""
    first = await submit(client, named_report("李四", "13900139000"))
    again = await submit(client, named_report("王五", "13700137000"))
    still_open = await submit(client, report_body(description="又一次举报同一摊位。"))
    complaint = await submit(client, complaint_body())
    headers = await auth_headers(await make_user(Role.regulator, region="610400"))
    handled = Staff(client, headers, await case_id(database, first["tracking_number"]))
    await handled.ok("accept")
    await handled.ok("conclude", finding="substantiated", filing="filed", body="摊主刘某已立案。")

    repeat = Staff(client, headers, await case_id(database, again["tracking_number"]))
    assert_problem(await repeat.act("repeat"), 422, "case_action_invalid")
    for number in (still_open["tracking_number"], complaint["tracking_number"]):
        assert_problem(await repeat.act("repeat", duplicate_of=number), 422, "case_action_invalid")
    view = await repeat.ok("repeat", duplicate_of=first["tracking_number"])
    assert view["status"] == "closed"
    event = view["events"][-1]
    assert (event["type"], event["public"]) == ("answered_repeat", True)
    assert event["data"] == {"repeat_of": first["tracking_number"]}
    timeline = (await tracked(client, again))["timeline"]
    answer = timeline[-1]["body"]
    assert first["tracking_number"] in answer
    assert "已立案调查" in answer
    assert "不再重复处理" in answer
    assert "刘某" not in answer  # the earlier case's narrative is another reporter's
    # Closed: nothing more to do but reopen if new facts come.
    assert_problem(await repeat.act("accept"), 409, "illegal_transition")


async def test_merged_reporters_are_told_the_decision_article_31(
    client: httpx.AsyncClient, database: Database, make_user, auth_headers
) -> None:
    """Merged reports follow the case they were merged into: its 立案 decision reaches each
    merged case's timeline and outbox, and a real-name reporter gets their own 举报处理结果告知书
    (投诉举报处理暂行办法 第三十一条); an anonymous one does not."""
    first = await submit(client, named_report("李四", "13900139000"))
    merged = await submit(client, named_report("王五", "13700137000"))
    anonymous = await submit(client, report_body(description="同一摊位电子秤没有检定标志。"))
    headers = await auth_headers(await make_user(Role.regulator, region="610400"))
    main = Staff(client, headers, await case_id(database, first["tracking_number"]))
    for other in (merged, anonymous):
        staff = Staff(client, headers, await case_id(database, other["tracking_number"]))
        assert (await staff.ok("merge", duplicate_of=first["tracking_number"]))[
            "status"
        ] == "merged"
    await main.ok("accept")
    await main.ok("conclude", finding="substantiated", filing="filed", body="已立案查处。")

    merged_case = await tracked(client, merged)
    last = merged_case["timeline"][-1]
    assert last["type"] == "merged_result"
    assert first["tracking_number"] in last["body"]
    assert "决定立案调查" in last["body"]
    [doc] = merged_case["documents"]
    assert doc["title"] == "举报处理结果告知书"
    text = await download(client, merged, doc["id"])
    assert "王五" in text
    assert merged["tracking_number"] in text
    assert f"与{first['tracking_number']}合并办理" in text
    assert "决定立案调查" in text
    assert "第三十一条" in text

    anonymous_case = await tracked(client, anonymous)
    assert anonymous_case["timeline"][-1]["type"] == "merged_result"
    assert anonymous_case["documents"] == []

    merged_id = uuid.UUID(await case_id(database, merged["tracking_number"]))
    async with database.transaction() as session:
        told = await session.scalar(
            select(CaseEvent).where(
                col(CaseEvent.case_id) == merged_id, col(CaseEvent.type) == "merged_result"
            )
        )
        assert told is not None
        queued = [
            e.payload["event_id"]
            for e in await session.scalars(
                select(OutboxEvent).where(col(OutboxEvent.topic) == "complaints.notify")
            )
        ]
    assert str(told.id) in queued
    # The document is the merged reporter's: the first reporter's code cannot fetch it.
    response = await client.get(
        f"/api/v1/cases/{merged['tracking_number']}/documents/{doc['id']}",
        headers={"X-Case-Token": first["access_token"]},
    )
    assert_problem(response, 404, "case_not_found")
