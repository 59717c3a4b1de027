"""Attack review: two state transitions of the same thing at once (a double tap, two staff, a
review meeting a reply). The second waits for the first and is refused with its stable code,
or sees what the first wrote; the ledger records each transition once and the stored grades
stay the fold of the ledger."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import func
from sqlmodel import select

from credit import errors, objections, ratings, runs
from credit.ledger import verify_stored
from credit.models import LedgerEvent
from credit.schemas import ObjectionDecision, ReplyCreate, ReviewCreate
from portal.db import Database
from portal.settings import Settings
from tests.credit.support import Association, Clock, MakeAssociation
from tests.support import assert_problem

Step = Callable[[Any], Awaitable[Any]]


async def _ledger_size(database: Database) -> int:
    async with database.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(LedgerEvent)) or 0)


async def _at_once(database: Database, first: Step, second: Step) -> Any:
    """Run ``first`` in a transaction; while it is written but not committed, start ``second``
    in its own. Returns what ``second`` returned or raised."""

    async def later() -> Any:
        async with database.transaction() as session:
            return await second(session)

    async with database.transaction() as session:
        await first(session)
        task = asyncio.create_task(later())
        await asyncio.sleep(1)
    [outcome] = await asyncio.gather(task, return_exceptions=True)
    return outcome


def _by(
    assoc: Association,
    settings: Settings,
    now: Any,
    action: Callable[..., Awaitable[Any]],
    **given: Any,
) -> Step:
    """One of the association's transitions, as a step of ``_at_once``."""

    async def step(session: Any) -> Any:
        return await action(
            session, actor=assoc.user, association=assoc.org, settings=settings, now=now, **given
        )

    return step


async def _in_notice(assoc: Association) -> dict[str, Any]:
    await assoc.add_member("礼泉县城关加油站", region="610425")
    run = (await assoc.post("/runs", {})).json()
    assert (await assoc.post(f"/runs/{run['id']}/notice")).status_code == 200
    return run


async def _check_ledger(database: Database, settings: Settings) -> None:
    from credit.ledger import signing_key

    async with database.transaction() as session:
        assert (await verify_stored(session, signing_key(settings))).ok
        assert await ratings.rebuild_ratings(session) == []


async def test_a_run_published_twice_at_once_is_published_once(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    clock: Clock,
    make_association: MakeAssociation,
) -> None:
    assoc = await make_association()
    run = await _in_notice(assoc)
    now = clock.advance(days=14)
    size = await _ledger_size(database)

    publish = _by(assoc, settings, now, runs.publish_run, run_id=uuid.UUID(run["id"]))
    outcome = await _at_once(database, publish, publish)
    assert isinstance(outcome, errors.RunState), outcome
    # run.started/notice.opened before; one rating.published and one run.published now.
    assert await _ledger_size(database) == size + 2
    await _check_ledger(database, settings)


async def test_a_notice_opened_twice_at_once_is_opened_once(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    clock: Clock,
    make_association: MakeAssociation,
) -> None:
    assoc = await make_association()
    await assoc.add_member("礼泉县城关加油站", region="610425")
    run = (await assoc.post("/runs", {})).json()
    size = await _ledger_size(database)

    open_notice = _by(assoc, settings, clock.now, runs.open_notice, run_id=uuid.UUID(run["id"]))
    outcome = await _at_once(database, open_notice, open_notice)
    assert isinstance(outcome, errors.RunState), outcome
    assert await _ledger_size(database) == size + 1


async def test_an_objection_decided_twice_at_once_is_decided_once(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    clock: Clock,
    make_association: MakeAssociation,
) -> None:
    assoc = await make_association()
    run = await _in_notice(assoc)
    member = (await assoc.get(f"/runs/{run['id']}")).json()["scores"][0]["uscc"]
    lodged = await client.post(
        "/api/v1/credit/objections",
        json={
            "batch_id": run["id"],
            "uscc": member,
            "objector_kind": "public",
            "name": "钱女士",
            "contact": "13600000000",
            "text": "该站油枪计量偏少，请协会复核评分依据。",
        },
    )
    assert lodged.status_code == 201, lodged.text
    objection_id = lodged.json()["id"]
    size = await _ledger_size(database)

    def decide(decision: str) -> Step:
        return _by(
            assoc,
            settings,
            clock.now,
            objections.decide_objection,
            objection_id=uuid.UUID(objection_id),
            data=ObjectionDecision.model_validate(
                {"decision": decision, "reasons": f"经核查，{decision}。"}
            ),
        )

    outcome = await _at_once(database, decide("rejected"), decide("upheld"))
    assert isinstance(outcome, errors.ObjectionDecided), outcome
    assert await _ledger_size(database) == size + 1
    listed = (await assoc.get("/objections")).json()["items"]
    assert [o["status"] for o in listed] == ["rejected"]


async def test_a_review_and_a_reply_at_once_keep_the_downgrade(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    clock: Clock,
    make_association: MakeAssociation,
) -> None:
    """The reply, applied to the grade as it read it before the downgrade committed, wrote the
    old grade back: the stored grade said A while the ledger said downgraded."""
    assoc = await make_association()
    run = await _in_notice(assoc)
    clock.advance(days=14)
    assert (await assoc.post(f"/runs/{run['id']}/publish")).status_code == 200
    member = (await assoc.get("/ratings")).json()["items"][0]
    assert member["grade"] != "C", member

    downgrade = _by(
        assoc,
        settings,
        clock.now,
        ratings.review_rating,
        uscc=member["uscc"],
        data=ReviewCreate.model_validate(
            {"outcome": "downgrade", "grade": "C", "reasons": "年度复核：计量器具未按期检定。"}
        ),
    )
    reply = _by(
        assoc,
        settings,
        clock.now,
        ratings.publish_reply,
        uscc=member["uscc"],
        data=ReplyCreate.model_validate({"text": "本站已完成整改。"}),
    )

    outcome = await _at_once(database, downgrade, reply)
    assert not isinstance(outcome, BaseException), outcome
    [after] = (await assoc.get("/ratings")).json()["items"]
    assert after["grade"] == "C", after
    await _check_ledger(database, settings)


async def test_a_grade_cancelled_twice_at_once_is_cancelled_once(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    clock: Clock,
    make_association: MakeAssociation,
) -> None:
    assoc = await make_association()
    run = await _in_notice(assoc)
    clock.advance(days=14)
    assert (await assoc.post(f"/runs/{run['id']}/publish")).status_code == 200
    member = (await assoc.get("/ratings")).json()["items"][0]
    size = await _ledger_size(database)

    cancel = _by(
        assoc,
        settings,
        clock.now,
        ratings.review_rating,
        uscc=member["uscc"],
        data=ReviewCreate.model_validate({"outcome": "cancel", "reasons": "退出评价。"}),
    )

    outcome = await _at_once(database, cancel, cancel)
    assert isinstance(outcome, errors.RatingNotFound), outcome
    assert await _ledger_size(database) == size + 1
    await _check_ledger(database, settings)


async def test_a_grade_past_its_last_valid_day_is_not_reviewed_or_replied_to(
    client: httpx.AsyncClient, clock: Clock, make_association: MakeAssociation
) -> None:
    """Attack review: the public pages read a grade past its last valid day as expired, but the
    back office still downgraded it and published replies beside it (ledger events on a grade
    that had ended) until the daily expiry job ran."""
    assoc = await make_association()
    run = await _in_notice(assoc)
    clock.advance(days=14)
    assert (await assoc.post(f"/runs/{run['id']}/publish")).status_code == 200
    [rating] = (await assoc.get("/ratings")).json()["items"]
    head = (await client.get("/api/v1/credit/ledger")).json()["head"]["seq"]
    clock.advance(days=3 * 366)
    review = await assoc.post(
        f"/ratings/{rating['uscc']}/review",
        {"outcome": "downgrade", "grade": "C", "reasons": "年度复核：计量器具未按期检定。"},
    )
    assert_problem(review, 404, "rating_not_found")
    reply = await assoc.post(f"/ratings/{rating['uscc']}/reply", {"text": "本站已完成整改。"})
    assert_problem(reply, 404, "rating_not_found")
    assert (await client.get("/api/v1/credit/ledger")).json()["head"]["seq"] == head


async def test_the_same_enterprise_added_at_once(
    client: httpx.AsyncClient, clock: Clock, make_association: MakeAssociation
) -> None:
    """Attack review: two associations adding the same new enterprise at once collided on the
    enterprise's row, and one of them was refused (409 conflict) though it was not a member;
    the same member added twice at once was a generic conflict, not already_a_member."""
    from tests.credit.support import new_uscc

    first = await make_association()
    second = await make_association(name="咸阳市集贸市场协会", industry="集贸市场")
    body = {"uscc": new_uscc("610425"), "name": "城关加油站", "region_code": "610425"}
    answers = await asyncio.gather(
        first.post("/members", body), second.post("/members", body), first.post("/members", body)
    )
    assert answers[1].status_code == 201, answers[1].text
    statuses = sorted(a.status_code for a in (answers[0], answers[2]))
    assert statuses == [201, 409], [a.text for a in answers]
    refused = next(a for a in (answers[0], answers[2]) if a.status_code == 409)
    assert_problem(refused, 409, "already_a_member")
    for assoc in (first, second):
        assert (await assoc.get("/members")).json()["total"] == 1
