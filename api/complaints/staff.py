"""What handling staff read: the case queue of their region and one case in full."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from api.complaints.deadlines import deadlines_of
from api.complaints.documents import DocumentText, document_text, documents_of
from api.complaints.errors import CaseNotFound, DocumentNotForYou
from api.complaints.media import photos_of, signed_urls
from api.complaints.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    CaseKind,
    CaseParty,
    CaseStatus,
)
from api.complaints.schemas import (
    EventRead,
    PartyRead,
    StaffCaseRead,
    StaffCaseSummary,
    StaffPhoto,
)
from api.complaints.settings import ComplaintsSettings
from api.complaints.tracking import category_name, summary, tracking_number_of
from api.complaints.vocabulary import status_name
from portal.accounts.models import Role, User
from portal.accounts.permissions import Action, authorize
from portal.audit.service import record
from portal.pagination import PageRequest
from portal.privacy import mask_person_name, mask_phone
from portal.regions.service import significant_prefix
from portal.settings import Settings


def _by_urgency() -> list[Any]:
    """The order staff work in: open cases before finished ones, overdue first, then by the
    deadline that runs now (acceptance for a complaint not yet accepted, handling otherwise),
    the nearest first; cases without a deadline and finished ones newest first."""
    open_statuses = [s.value for s in OPEN_STATUSES]
    current_due = sql_case(
        (
            (col(Case.kind) == CaseKind.complaint.value)
            & (col(Case.status) == CaseStatus.received.value),
            col(Case.acceptance_due),
        ),
        else_=col(Case.handling_due),
    )
    is_open = sql_case((col(Case.status).in_(open_statuses), 0), else_=1)
    return [
        is_open,
        col(Case.overdue).desc(),
        sql_case((current_due.is_(None), 1), else_=0),
        sql_case((col(Case.status).in_(open_statuses), current_due), else_=None),
        col(Case.received_at).desc(),
    ]


async def staff_queue(
    session: AsyncSession,
    actor: User,
    *,
    status: CaseStatus | None,
    region: str | None,
    overdue: bool | None,
    kind: CaseKind | None,
    page: PageRequest,
) -> tuple[list[StaffCaseSummary], int]:
    region = region or actor.region_code
    authorize(actor, Action.case_handle, region_code=region)
    stmt = select(Case)
    if region:
        stmt = stmt.where(col(Case.region_code).startswith(significant_prefix(region)))
    if status is not None:
        stmt = stmt.where(col(Case.status) == status.value)
    if overdue is not None:
        stmt = stmt.where(col(Case.overdue).is_(overdue))
    if kind is not None:
        stmt = stmt.where(col(Case.kind) == kind.value)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = await session.scalars(
        stmt.order_by(*_by_urgency()).limit(page.limit).offset(page.offset)
    )
    items = [
        StaffCaseSummary(
            **summary(case).model_dump(),
            id=case.id,
            region_code=case.region_code,
            business_name=case.business_name,
            overdue=case.overdue,
            assignee_id=case.assignee_id,
        )
        for case in rows
    ]
    return items, int(total or 0)


async def load_for_staff(session: AsyncSession, case_id: uuid.UUID, actor: User) -> Case:
    case = await session.get(Case, case_id)
    if case is None:
        raise CaseNotFound("No such case.", detail_zh="案件不存在。")
    authorize(actor, Action.case_handle, region_code=case.region_code)
    return case


def _party(party: CaseParty, *, handling: bool) -> PartyRead:
    if handling:
        return PartyRead(
            role=party.role.value,
            name=party.name,
            phone=party.phone,
            id_number=party.id_number,
            address=party.address,
            email=party.email,
        )
    return PartyRead(
        role=party.role.value,
        name=mask_person_name(party.name),
        phone=mask_phone(party.phone),
        id_number=None,
        address=None,
        email=None,
    )


async def staff_case(
    session: AsyncSession,
    case_id: uuid.UUID,
    *,
    settings: Settings,
    actor: User,
    sent_away: bool = False,
) -> StaffCaseRead:
    """The case for its handling staff. ``sent_away``: the answer to the action that just
    transferred it out of the actor's region, who sees it once more, with the persons masked."""
    if sent_away:
        found = await session.get(Case, case_id)
        if found is None:
            raise CaseNotFound("No such case.", detail_zh="案件不存在。")
        case = found
    else:
        case = await load_for_staff(session, case_id, actor)
    parties = list(
        await session.scalars(select(CaseParty).where(col(CaseParty.case_id) == case.id))
    )
    events = await session.scalars(
        select(CaseEvent).where(col(CaseEvent.case_id) == case.id).order_by(col(CaseEvent.at))
    )
    # A complainant's or reporter's identity is for the handling regulator only: an administrator
    # (allowed everywhere for oversight) sees the case with the persons masked.
    handling = actor.role == Role.regulator and not sent_away
    if parties and handling:
        # Reading a complainant's or reporter's identity is itself recorded.
        await record(
            session,
            actor=actor,
            action="case.parties.view",
            entity_type="case",
            entity_id=case.id,
            region_code=case.region_code,
        )
    base = settings.base_url.rstrip("/")
    return StaffCaseRead(
        id=case.id,
        tracking_number=case.tracking_number,
        kind=case.kind,
        category=case.category,
        category_name=category_name(case.category),
        status=case.status,
        status_name=status_name(case),
        source=case.source.value,
        description=case.description,
        request=case.request,
        extra=case.extra,
        business_name=case.business_name,
        business_uscc=case.business_uscc,
        business_address=case.business_address,
        lat=case.lat,
        lng=case.lng,
        region_code=case.region_code,
        instrument_token=case.instrument_token,
        certificate_number=case.certificate_number,
        instrument_id=case.instrument_id,
        media_url=case.media_url,
        anonymous=case.anonymous,
        assignee_id=case.assignee_id,
        finding=case.finding,
        reject_reason=case.reject_reason,
        linked_tracking_number=await tracking_number_of(session, case.linked_case_id),
        merged_into_tracking_number=await tracking_number_of(session, case.merged_into_id),
        received_at=case.received_at,
        accepted_at=case.accepted_at,
        concluded_at=case.concluded_at,
        closed_at=case.closed_at,
        deadlines=deadlines_of(case),
        parties=[_party(p, handling=handling) for p in parties],
        personal_data_erased_at=case.personal_data_erased_at,
        events=[
            EventRead(
                at=e.at,
                type=e.type,
                public=e.public,
                actor_id=e.actor_id,
                from_status=e.from_status,
                to_status=e.to_status,
                body=e.body,
                data=e.data,
            )
            for e in events
        ],
        photos=[
            StaffPhoto(
                id=m.id,
                sha256=m.sha256,
                content_type=m.content_type,
                size=m.size,
                width=m.width,
                height=m.height,
                taken_at=m.taken_at,
                urls=signed_urls(settings, m.id),
                original_url=f"{base}/api/v1/staff/media/{m.id}/original",
            )
            for m in await photos_of(session, case)
        ],
        documents=await documents_of(session, case),
        dispatched_from=case.dispatched_from,
        dispute_region=case.dispute_region,
        dispute_due=case.dispute_due,
        dispute_escalated_to=case.dispute_escalated_to,
    )


async def document_for_staff(
    session: AsyncSession,
    case_id: uuid.UUID,
    document_id: uuid.UUID,
    *,
    config: ComplaintsSettings,
    actor: User,
) -> DocumentText:
    """One of the case's documents for the handling regulator of its region: it names the
    complainant, whom an administrator (oversight, persons masked) does not see either."""
    if actor.role is not Role.regulator:
        raise DocumentNotForYou()
    case = await load_for_staff(session, case_id, actor)
    text = await document_text(session, case, document_id, config)
    await record(
        session,
        actor=actor,
        action="case.document.download",
        entity_type="case",
        entity_id=case.id,
        region_code=case.region_code,
        after={"document_id": str(document_id), "title": text.title},
    )
    return text
