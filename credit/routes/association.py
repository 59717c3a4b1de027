"""Association work: members and their indicators, methodologies, runs and the 公示, objections,
reviews and replies. Every route acts for one association (``ActingAssociation``)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from credit import members, methodologies, objections, ratings, runs
from credit.deps import ActingAssociation, Now, UsccPath
from credit.members import MemberRow
from credit.models import ObjectionStatus, Run
from credit.schemas import (
    EnterpriseCreate,
    IndicatorValues,
    MemberRead,
    MethodologyCreate,
    MethodologyRead,
    ObjectionDecision,
    ObjectionRead,
    RatingRead,
    ReplyCreate,
    ReviewCreate,
    RunCreate,
    RunDetail,
    RunRead,
    objection_read,
    rating_read,
    score_read,
)
from portal import clock
from portal.db import DbSession
from portal.deps import SettingsDep
from portal.pagination import Page, PageParams

router = APIRouter(prefix="/association", tags=["credit-association"])


def member_read(row: MemberRow) -> MemberRead:
    enterprise = row.enterprise
    return MemberRead(
        uscc=enterprise.uscc,
        name=row.name,
        registered_name=enterprise.name,
        industry=enterprise.industry,
        region_code=enterprise.region_code,
        address=enterprise.address,
        joined_on=row.membership.joined_on,
        indicators=row.indicators,
    )


@router.get("/members", response_model=Page[MemberRead], summary="Current members")
async def list_members(
    request: Request, session: DbSession, acting: ActingAssociation, paging: PageParams
) -> Page[MemberRead]:
    rows = await members.list_members(session, acting.association)
    return Page[MemberRead].of(
        [member_read(r) for r in rows[paging.offset : paging.offset + paging.limit]],
        total=len(rows),
        request=paging,
        url=request,
    )


@router.post("/members", response_model=MemberRead, status_code=201, summary="Add a member")
async def add_member(
    session: DbSession, acting: ActingAssociation, now: Now, data: EnterpriseCreate
) -> MemberRead:
    row = await members.add_member(
        session, actor=acting.user, association=acting.association, data=data, now=now
    )
    return member_read(row)


@router.delete("/members/{uscc}", status_code=204, summary="End a membership")
async def remove_member(
    session: DbSession, acting: ActingAssociation, now: Now, uscc: UsccPath
) -> Response:
    await members.remove_member(
        session, actor=acting.user, association=acting.association, uscc=uscc, now=now
    )
    return Response(status_code=204)


@router.put(
    "/members/{uscc}/indicators",
    response_model=dict[str, bool],
    summary="Set association-entered indicators",
)
async def set_indicators(
    session: DbSession, acting: ActingAssociation, now: Now, uscc: UsccPath, data: IndicatorValues
) -> dict[str, bool]:
    return await members.set_indicators(
        session, actor=acting.user, association=acting.association, uscc=uscc, data=data, now=now
    )


@router.post(
    "/methodologies",
    response_model=MethodologyRead,
    status_code=201,
    summary="Publish a new version of the association's methodology",
)
async def create_methodology(
    session: DbSession,
    acting: ActingAssociation,
    settings: SettingsDep,
    now: Now,
    data: MethodologyCreate,
) -> MethodologyRead:
    row = await methodologies.create_methodology(
        session,
        actor=acting.user,
        association=acting.association,
        data=data,
        settings=settings,
        now=now,
    )
    return MethodologyRead.model_validate(row)


@router.get("/runs", response_model=Page[RunRead], summary="The association's batches")
async def list_runs(
    request: Request, session: DbSession, acting: ActingAssociation, paging: PageParams
) -> Page[RunRead]:
    rows = await runs.list_runs(session, acting.association)
    return Page[RunRead].of(
        [RunRead.model_validate(r) for r in rows[paging.offset : paging.offset + paging.limit]],
        total=len(rows),
        request=paging,
        url=request,
    )


async def _run_detail(session: DbSession, run: Run) -> RunDetail:
    methodology = await methodologies.get_methodology(session, run.methodology_id)
    return RunDetail(
        **RunRead.model_validate(run).model_dump(),
        methodology=MethodologyRead.model_validate(methodology),
        scores=[score_read(row, breakdown=True) for row in await runs.run_scores(session, run.id)],
    )


@router.post("/runs", response_model=RunDetail, status_code=201, summary="Score every member")
async def start_run(
    session: DbSession, acting: ActingAssociation, settings: SettingsDep, now: Now, data: RunCreate
) -> RunDetail:
    run = await runs.start_run(
        session,
        actor=acting.user,
        association=acting.association,
        data=data,
        settings=settings,
        now=now,
    )
    return await _run_detail(session, run)


@router.get("/runs/{run_id}", response_model=RunDetail, summary="A batch with its drafts")
async def get_run(session: DbSession, acting: ActingAssociation, run_id: uuid.UUID) -> RunDetail:
    return await _run_detail(
        session, await runs.get_run(session, run_id, association=acting.association)
    )


@router.post("/runs/{run_id}/notice", response_model=RunRead, summary="Open the 公示")
async def open_notice(
    session: DbSession,
    acting: ActingAssociation,
    settings: SettingsDep,
    now: Now,
    run_id: uuid.UUID,
) -> RunRead:
    run = await runs.open_notice(
        session,
        actor=acting.user,
        association=acting.association,
        run_id=run_id,
        settings=settings,
        now=now,
    )
    return RunRead.model_validate(run)


@router.post("/runs/{run_id}/publish", response_model=RunRead, summary="Publish the grades")
async def publish_run(
    session: DbSession,
    acting: ActingAssociation,
    settings: SettingsDep,
    now: Now,
    run_id: uuid.UUID,
) -> RunRead:
    run = await runs.publish_run(
        session,
        actor=acting.user,
        association=acting.association,
        run_id=run_id,
        settings=settings,
        now=now,
    )
    return RunRead.model_validate(run)


@router.get(
    "/objections", response_model=Page[ObjectionRead], summary="Objections, with objector details"
)
async def list_objections(
    request: Request,
    session: DbSession,
    acting: ActingAssociation,
    paging: PageParams,
    run_id: Annotated[uuid.UUID | None, Query()] = None,
    status: Annotated[ObjectionStatus | None, Query()] = None,
) -> Page[ObjectionRead]:
    rows = await objections.list_objections(
        session, association=acting.association, run_id=run_id, status=status
    )
    return Page[ObjectionRead].of(
        [objection_read(r) for r in rows[paging.offset : paging.offset + paging.limit]],
        total=len(rows),
        request=paging,
        url=request,
    )


@router.post(
    "/objections/{objection_id}/decision",
    response_model=ObjectionRead,
    summary="Decide an objection with written reasons",
)
async def decide_objection(
    session: DbSession,
    acting: ActingAssociation,
    settings: SettingsDep,
    now: Now,
    objection_id: uuid.UUID,
    data: ObjectionDecision,
) -> ObjectionRead:
    objection = await objections.decide_objection(
        session,
        actor=acting.user,
        association=acting.association,
        objection_id=objection_id,
        data=data,
        settings=settings,
        now=now,
    )
    return objection_read(await objections.get_objection(session, objection.id))


@router.post("/ratings/{uscc}/review", response_model=RatingRead, summary="Keep, downgrade, cancel")
async def review_rating(
    session: DbSession,
    acting: ActingAssociation,
    settings: SettingsDep,
    now: Now,
    uscc: UsccPath,
    data: ReviewCreate,
) -> RatingRead:
    row = await ratings.review_rating(
        session,
        actor=acting.user,
        association=acting.association,
        uscc=uscc,
        data=data,
        settings=settings,
        now=now,
    )
    return rating_read(row, today=clock.local_date(now))


@router.post(
    "/ratings/{uscc}/reply", response_model=RatingRead, summary="Publish the enterprise's reply"
)
async def publish_reply(
    session: DbSession,
    acting: ActingAssociation,
    settings: SettingsDep,
    now: Now,
    uscc: UsccPath,
    data: ReplyCreate,
) -> RatingRead:
    row = await ratings.publish_reply(
        session,
        actor=acting.user,
        association=acting.association,
        uscc=uscc,
        data=data,
        settings=settings,
        now=now,
    )
    return rating_read(row, today=clock.local_date(now))


@router.get("/ratings", response_model=Page[RatingRead], summary="Current grades, flagged first")
async def association_ratings(
    request: Request, session: DbSession, acting: ActingAssociation, paging: PageParams, now: Now
) -> Page[RatingRead]:
    rows = await ratings.pending_reviews(session, acting.association)
    return Page[RatingRead].of(
        [
            rating_read(r, today=clock.local_date(now))
            for r in rows[paging.offset : paging.offset + paging.limit]
        ],
        total=len(rows),
        request=paging,
        url=request,
    )
