"""回访: once a case is finished, the one who filed it rates how it was handled, once; staff read
it on the case page; nobody else can give it or see it."""

from __future__ import annotations

import httpx
from sqlmodel import select

from api.complaints.models import Case, CaseEvent, CaseStatus
from portal.accounts.models import Role
from portal.db import Database
from tests.api.complaints.support import complaint_body
from tests.support import TEST_PASSWORD, assert_problem


async def test_the_submitter_rates_a_finished_case_once(
    client: httpx.AsyncClient, database: Database, make_user
) -> None:
    created = (await client.post("/api/v1/cases", json=complaint_body())).json()
    number, token = created["tracking_number"], created["access_token"]
    url = f"/api/v1/cases/{number}/feedback"
    rating = {"rating": 4, "comment": "处理及时，商户已退款。"}
    assert_problem(
        await client.post(url, json=rating, headers={"X-Case-Token": token}),
        409,
        "feedback_not_open",
    )  # still open
    async with database.transaction() as session:
        case = await session.scalar(select(Case).where(Case.tracking_number == number))
        assert case is not None
        case.status = CaseStatus.closed
    assert_problem(
        await client.post(url, json=rating, headers={"X-Case-Token": "WRONG-CODE-0000-0000"}),
        404,
        "case_not_found",
    )  # the same answer as an unknown case
    assert_problem(
        await client.post(url, json={"rating": 9}, headers={"X-Case-Token": token}),
        422,
        "validation_error",
    )
    given = await client.post(url, json=rating, headers={"X-Case-Token": token})
    assert given.status_code == 204, given.text
    assert_problem(
        await client.post(url, json=rating, headers={"X-Case-Token": token}),
        409,
        "feedback_already_given",
    )
    async with database.transaction() as session:
        events = list(await session.scalars(select(CaseEvent).where(CaseEvent.type == "feedback")))
    assert [(e.data["rating"], e.body, e.public) for e in events] == [
        (4, "处理及时，商户已退款。", False)
    ]
    # Not in the submitter's public timeline; on the staff page, in words.
    tracked = await client.get(f"/api/v1/cases/{number}", headers={"X-Case-Token": token})
    assert "feedback" not in [t["type"] for t in tracked.json()["timeline"]]
    regulator = await make_user(Role.regulator, region="610400")
    login = await client.post(
        "/login", data={"email": regulator.email, "password": TEST_PASSWORD, "next": "/account"}
    )
    assert login.status_code == 303
    page = (await client.get(f"/staff/complaints/{case.id}")).text
    assert "投诉举报人评价" in page
    assert "满意度 4/5" in page
    assert "处理及时，商户已退款。" in page


async def test_the_tracking_page_asks_for_a_rating_once_the_case_is_finished(
    client: httpx.AsyncClient, database: Database
) -> None:
    created = (await client.post("/api/v1/cases", json=complaint_body())).json()
    number, token = created["tracking_number"], created["access_token"]
    form = {"tracking_number": number, "access_token": token}
    assert 'id="feedback-form"' not in (await client.post("/complaints/track", data=form)).text
    async with database.transaction() as session:
        case = await session.scalar(select(Case).where(Case.tracking_number == number))
        assert case is not None
        case.status = CaseStatus.concluded
    page = (await client.post("/complaints/track", data=form)).text
    assert 'id="feedback-form"' in page
    thanked = await client.post(
        "/complaints/track/feedback", data={**form, "rating": "2", "comment": "太慢了"}
    )
    assert thanked.status_code == 200
    assert "谢谢您的评价" in thanked.text
    assert 'id="feedback-form"' not in thanked.text  # once
    again = await client.post("/complaints/track/feedback", data={**form, "rating": "5"})
    assert again.status_code == 409
    assert "您已评价过该案件" in again.text


async def test_feedback_sent_twice_at_once_is_kept_once(
    client: httpx.AsyncClient, database: Database
) -> None:
    """Attack review: a double-tapped 提交 (or a script) sending the rating twice at once. Each
    request checked that no feedback was given yet and then added one, so while the first was
    not yet committed the second added its own and the case's satisfaction counted twice
    (SQLite and PostgreSQL). The second now waits for the first, finds its rating and is
    refused (409 feedback_already_given)."""
    import asyncio

    from api.complaints.errors import FeedbackAlreadyGiven
    from api.complaints.schemas import CaseFeedback
    from api.complaints.tracking import give_feedback

    created = (await client.post("/api/v1/cases", json=complaint_body())).json()
    number, token = created["tracking_number"], created["access_token"]
    async with database.transaction() as session:
        case = await session.scalar(select(Case).where(Case.tracking_number == number))
        assert case is not None
        case.status = CaseStatus.closed

    async def rate(stars: int) -> None:
        async with database.transaction() as session:
            await give_feedback(session, number, CaseFeedback(rating=stars), token=token, user=None)

    async with database.transaction() as first:
        await give_feedback(first, number, CaseFeedback(rating=5), token=token, user=None)
        # The second arrives while the first is written but not yet committed.
        second = asyncio.create_task(rate(1))
        await asyncio.sleep(1)
    [outcome] = await asyncio.gather(second, return_exceptions=True)
    assert isinstance(outcome, FeedbackAlreadyGiven), outcome
    async with database.transaction() as session:
        events = list(await session.scalars(select(CaseEvent).where(CaseEvent.type == "feedback")))
    assert [e.data["rating"] for e in events] == [5]
