"""Held certificates (待核对): a certificate whose registered instrument is ambiguous waits for
the bureau of the instrument's region, which attaches it to one of the candidates or makes it a
new instrument. Each resolution writes the certificate row and an instrument event; an
instrument's owner is never changed here (store.py ``match_instrument`` decides what is held).

The institution sees its own held certificates (without the candidates: other owners' data);
a regulator those of its region and below; an administrator all.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.certificates.catalogue import catalogue
from api.certificates.errors import (
    InvalidResolution,
    OutsideAuthorisedScope,
    ReviewNotFound,
    ReviewResolved,
)
from api.certificates.models import (
    CertificateReview,
    InstrumentEvent,
    ReviewStatus,
)
from api.certificates.queries import certificates, instruments
from api.certificates.schemas import (
    REVIEW_REASON_ZH,
    REVIEW_STATUS_ZH,
    ReviewCandidate,
    ReviewRead,
    ReviewResolve,
)
from api.certificates.scope import load_scope, region_names
from api.certificates.settings import CertificatesSettings
from api.certificates.store import bulk_insert, new_sticker_token, row_from_data, same_owner
from portal import clock, facts
from portal.accounts.models import Organization, Role, User
from portal.accounts.permissions import Action, authorize
from portal.audit import service as audit
from portal.db import utcnow
from portal.errors import Forbidden
from portal.pagination import PageRequest
from portal.regions.service import code_bounds, covers

# In place of the owner of a candidate outside the reader's region.
OTHER_REGION_ZH = "其他辖区的使用单位（由平台管理员核对）"


def _check_read(actor: User, review: CertificateReview) -> None:
    if actor.role == Role.institution:
        authorize(actor, Action.certificate_issue, organization_id=review.institution_id)
    else:
        authorize(actor, Action.certificate_review, region_code=review.region_code)


async def get_review(
    session: AsyncSession, review_id: uuid.UUID, *, actor: User
) -> CertificateReview:
    authorize(
        actor,
        Action.certificate_issue if actor.role == Role.institution else Action.certificate_review,
    )
    review = await session.get(CertificateReview, review_id)
    if review is None:
        raise ReviewNotFound()
    try:
        _check_read(actor, review)
    except Forbidden:
        if actor.role in (Role.institution, Role.regulator):
            raise ReviewNotFound() from None  # another institution's or region's: not revealed
        raise
    return review


async def list_reviews(
    session: AsyncSession,
    *,
    actor: User,
    page: PageRequest,
    status: ReviewStatus | None = ReviewStatus.open,
) -> tuple[list[CertificateReview], int]:
    stmt = select(CertificateReview)
    if actor.role == Role.institution:
        authorize(actor, Action.certificate_issue)
        stmt = stmt.where(col(CertificateReview.institution_id) == actor.organization_id)
    else:
        authorize(actor, Action.certificate_review)
        if actor.role != Role.admin:
            low, high = code_bounds(actor.region_code or "")
            stmt = stmt.where(
                col(CertificateReview.region_code) >= low,
                col(CertificateReview.region_code) < high,
            )
    if status is not None:
        stmt = stmt.where(col(CertificateReview.status) == status)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = await session.scalars(
        stmt.order_by(col(CertificateReview.created_at), col(CertificateReview.id))
        .limit(page.limit)
        .offset(page.offset)
    )
    return list(rows.all()), total


async def _next_variant(session: AsyncSession, key: tuple[str, str, str]) -> int:
    top = await session.scalar(
        select(func.max(instruments.c.variant)).where(
            instruments.c.category_code == key[0],
            instruments.c.serial == key[1],
            instruments.c.manufacturer == key[2],
        )
    )
    return 0 if top is None else top + 1


async def resolve_review(
    session: AsyncSession,
    review_id: uuid.UUID,
    data: ReviewResolve,
    *,
    actor: User,
    settings: CertificatesSettings,
) -> CertificateReview:
    """The bureau's decision: attach to one of the candidates, or a new instrument."""
    authorize(actor, Action.certificate_review)
    review = await session.get(CertificateReview, review_id, with_for_update=True)
    if review is None:
        raise ReviewNotFound()
    try:
        authorize(actor, Action.certificate_review, region_code=review.region_code)
    except Forbidden:
        if actor.role == Role.regulator:
            raise ReviewNotFound() from None
        raise
    if review.status != ReviewStatus.open:
        raise ReviewResolved()
    row = row_from_data(review.row)
    key = (row.category_code, row.serial, row.manufacturer)
    now = utcnow()
    candidate: dict[str, Any] | None = None
    if data.action == "attach":
        candidate = next((c for c in review.candidates if c["id"] == str(data.candidate_id)), None)
        if candidate is None:
            raise InvalidResolution()
        # The review sits with the bureau of the first candidate when no province covers them
        # all (store.common_region): attaching writes the candidate's instrument or registration,
        # which only a regulator of the candidate's own region (or the administrator) may do.
        authorize(actor, Action.certificate_review, region_code=candidate["region_code"])
        # The certificate was checked against the institution's scope with the region it
        # states (store.py: a held certificate's instrument is the bureau's decision); the
        # candidate chosen may lie elsewhere, outside the area the institution is authorised
        # for, and attaching it there put an unauthorised certificate in the registry.
        scope = await load_scope(
            session, review.institution_id, required=settings.require_institution_scope
        )
        problem = (
            scope.problem(
                row.category_code, [row.region_code, candidate["region_code"]], row.verified_on
            )
            if scope is not None
            else None
        )
        if problem is not None:
            raise OutsideAuthorisedScope(
                problem.reason,
                detail_zh=problem.reason_zh,
                errors=[
                    {"field": problem.column, "type": problem.code, "message": problem.reason,
                     "message_zh": problem.reason_zh}
                ],
            )  # fmt: skip
    # Claimed before anything is written: only the request whose UPDATE finds the review still
    # open goes on. PostgreSQL's row lock above already serialises two resolutions; SQLite has
    # no FOR UPDATE, and two bureaus' clicks read "open" at once, then both wrote an instrument
    # (the second a duplicate variant: an unhandled driver error, a 500). The write lock of this
    # UPDATE makes the second wait and find it resolved.
    claimed = await session.execute(
        update(CertificateReview)
        .where(
            col(CertificateReview.id) == review.id,
            col(CertificateReview.status) == ReviewStatus.open,
        )
        .values(resolved_by=actor.id)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise ReviewResolved()
    instrument_id: uuid.UUID
    current_on = None
    if candidate is not None and candidate["kind"] == "instrument":
        instrument_id = uuid.UUID(candidate["id"])
        found = (
            await session.execute(
                select(instruments.c.id, certificates.c.verified_on)
                .select_from(
                    instruments.outerjoin(
                        certificates, certificates.c.id == instruments.c.current_certificate_id
                    )
                )
                .where(instruments.c.id == instrument_id)
            )
        ).first()
        if found is None:
            raise InvalidResolution()
        current_on = found.verified_on
        kind = "certificate_attached"
    else:
        # A registered instrument not yet in the registry, or a new one: a new instance of the
        # key. Its owner is the registration's (attach) or the certificate's (new_instrument).
        instrument_id = uuid.uuid4()
        owner_name = candidate["owner_name"] if candidate else row.owner_name
        owner_uscc = candidate["owner_uscc"] if candidate else row.owner_uscc
        region = candidate["region_code"] if candidate else row.region_code
        await bulk_insert(
            session,
            instruments,
            [
                {
                    "id": instrument_id,
                    "sticker_token": new_sticker_token(),
                    "category_code": row.category_code,
                    "model": row.model,
                    "serial": row.serial,
                    "manufacturer": row.manufacturer,
                    "owner_name": owner_name,
                    "owner_type": "enterprise" if candidate else row.owner_type,
                    "owner_uscc": owner_uscc,
                    "address": row.address,
                    "region_code": region,
                    "latitude": row.latitude if not candidate else None,
                    "longitude": row.longitude if not candidate else None,
                    "current_certificate_id": None,
                    "variant": await _next_variant(session, key),
                    "created_at": now,
                }
            ],
        )
        kind = "registration_entered" if candidate else "instrument_split"
    certificate_id = uuid.uuid4()
    await session.execute(
        insert(certificates).values(
            id=certificate_id,
            number=row.number,
            kind=row.kind,
            institution_id=review.institution_id,
            instrument_id=instrument_id,
            regulation=row.regulation,
            conclusion=row.conclusion,
            verified_on=row.verified_on,
            valid_until=row.valid_until,
            verifier=row.verifier,
            issued_by=review.created_by,
            content_hash=review.content_hash,
            created_at=now,
        )
    )
    if current_on is None or row.verified_on >= current_on:
        await session.execute(
            update(instruments)
            .where(instruments.c.id == instrument_id)
            .values(current_certificate_id=certificate_id)
        )
    session.add(
        InstrumentEvent(
            instrument_id=instrument_id,
            kind=kind,
            actor_id=actor.id,
            data={
                "review_id": str(review.id),
                "number": row.number,
                "candidate": candidate,
                "certificate_owner": {"name": row.owner_name, "uscc": row.owner_uscc},
                "note": data.note.strip(),
            },
        )
    )
    if candidate is not None and candidate["kind"] == "registration":
        await facts.link_registration(
            session,
            uuid.UUID(candidate["id"]),
            instrument_id,
            actor_id=actor.id,
            data={"review_id": str(review.id), "number": row.number, "by": "certificate_review"},
        )
    await facts.registry_changed(session, [instrument_id])
    before = review.status.value
    review.status = (
        ReviewStatus.attached if data.action == "attach" else ReviewStatus.new_instrument
    )
    review.certificate_id = certificate_id
    review.instrument_id = instrument_id
    review.note = data.note.strip()
    review.resolved_by = actor.id
    review.resolved_at = clock.now()
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="certificate.review.resolve",
        entity_type="certificate_review",
        entity_id=review.id,
        region_code=review.region_code,
        before={"status": before},
        after={
            "status": review.status.value,
            "instrument_id": str(instrument_id),
            "number": row.number,
            "note": review.note,
        },
    )
    return review


async def read_models(
    session: AsyncSession, reviews: list[CertificateReview], *, actor: User
) -> list[ReviewRead]:
    orgs = {
        o.id: o
        for o in (
            await session.scalars(
                select(Organization).where(
                    col(Organization.id).in_({r.institution_id for r in reviews})
                )
            )
        ).all()
    }
    staff = actor.role in (Role.regulator, Role.admin)

    def ours(region_code: str) -> bool:
        """A candidate in the reader's region: its owner may be shown and chosen. Another
        province's owner (a review whose candidates span provinces) is not this bureau's to see."""
        return actor.role == Role.admin or (
            actor.region_code is not None and covers(actor.region_code, region_code)
        )

    names = await region_names(
        session,
        {r.region_code for r in reviews}
        | {c["region_code"] for r in reviews for c in r.candidates},
    )
    known = catalogue()
    result = []
    for r in reviews:
        org = orgs.get(r.institution_id)
        row = r.row
        owner_name = row.get("owner_name", "")
        result.append(
            ReviewRead(
                id=r.id,
                number=r.number,
                institution=org.code if org else "",
                institution_name=org.name if org else "",
                region_code=r.region_code,
                region_name=names.get(r.region_code, r.region_code),
                category_code=r.category_code,
                category_name=(
                    e.name if (e := known.get(r.category_code)) is not None else r.category_code
                ),
                serial=r.serial,
                manufacturer=r.manufacturer,
                owner_name=owner_name,  # the institution's own statement, seen by it and staff
                owner_uscc=row.get("owner_uscc"),
                verified_on=row["verified_on"],
                reason=r.reason,
                reason_name=REVIEW_REASON_ZH.get(r.reason, r.reason),
                # Other owners' data: staff only, never the institution.
                candidates=[
                    ReviewCandidate(
                        kind=c["kind"],
                        id=c["id"],
                        owner_name=c["owner_name"] if ours(c["region_code"]) else OTHER_REGION_ZH,
                        owner_uscc=c["owner_uscc"] if ours(c["region_code"]) else None,
                        region_code=c["region_code"],
                        region_name=names.get(c["region_code"], c["region_code"]),
                        same_owner=ours(c["region_code"])
                        and same_owner(
                            c["owner_uscc"], c["owner_name"], row.get("owner_uscc"), owner_name
                        ),
                        decidable=ours(c["region_code"]),
                    )
                    for c in r.candidates
                ]
                if staff
                else [],
                status=r.status.value,
                status_name=REVIEW_STATUS_ZH[r.status.value],
                note=r.note,
                created_at=r.created_at,
                resolved_at=r.resolved_at,
                certificate_number=r.number if r.certificate_id else None,
            )
        )
    return result
