"""JSON API of enforcement notices: the public reads a notice on display; regulators publish,
correct and withdraw notices in their region."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from notices import service
from notices.models import EnforcementNotice
from notices.public import listing_dates, notice_url, public_party_name, public_text, today
from notices.schemas import (
    EnforcementNoticeCreate,
    EnforcementNoticeListing,
    EnforcementNoticeRead,
    EnforcementNoticeUpdate,
    EnforcementNoticeWithdrawal,
)
from notices.settings import NoticesConfig
from portal.accounts.models import User
from portal.accounts.permissions import Action, require
from portal.db import DbSession, read_public
from portal.deps import PublicAnswer
from portal.errors import NotFound
from portal.pagination import Page, PageParams

router = APIRouter(prefix="/api/v1", tags=["notices"])

Regulator = Annotated[User, Depends(require(Action.notice_publish))]


def notice_read(notice: EnforcementNotice, *, staff: bool = False) -> EnforcementNoticeRead:
    listed = listing_dates(notice, today())

    def shown(text: str) -> str:
        return text if staff else public_text(notice, text)

    return EnforcementNoticeRead(
        id=notice.id,
        title=shown(notice.title),
        decision_number=notice.decision_number,
        party_name=notice.party_name if staff else public_party_name(notice),
        party_uscc=notice.party_uscc,
        party_kind=notice.party_kind,
        violation=shown(notice.violation),
        legal_basis=shown(notice.legal_basis),
        penalty_kind=notice.penalty_kind,
        penalty_amount=notice.penalty_amount,
        authority=notice.authority,
        region_code=notice.region_code,
        decision_date=notice.decision_date,
        published_on=notice.published_on,
        display_until=notice.display_until,
        status=notice.status,
        url=notice_url(notice.id),
        serious_dishonesty_list=EnforcementNoticeListing(
            entered_on=listed[0], listed_until=listed[1], removed_on=listed[2]
        )
        if listed
        else None,
    )


@router.get(
    "/notices/{notice_id}",
    summary="An enforcement notice within its display period",
    dependencies=[PublicAnswer],
)
async def get_notice(request: Request, notice_id: uuid.UUID) -> EnforcementNoticeRead:
    notice = await read_public(
        request, lambda session: service.get_public_notice(session, notice_id), missing=NotFound
    )
    return notice_read(notice)


@router.get("/notices", summary="Notices in the regulator's region, newest first")
async def list_notices(
    request: Request, session: DbSession, user: Regulator, page: PageParams
) -> Page[EnforcementNoticeRead]:
    notices, total = await service.list_notices_for_staff(session, actor=user, page=page)
    return Page.of(
        [notice_read(n, staff=True) for n in notices], total=total, request=page, url=request
    )


@router.post("/notices", status_code=201, summary="Publish an enforcement notice (own region)")
async def create_notice(
    session: DbSession, user: Regulator, config: NoticesConfig, data: EnforcementNoticeCreate
) -> EnforcementNoticeRead:
    notice = await service.create_notice(session, data, actor=user, settings=config)
    return notice_read(notice, staff=True)


@router.patch("/notices/{notice_id}", summary="Correct a notice on display")
async def update_notice(
    session: DbSession,
    user: Regulator,
    config: NoticesConfig,
    notice_id: uuid.UUID,
    data: EnforcementNoticeUpdate,
) -> EnforcementNoticeRead:
    notice = await service.update_notice(session, notice_id, data, actor=user, settings=config)
    return notice_read(notice, staff=True)


@router.post("/notices/{notice_id}/withdraw", summary="Withdraw a notice from public view")
async def withdraw_notice(
    session: DbSession, user: Regulator, notice_id: uuid.UUID, data: EnforcementNoticeWithdrawal
) -> EnforcementNoticeRead:
    notice = await service.withdraw_notice(session, notice_id, reason=data.reason, actor=user)
    return notice_read(notice, staff=True)
