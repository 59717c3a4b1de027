"""JSON API of the follow-ups of failed inspections (后续处置): the region's bureau lists them
(by status, kind, overdue), reads one with its events, and moves it: corrected, case filed,
closed (follow_ups.py says which step each status allows)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from enforcement import follow_ups
from enforcement.follow_up_schemas import (
    FollowUpCase,
    FollowUpClose,
    FollowUpCorrection,
    FollowUpDetail,
    FollowUpEventRead,
    FollowUpKindName,
    FollowUpRead,
    FollowUpShownStatus,
)
from enforcement.models import FollowUp, FollowUpKind
from portal import clock
from portal.accounts.models import User
from portal.accounts.permissions import Action, require
from portal.db import DbSession
from portal.pagination import Page, PageParams

router = APIRouter(tags=["enforcement"])

Bureau = Annotated[User, Depends(require(Action.inspection_manage))]


def follow_up_read(f: FollowUp) -> FollowUpRead:
    today = clock.today()
    return FollowUpRead(
        id=f.id,
        inspection_id=f.inspection_id,
        campaign_id=f.campaign_id,
        site_id=f.site_id,
        site_name=f.site_name,
        district=f.district,
        kind=f.kind.value,
        status=follow_ups.shown_status(f, today),
        overdue=follow_ups.is_overdue(f, today),
        findings=f.findings,
        ordered_on=f.ordered_on,
        working_days=f.working_days,
        deadline=f.deadline,
        evidence=f.evidence,
        reinspected_on=f.reinspected_on,
        case_number=f.case_number,
        outcome=f.outcome,
        created_at=f.created_at,
        updated_at=f.updated_at,
    )


async def follow_up_detail(session: DbSession, f: FollowUp) -> FollowUpDetail:
    return FollowUpDetail(
        **follow_up_read(f).model_dump(),
        events=[
            FollowUpEventRead(action=e.action, actor_name=e.actor_name, note=e.note, at=e.at)
            for e in await follow_ups.events(session, f)
        ],
    )


@router.get(
    "/enforcement/follow-ups",
    summary="The region's follow-ups of failed inspections, open ones by deadline first",
)
async def list_follow_ups(
    request: Request,
    session: DbSession,
    user: Bureau,
    page: PageParams,
    status: Annotated[FollowUpShownStatus | None, Query()] = None,
    kind: Annotated[FollowUpKindName | None, Query()] = None,
    overdue: Annotated[bool | None, Query()] = None,
    site: Annotated[uuid.UUID | None, Query()] = None,
) -> Page[FollowUpRead]:
    found, total = await follow_ups.list_for(
        session,
        actor=user,
        status=status,
        kind=FollowUpKind(kind) if kind else None,
        overdue=overdue,
        site_id=site,
        page=page,
    )
    return Page.of([follow_up_read(f) for f in found], total=total, request=page, url=request)


@router.get("/enforcement/follow-ups/{follow_up_id}", summary="One follow-up with its events")
async def get_follow_up(
    session: DbSession, user: Bureau, follow_up_id: uuid.UUID
) -> FollowUpDetail:
    return await follow_up_detail(session, await follow_ups.get(session, follow_up_id, actor=user))


@router.post(
    "/enforcement/follow-ups/{follow_up_id}/correction",
    summary="责令改正 complied with: the re-inspection's date and what it saw",
)
async def correct_follow_up(
    session: DbSession, user: Bureau, follow_up_id: uuid.UUID, data: FollowUpCorrection
) -> FollowUpDetail:
    done = await follow_ups.record_correction(
        session,
        follow_up_id,
        actor=user,
        evidence=data.evidence,
        reinspected_on=data.reinspected_on,
    )
    return await follow_up_detail(session, done)


@router.post(
    "/enforcement/follow-ups/{follow_up_id}/case", summary="立案: file the case, with its number"
)
async def file_follow_up_case(
    session: DbSession, user: Bureau, follow_up_id: uuid.UUID, data: FollowUpCase
) -> FollowUpDetail:
    done = await follow_ups.file_case(
        session, follow_up_id, actor=user, case_number=data.case_number, note=data.note
    )
    return await follow_up_detail(session, done)


@router.post("/enforcement/follow-ups/{follow_up_id}/close", summary="办结, with how it ended")
async def close_follow_up(
    session: DbSession, user: Bureau, follow_up_id: uuid.UUID, data: FollowUpClose
) -> FollowUpDetail:
    done = await follow_ups.close(
        session,
        follow_up_id,
        actor=user,
        outcome=data.outcome,
        expected_status=data.expected_status,
    )
    return await follow_up_detail(session, done)
