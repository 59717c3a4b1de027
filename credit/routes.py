"""Credit JSON API: public reads (no login) under /api/v1/credit, association work under
/api/v1/credit/association (role association, own members only; admins name ?association=)."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from credit import service
from credit.ledger import entry_json, head_message
from credit.limiter import client_key, limiter_for
from credit.models import ObjectionStatus
from credit.schemas import (
    EnterpriseCreate,
    EnterpriseDetail,
    HistoryItem,
    IndicatorValues,
    LedgerPage,
    MemberRead,
    MethodologyCreate,
    MethodologyRead,
    NoticeRead,
    ObjectionCreate,
    ObjectionDecision,
    ObjectionPublic,
    ObjectionRead,
    RatingList,
    RatingRead,
    ReplyCreate,
    ReviewCreate,
    RunCreate,
    RunDetail,
    RunRead,
    objection_public,
    objection_read,
    rating_read,
    score_read,
)
from portal.accounts.models import Organization, User
from portal.accounts.permissions import Action, require
from portal.db import DbSession, utcnow
from portal.settings import Settings


def current_time() -> datetime:
    """The clock of the credit workflow (a dependency, so tests can move it)."""
    return utcnow()


Now = Annotated[datetime, Depends(current_time)]
Manager = Annotated[User, Depends(require(Action.credit_manage))]
AssociationCode = Annotated[
    str | None, Query(alias="association", description="Association code (administrators).")
]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]

router = APIRouter(prefix="/api/v1/credit", tags=["credit"])


# --- public ------------------------------------------------------------------------------------


@router.get("/ratings", response_model=RatingList, summary="Current grades, filtered")
async def list_ratings(
    session: DbSession,
    now: Now,
    industry: str | None = None,
    grade: str | None = None,
    region: str | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    page: Annotated[int, Query(ge=1, le=10000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = 20,
) -> RatingList:
    rows, total = await service.list_ratings(
        session,
        today=service.local_date(now),
        industry=industry,
        grade=grade,
        region=region,
        q=q,
        page=page,
        per_page=per_page,
    )
    return RatingList(
        items=[rating_read(r, e, o) for r, e, o in rows], total=total, page=page, per_page=per_page
    )


def enterprise_detail_schema(detail: dict[str, Any]) -> EnterpriseDetail:
    from credit.schemas import EnterpriseRead

    enterprise = detail["enterprise"]
    current = detail["current"]
    score = detail["score"]
    history = []
    for event in detail["events"]:
        body = json.loads(event.body)
        history.append(
            HistoryItem(
                seq=event.seq,
                kind=event.kind,
                at=body["at"],
                payload=body["payload"],
                hash=event.hash,
            )
        )
    return EnterpriseDetail(
        enterprise=EnterpriseRead.model_validate(enterprise),
        ratings=[rating_read(r, enterprise, o) for r, o in detail["ratings"]],
        current=rating_read(current[0], enterprise, current[1]) if current else None,
        breakdown=score.breakdown if score else None,
        evidence_hash=score.evidence_hash if score else None,
        history=history,
        open_notices=[
            {
                "batch_id": str(run.id),
                "title": run.title,
                "association": {"code": org.code, "name": org.name},
                "closes_at": run.notice_closes_at,
                "score": str(s.score),
                "grade": s.grade,
            }
            for run, s, org in detail["notices"]
        ],
    )


@router.get(
    "/enterprises/{uscc}",
    response_model=EnterpriseDetail,
    summary="An enterprise: current grade, breakdown with evidence, history, reply",
)
async def get_enterprise(session: DbSession, now: Now, uscc: str) -> EnterpriseDetail:
    detail = await service.enterprise_detail(session, uscc, today=service.local_date(now))
    return enterprise_detail_schema(detail)


def notice_schema(detail: dict[str, Any], now: datetime) -> NoticeRead:
    run = detail["run"]
    association: Organization = detail["association"]
    methodology = detail["methodology"]
    return NoticeRead(
        batch_id=run.id,
        title=run.title,
        association={"code": association.code, "name": association.name},
        status=run.status,
        as_of=run.as_of,
        methodology={
            "id": str(methodology.id),
            "code": methodology.code,
            "version": methodology.version,
            "hash": methodology.definition_hash,
        },
        opened_at=run.notice_opened_at,
        closes_at=run.notice_closes_at,
        accepting_objections=service.accepting_objections(run, now),
        scores=[score_read(s, e, breakdown=True) for s, e in detail["scores"]],
        objections=[objection_public(o, e) for o, e in detail["objections"]],
    )


@router.get("/notices", summary="Batches in 公示 and published batches")
async def list_notices(session: DbSession, now: Now) -> list[dict[str, Any]]:
    return [
        {
            "batch_id": str(run.id),
            "title": run.title,
            "association": {"code": org.code, "name": org.name},
            "status": run.status,
            "enterprise_count": run.enterprise_count,
            "opened_at": run.notice_opened_at,
            "closes_at": run.notice_closes_at,
            "accepting_objections": service.accepting_objections(run, now),
        }
        for run, org in await service.list_notices(session)
    ]


@router.get("/notices/{batch_id}", response_model=NoticeRead, summary="A 公示 list")
async def get_notice(session: DbSession, now: Now, batch_id: uuid.UUID) -> NoticeRead:
    return notice_schema(await service.notice_detail(session, batch_id), now)


@router.post(
    "/objections",
    response_model=ObjectionPublic,
    status_code=201,
    summary="Lodge an objection during the 公示 (rate limited; contact kept private)",
)
async def lodge_objection(
    request: Request, session: DbSession, settings: SettingsDep, now: Now, data: ObjectionCreate
) -> ObjectionPublic:
    await limiter_for(request).hit(client_key(request))
    objection = await service.lodge_objection(session, data=data, settings=settings, now=now)
    enterprise = await service.get_enterprise(session, objection.uscc)
    return objection_public(objection, enterprise)


@router.get(
    "/objections/{objection_id}", response_model=ObjectionPublic, summary="An objection's status"
)
async def get_objection(session: DbSession, objection_id: uuid.UUID) -> ObjectionPublic:
    objection = await service.get_objection(session, objection_id)
    return objection_public(objection, await service.get_enterprise(session, objection.uscc))


@router.get("/methodologies", response_model=list[MethodologyRead], summary="Every methodology")
async def list_methodologies(session: DbSession) -> list[MethodologyRead]:
    return [MethodologyRead.model_validate(m) for m in await service.list_methodologies(session)]


@router.get(
    "/methodologies/{methodology_id}", response_model=MethodologyRead, summary="One methodology"
)
async def get_methodology(session: DbSession, methodology_id: uuid.UUID) -> MethodologyRead:
    return MethodologyRead.model_validate(await service.get_methodology(session, methodology_id))


EXPORT_COLUMNS = [
    "uscc",
    "name",
    "industry",
    "region_code",
    "association_code",
    "association_name",
    "grade",
    "score",
    "valid_from",
    "valid_until",
    "methodology_code",
    "methodology_version",
    "under_review",
]


async def _export_rows(session: DbSession, now: datetime) -> list[dict[str, Any]]:
    rows, _ = await service.list_ratings(session, today=service.local_date(now), per_page=0)
    out = []
    for rating, enterprise, org in rows:
        out.append(
            {
                "uscc": enterprise.uscc,
                "name": enterprise.name,
                "industry": enterprise.industry or "",
                "region_code": enterprise.region_code,
                "association_code": org.code,
                "association_name": org.name,
                "grade": rating.grade,
                "score": str(rating.score),
                "valid_from": rating.valid_from.isoformat(),
                "valid_until": rating.valid_until.isoformat(),
                "methodology_code": rating.methodology_code,
                "methodology_version": rating.methodology_version,
                "under_review": rating.under_review,
            }
        )
    return out


@router.get(
    "/exports/ratings.csv",
    summary="Current grades as CSV (UTF-8 with BOM for Excel)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
)
async def export_csv(session: DbSession, now: Now) -> Response:
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(await _export_rows(session, now))
    return Response(
        buffer.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="credit-ratings.csv"'},
    )


@router.get("/exports/ratings.json", summary="Current grades as JSON")
async def export_json(session: DbSession, now: Now) -> JSONResponse:
    rows = await _export_rows(session, now)
    return JSONResponse(
        {"generated_at": now.isoformat(), "count": len(rows), "ratings": rows},
        headers={"Content-Disposition": 'attachment; filename="credit-ratings.json"'},
    )


FEED_TITLES = {
    "rating.published": "发布信用等级",
    "rating.reviewed": "复核信用等级",
    "rating.expired": "信用等级到期",
    "run.published": "发布评价批次",
}


@router.get(
    "/feed.json",
    summary="JSON Feed 1.1 of publications, reviews and expiries",
    response_class=JSONResponse,
    responses={200: {"content": {"application/feed+json": {"schema": {"type": "object"}}}}},
)
async def feed(session: DbSession, settings: SettingsDep) -> JSONResponse:
    base = settings.base_url.rstrip("/")
    items = []
    for event in await service.feed_events(session):
        body = json.loads(event.body)
        payload = body["payload"]
        association = (body.get("association") or {}).get("name", "")
        if event.uscc:
            name = payload.get("enterprise_name") or event.uscc
            grade = payload.get("grade") or payload.get("grade_after") or ""
            title = f"{association}：{name} {FEED_TITLES[event.kind]} {grade}".strip()
            url = f"{base}/credit/enterprises/{event.uscc}"
        else:
            title = f"{association}：{FEED_TITLES[event.kind]}（{payload.get('enterprise_count')} 家企业）"
            url = f"{base}/credit/notices/{body['run_id']}"
        items.append(
            {
                "id": str(event.id),
                "url": url,
                "title": title,
                "content_text": title,
                "date_published": body["at"],
                "_gongzhi": {"seq": event.seq, "kind": event.kind, "hash": event.hash},
            }
        )
    return JSONResponse(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "共治 · 行业计量诚信评价发布",
            "home_page_url": f"{base}/credit",
            "feed_url": f"{base}/api/v1/credit/feed.json",
            "language": "zh-CN",
            "items": items,
        },
        media_type="application/feed+json",
    )


@router.get("/ledger", response_model=LedgerPage, summary="The signed, hash-chained public record")
async def ledger(
    session: DbSession,
    settings: SettingsDep,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> LedgerPage:
    key = service.signing_key(settings)
    events = await service.ledger_entries(session, after=after, limit=limit)
    head = await service.ledger_head(session)
    next_link = None
    if events and head is not None and events[-1].seq < head.seq:
        next_link = f"/api/v1/credit/ledger?after={events[-1].seq}&limit={limit}"
    return LedgerPage(
        entries=[entry_json(e) for e in events],
        next=next_link,
        head={
            "seq": head.seq,
            "hash": head.hash,
            "key_id": key.key_id,
            "signature": key.sign(head_message(head.seq, head.hash)),
        }
        if head
        else None,
        public_keys=[
            {
                "key_id": key.key_id,
                "algorithm": "Ed25519",
                "public_key": key.public_key_raw_b64(),
                "pem": key.public_key_pem(),
            }
        ],
    )


# --- association -------------------------------------------------------------------------------

manage = APIRouter(prefix="/association", tags=["credit-association"])


@manage.get("/members", response_model=list[MemberRead], summary="Current members")
async def list_members(
    session: DbSession, actor: Manager, association: AssociationCode = None
) -> list[MemberRead]:
    org = await service.acting_association(session, actor, association)
    return [
        MemberRead(
            uscc=e.uscc,
            name=e.name,
            industry=e.industry,
            region_code=e.region_code,
            address=e.address,
            joined_on=m.joined_on,
            indicators=indicators,
        )
        for e, m, indicators in await service.list_members(session, org)
    ]


@manage.post("/members", response_model=MemberRead, status_code=201, summary="Add a member")
async def add_member(
    session: DbSession,
    actor: Manager,
    now: Now,
    data: EnterpriseCreate,
    association: AssociationCode = None,
) -> MemberRead:
    org = await service.acting_association(session, actor, association)
    enterprise, membership = await service.add_member(
        session, actor=actor, association=org, data=data, now=now
    )
    return MemberRead(
        uscc=enterprise.uscc,
        name=enterprise.name,
        industry=enterprise.industry,
        region_code=enterprise.region_code,
        address=enterprise.address,
        joined_on=membership.joined_on,
    )


@manage.delete("/members/{uscc}", status_code=204, summary="End a membership")
async def remove_member(
    session: DbSession, actor: Manager, now: Now, uscc: str, association: AssociationCode = None
) -> Response:
    org = await service.acting_association(session, actor, association)
    await service.remove_member(session, actor=actor, association=org, uscc=uscc, now=now)
    return Response(status_code=204)


@manage.put(
    "/members/{uscc}/indicators",
    response_model=dict[str, bool],
    summary="Set association-entered indicators",
)
async def set_indicators(
    session: DbSession,
    actor: Manager,
    now: Now,
    uscc: str,
    data: IndicatorValues,
    association: AssociationCode = None,
) -> dict[str, bool]:
    org = await service.acting_association(session, actor, association)
    return await service.set_indicators(
        session, actor=actor, association=org, uscc=uscc, data=data, now=now
    )


@manage.post(
    "/methodologies",
    response_model=MethodologyRead,
    status_code=201,
    summary="Publish a new version of the association's methodology",
)
async def create_methodology(
    session: DbSession,
    actor: Manager,
    settings: SettingsDep,
    now: Now,
    data: MethodologyCreate,
    association: AssociationCode = None,
) -> MethodologyRead:
    org = await service.acting_association(session, actor, association)
    row = await service.create_methodology(
        session, actor=actor, association=org, data=data, settings=settings, now=now
    )
    return MethodologyRead.model_validate(row)


@manage.get("/runs", response_model=list[RunRead], summary="The association's batches")
async def list_runs(
    session: DbSession, actor: Manager, association: AssociationCode = None
) -> list[RunRead]:
    org = await service.acting_association(session, actor, association)
    return [RunRead.model_validate(r) for r in await service.list_runs(session, org)]


async def _run_detail(session: DbSession, run_id: uuid.UUID, org: Organization) -> RunDetail:
    run = await service.get_run(session, run_id, association=org)
    methodology = await service.get_methodology(session, run.methodology_id)
    return RunDetail(
        **RunRead.model_validate(run).model_dump(),
        methodology=MethodologyRead.model_validate(methodology),
        scores=[
            score_read(s, e, breakdown=True) for s, e in await service.run_scores(session, run.id)
        ],
    )


@manage.post("/runs", response_model=RunDetail, status_code=201, summary="Score every member")
async def start_run(
    session: DbSession,
    actor: Manager,
    settings: SettingsDep,
    now: Now,
    data: RunCreate,
    association: AssociationCode = None,
) -> RunDetail:
    org = await service.acting_association(session, actor, association)
    run = await service.start_run(
        session, actor=actor, association=org, data=data, settings=settings, now=now
    )
    return await _run_detail(session, run.id, org)


@manage.get("/runs/{run_id}", response_model=RunDetail, summary="A batch with its drafts")
async def get_run(
    session: DbSession, actor: Manager, run_id: uuid.UUID, association: AssociationCode = None
) -> RunDetail:
    org = await service.acting_association(session, actor, association)
    return await _run_detail(session, run_id, org)


@manage.post("/runs/{run_id}/notice", response_model=RunRead, summary="Open the 公示")
async def open_notice(
    session: DbSession,
    actor: Manager,
    settings: SettingsDep,
    now: Now,
    run_id: uuid.UUID,
    association: AssociationCode = None,
) -> RunRead:
    org = await service.acting_association(session, actor, association)
    run = await service.open_notice(
        session, actor=actor, association=org, run_id=run_id, settings=settings, now=now
    )
    return RunRead.model_validate(run)


@manage.post("/runs/{run_id}/publish", response_model=RunRead, summary="Publish the grades")
async def publish_run(
    session: DbSession,
    actor: Manager,
    settings: SettingsDep,
    now: Now,
    run_id: uuid.UUID,
    association: AssociationCode = None,
) -> RunRead:
    org = await service.acting_association(session, actor, association)
    run = await service.publish_run(
        session, actor=actor, association=org, run_id=run_id, settings=settings, now=now
    )
    return RunRead.model_validate(run)


@manage.get(
    "/objections", response_model=list[ObjectionRead], summary="Objections, with objector details"
)
async def list_objections(
    session: DbSession,
    actor: Manager,
    run_id: uuid.UUID | None = None,
    status: ObjectionStatus | None = None,
    association: AssociationCode = None,
) -> list[ObjectionRead]:
    org = await service.acting_association(session, actor, association)
    rows = await service.list_objections(session, association=org, run_id=run_id, status=status)
    return [objection_read(o, e) for o, e in rows]


@manage.post(
    "/objections/{objection_id}/decision",
    response_model=ObjectionRead,
    summary="Decide an objection with written reasons",
)
async def decide_objection(
    session: DbSession,
    actor: Manager,
    settings: SettingsDep,
    now: Now,
    objection_id: uuid.UUID,
    data: ObjectionDecision,
    association: AssociationCode = None,
) -> ObjectionRead:
    org = await service.acting_association(session, actor, association)
    objection = await service.decide_objection(
        session,
        actor=actor,
        association=org,
        objection_id=objection_id,
        data=data,
        settings=settings,
        now=now,
    )
    return objection_read(objection, await service.get_enterprise(session, objection.uscc))


@manage.post("/ratings/{uscc}/review", response_model=RatingRead, summary="Keep, downgrade, cancel")
async def review_rating(
    session: DbSession,
    actor: Manager,
    settings: SettingsDep,
    now: Now,
    uscc: str,
    data: ReviewCreate,
    association: AssociationCode = None,
) -> RatingRead:
    org = await service.acting_association(session, actor, association)
    rating = await service.review_rating(
        session, actor=actor, association=org, uscc=uscc, data=data, settings=settings, now=now
    )
    return rating_read(rating, await service.get_enterprise(session, rating.uscc), org)


@manage.post(
    "/ratings/{uscc}/reply", response_model=RatingRead, summary="Publish the enterprise's reply"
)
async def publish_reply(
    session: DbSession,
    actor: Manager,
    settings: SettingsDep,
    now: Now,
    uscc: str,
    data: ReplyCreate,
    association: AssociationCode = None,
) -> RatingRead:
    org = await service.acting_association(session, actor, association)
    rating = await service.publish_reply(
        session, actor=actor, association=org, uscc=uscc, data=data, settings=settings, now=now
    )
    return rating_read(rating, await service.get_enterprise(session, rating.uscc), org)


@manage.get("/ratings", response_model=list[RatingRead], summary="Current grades, flagged first")
async def association_ratings(
    session: DbSession, actor: Manager, association: AssociationCode = None
) -> list[RatingRead]:
    org = await service.acting_association(session, actor, association)
    return [rating_read(r, e, org) for r, e in await service.pending_reviews(session, org)]


router.include_router(manage)
