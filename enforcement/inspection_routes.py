"""JSON API of field inspections (移动执法终端): a bureau ties 执法证号 to accounts; a drawn
inspector lists their inspections and records each once (idempotent); anyone reads a campaign's
published results (一公开)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request

from enforcement import inspections, results
from enforcement.models import Inspection
from enforcement.schemas import (
    Badge,
    InspectionCheckRead,
    InspectionPhotoRead,
    InspectionRead,
    InspectionResultCreate,
    InspectionResultPublic,
    InspectionSummary,
    InspectorAccount,
    InspectorRead,
    SiteInstrumentRead,
)
from enforcement.settings import EnforcementConfig
from portal import clock, facts
from portal.accounts.models import User
from portal.accounts.permissions import Action, require
from portal.db import DbSession
from portal.deps import PublicAnswer, SettingsDep
from portal.pagination import Page, PageParams

router = APIRouter(tags=["enforcement"])

# Inspectors and supervisors are both bureau staff; which inspection is whose is the service's.
Staff = Annotated[User, Depends(require(Action.inspection_manage))]


def summary(i: Inspection, title: str) -> InspectionSummary:
    return InspectionSummary(
        id=i.id,
        campaign_id=i.campaign_id,
        campaign_title=title,
        site_id=i.site_id,
        site_name=i.site_name,
        district=i.district,
        inspectors=i.inspectors,
        status=i.status.value,
        outcome=i.outcome,
        inspected_at=i.inspected_at,
        publish_on=i.publish_on,
    )


async def detail(session: DbSession, settings: object, i: Inspection) -> InspectionRead:
    found = await inspections.instruments(session, i)
    photos = await facts.photo_links(session, settings, media_ids=[uuid.UUID(p) for p in i.photos])
    return InspectionRead(
        **summary(i, await inspections.campaign_title(session, i)).model_dump(),
        instruments=[
            SiteInstrumentRead(
                registration_id=x.registration_id,
                category_code=x.category_code,
                serial=x.serial,
                location=x.location,
                usage_area=x.usage_area,
                state=x.state,
            )
            for x in found
        ],
        checks=[InspectionCheckRead.model_validate(c) for c in i.checks],
        photos=[
            InspectionPhotoRead(
                id=p.media_id, display_url=p.display_url, thumbnail_url=p.thumbnail_url
            )
            for p in photos
        ],
        acknowledgement=i.acknowledgement,
        signatory=i.signatory,
        note=i.note,
        findings=i.findings,
        follow_up=i.follow_up,
    )


@router.put("/enforcement/inspectors/{badge}", summary="Tie a 执法证号 to a regulator account")
async def tie_inspector(
    session: DbSession, user: Staff, badge: Badge, data: InspectorAccount
) -> InspectorRead:
    found = await inspections.tie_badge(session, badge=badge, user_id=data.user_id, actor=user)
    return InspectorRead(badge=found.badge, user_id=found.user_id, created_at=found.created_at)


@router.get(
    "/enforcement/inspections",
    summary="Inspections: mine=1 the caller's own as a drawn inspector, else the region's",
)
async def list_inspections(
    request: Request,
    session: DbSession,
    user: Staff,
    page: PageParams,
    mine: Annotated[bool, Query()] = False,
    campaign: uuid.UUID | None = None,
) -> Page[InspectionSummary]:
    found, total = await inspections.list_for(
        session, actor=user, mine=mine, campaign_id=campaign, page=page
    )
    items = [summary(f.inspection, f.campaign_title) for f in found]
    return Page.of(items, total=total, request=page, url=request)


@router.get("/enforcement/inspections/{inspection_id}", summary="One inspection with its form")
async def get_inspection(
    session: DbSession, settings: SettingsDep, user: Staff, inspection_id: uuid.UUID
) -> InspectionRead:
    return await detail(
        session, settings, await inspections.get(session, inspection_id, actor=user)
    )


@router.put(
    "/enforcement/inspections/{inspection_id}/result",
    summary="Record the result once; a replay with the same Idempotency-Key answers the same",
)
async def record_result(
    session: DbSession,
    settings: SettingsDep,
    config: EnforcementConfig,
    user: Staff,
    inspection_id: uuid.UUID,
    data: InspectionResultCreate,
    idempotency_key: Annotated[uuid.UUID, Header(alias="Idempotency-Key")],
) -> InspectionRead:
    done = await inspections.record(
        session, inspection_id, data, key=idempotency_key, actor=user, settings=config
    )
    return await detail(session, settings, done)


@router.get(
    "/inspection-campaigns/{campaign_id}/results",
    summary="A campaign's published inspection results (一公开)",
    dependencies=[PublicAnswer],
)
async def published_results(
    request: Request, session: DbSession, page: PageParams, campaign_id: uuid.UUID
) -> Page[InspectionResultPublic]:
    found, total = await results.published(session, campaign_id, page=page)
    items = [
        InspectionResultPublic(
            id=i.id,
            site_name=i.site_name,
            district=i.district,
            outcome=i.outcome,
            findings=i.findings,
            follow_up=i.follow_up,
            inspected_on=clock.local_date(i.inspected_at),  # type: ignore[arg-type]  # done: set
            published_on=i.publish_on,
        )
        for i in found
    ]
    return Page.of(items, total=total, request=page, url=request)
