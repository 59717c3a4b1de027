"""Public reads: current grades, an enterprise, the 公示 lists, objections, methodologies."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from credit import methodologies, objections, public, runs
from credit.deps import Now, UsccPath
from credit.objections import check_objection_limits
from credit.schemas import (
    AssociationGrade,
    EnterpriseDetail,
    EnterpriseRead,
    HistoryItem,
    MethodologyRead,
    NoticeRead,
    NoticeSummary,
    ObjectionCreate,
    ObjectionPublic,
    OpenNoticeRead,
    RatingRead,
    objection_public,
    rating_read,
    score_read,
)
from credit.settings import CreditConfig
from portal import clock
from portal.cache import CacheDep
from portal.db import DbSession, ReadSession
from portal.deps import PublicAnswer, SettingsDep
from portal.pagination import Page, PageParams
from portal.ratelimit import client_ip, get_rate_limiter

router = APIRouter()


@router.get("/ratings", response_model=Page[RatingRead], summary="Current grades, filtered")
async def list_ratings(
    request: Request,
    session: ReadSession,
    now: Now,
    paging: PageParams,
    config: CreditConfig,
    cache: CacheDep,
    industry: Annotated[str | None, Query(max_length=64)] = None,
    grade: Annotated[str | None, Query(max_length=3)] = None,
    region: Annotated[
        str | None,
        Query(
            max_length=32,
            description="A division's name (咸阳, 咸阳市, 秦都区) or a 2-, 4- or 6-digit code prefix",
        ),
    ] = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
) -> Page[RatingRead]:
    listed = await public.listed_page(
        session,
        today=clock.local_date(now),
        industry=industry,
        grade=grade,
        region=region,
        q=q,
        offset=paging.offset,
        limit=paging.limit,
        cache=cache,
        seconds=config.credit_list_page_seconds,
        total_seconds=config.credit_list_total_seconds,
    )
    return Page[RatingRead].of(listed.ratings, total=listed.total, request=paging, url=request)


def enterprise_detail_schema(view: public.EnterpriseView) -> EnterpriseDetail:
    only = view.only_grade
    return EnterpriseDetail(
        enterprise=EnterpriseRead.model_validate(view.enterprise),
        grades=[
            AssociationGrade(
                **rating_read(grade.row, today=view.today).model_dump(),
                breakdown=grade.score.breakdown if grade.score else None,
                evidence_hash=grade.score.evidence_hash if grade.score else None,
            )
            for grade in view.grades
        ],
        ratings=[rating_read(row, today=view.today) for row in view.ratings],
        current=rating_read(only.row, today=view.today) if only else None,
        breakdown=only.score.breakdown if only and only.score else None,
        evidence_hash=only.score.evidence_hash if only and only.score else None,
        history=[
            HistoryItem(
                seq=event.seq,
                kind=event.kind,
                at=(body := json.loads(event.body))["at"],
                payload=body["payload"],
                hash=event.hash,
            )
            for event in view.events
        ],
        open_notices=[
            OpenNoticeRead(
                batch_id=notice.run.id,
                title=notice.run.title,
                association={"code": notice.association.code, "name": notice.association.name},
                closes_at=notice.run.notice_closes_at,
                score=str(notice.score.score),
                grade=notice.score.grade,
            )
            for notice in view.notices
        ],
    )


@router.get(
    "/enterprises/{uscc}",
    response_model=EnterpriseDetail,
    summary="An enterprise: each association's current grade with its breakdown, history, reply",
    dependencies=[PublicAnswer],
)
async def get_enterprise(session: ReadSession, now: Now, uscc: UsccPath) -> EnterpriseDetail:
    view = await public.enterprise_detail(session, uscc, today=clock.local_date(now))
    return enterprise_detail_schema(view)


def notice_schema(view: public.NoticeView, now: Now) -> NoticeRead:
    methodology = view.methodology
    return NoticeRead(
        batch_id=view.run.id,
        title=view.run.title,
        association={"code": view.association.code, "name": view.association.name},
        status=view.run.status,
        as_of=view.run.as_of,
        methodology={
            "id": str(methodology.id),
            "code": methodology.code,
            "version": methodology.version,
            "hash": methodology.definition_hash,
        },
        opened_at=view.run.notice_opened_at,
        closes_at=view.run.notice_closes_at,
        accepting_objections=runs.accepting_objections(view.run, now),
        scores=[score_read(row, breakdown=True) for row in view.scores],
        objections=[objection_public(row) for row in view.objections],
    )


@router.get(
    "/notices",
    response_model=Page[NoticeSummary],
    summary="Batches in 公示 and published batches",
)
async def list_notices(
    request: Request, session: ReadSession, now: Now, paging: PageParams
) -> Page[NoticeSummary]:
    batches = await public.list_notices(session)
    items = [
        NoticeSummary(
            batch_id=run.id,
            title=run.title,
            association={"code": org.code, "name": org.name},
            status=run.status,
            enterprise_count=run.enterprise_count,
            opened_at=run.notice_opened_at,
            closes_at=run.notice_closes_at,
            accepting_objections=runs.accepting_objections(run, now),
        )
        for run, org in batches
    ]
    return Page[NoticeSummary].of(
        items[paging.offset : paging.offset + paging.limit],
        total=len(items),
        request=paging,
        url=request,
    )


@router.get("/notices/{batch_id}", response_model=NoticeRead, summary="A 公示 list")
async def get_notice(session: ReadSession, now: Now, batch_id: uuid.UUID) -> NoticeRead:
    return notice_schema(await public.notice_detail(session, batch_id), now)


@router.post(
    "/objections",
    response_model=ObjectionPublic,
    status_code=201,
    summary="Lodge an objection during the 公示 (one open per person; rate limited; contact private)",
)
async def lodge_objection(
    request: Request, session: DbSession, settings: SettingsDep, now: Now, data: ObjectionCreate
) -> ObjectionPublic:
    await check_objection_limits(
        get_rate_limiter(request), settings, client=client_ip(request), data=data
    )
    objection = await objections.lodge_objection(session, data=data, settings=settings, now=now)
    return objection_public(await objections.get_objection(session, objection.id))


@router.get(
    "/objections/{objection_id}", response_model=ObjectionPublic, summary="An objection's status"
)
async def get_objection(session: DbSession, objection_id: uuid.UUID) -> ObjectionPublic:
    return objection_public(await objections.get_objection(session, objection_id))


@router.get("/methodologies", response_model=Page[MethodologyRead], summary="Every methodology")
async def list_methodologies(
    request: Request, session: ReadSession, paging: PageParams
) -> Page[MethodologyRead]:
    rows = await methodologies.list_methodologies(session)
    return Page[MethodologyRead].of(
        [
            MethodologyRead.model_validate(m)
            for m in rows[paging.offset : paging.offset + paging.limit]
        ],
        total=len(rows),
        request=paging,
        url=request,
    )


@router.get(
    "/methodologies/{methodology_id}", response_model=MethodologyRead, summary="One methodology"
)
async def get_methodology(session: ReadSession, methodology_id: uuid.UUID) -> MethodologyRead:
    return MethodologyRead.model_validate(
        await methodologies.get_methodology(session, methodology_id)
    )
