"""What notices tell other domains (portal/facts.py): penalties still on public display, for credit
evaluation; entries in the serious dishonesty list (严重违法失信名单) a notice records, for the risk
model; and notices as documents of the site search, indexed like articles."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from notices.models import EnforcementNotice, NoticeStatus
from notices.public import notice_url, notice_visible, public_party_name, public_text
from notices.service import import_notices
from notices.settings import NoticeSettings
from portal.facts import (
    ListingFact,
    PenaltyFact,
    SearchDocument,
    listing_only,
    records_listing,
    region_codes,
)
from portal.jsonlines import ImportReport
from portal.regions.models import Region
from portal.settings import Settings

KIND = "notice"  # the kind of document the site search knows notices as


async def penalty_facts(
    session: AsyncSession, *, as_of: date, usccs: Sequence[str] | None = None
) -> list[PenaltyFact]:
    """Notices about enterprises (with a credit code) within their display period on ``as_of``.
    Expired notices count if ``as_of`` lies in their period (a re-run for a past date); withdrawn
    ones never do (a withdrawal means the decision was revoked or corrected)."""
    stmt = select(EnforcementNotice).where(
        col(EnforcementNotice.status).in_([NoticeStatus.published, NoticeStatus.expired]),
        col(EnforcementNotice.party_uscc).is_not(None),
        col(EnforcementNotice.published_on) <= as_of,
        col(EnforcementNotice.display_until) >= as_of,
    )
    if usccs is not None:
        stmt = stmt.where(col(EnforcementNotice.party_uscc).in_([u.upper() for u in usccs]))
    rows = await session.scalars(stmt.order_by(col(EnforcementNotice.decision_date)))
    # A notice of a listing alone (列入严重违法失信名单) records a credit measure, not a penalty.
    return [
        PenaltyFact(
            notice_id=n.id,
            decision_number=n.decision_number,
            party_uscc=n.party_uscc or "",
            penalty_kind=n.penalty_kind,
            amount=n.penalty_amount,
            decided_on=n.decision_date,
            display_until=n.display_until,
        )
        for n in rows
        if not listing_only(n.penalty_kind)
    ]


async def lists_entered(
    session: AsyncSession, *, as_of: date, usccs: Sequence[str] | None = None
) -> list[ListingFact]:
    """Enterprises on the serious dishonesty list on ``as_of``: notices recording a listing
    (portal/facts.py ``records_listing``), published by then and still within their display
    period (the listing's three years, or until its removal, 移出, shortened the period).
    Expired notices count for a past ``as_of`` in their period; withdrawn ones never do (the
    listing was revoked). One query: the penalty kind narrows it with LIKE, then the parts are
    read exactly."""
    stmt = select(EnforcementNotice).where(
        col(EnforcementNotice.status).in_([NoticeStatus.published, NoticeStatus.expired]),
        col(EnforcementNotice.party_uscc).is_not(None),
        # Every name records_listing accepts ends in 名单 once spaces, invisible characters
        # and quotes are gone, and those may stand anywhere, even between 名 and 单: 单 is
        # the one narrowing that misses none.
        col(EnforcementNotice.penalty_kind).like("%单%"),
        col(EnforcementNotice.published_on) <= as_of,
        col(EnforcementNotice.display_until) >= as_of,
    )
    if usccs is not None:
        stmt = stmt.where(col(EnforcementNotice.party_uscc).in_([u.upper() for u in usccs]))
    rows = await session.scalars(
        stmt.order_by(col(EnforcementNotice.decision_date), col(EnforcementNotice.decision_number))
    )
    return [
        ListingFact(
            notice_id=n.id,
            decision_number=n.decision_number,
            party_uscc=n.party_uscc or "",
            entered_on=n.decision_date,
            listed_until=n.display_until,
            url=notice_url(n.id),
        )
        for n in rows
        if records_listing(n.penalty_kind)
    ]


# --- notices in the site search ---------------------------------------------------------------


def search_document(notice: EnforcementNotice, region: Region | None) -> SearchDocument:
    party = public_party_name(notice)
    amount = f"罚款{notice.penalty_amount}元" if notice.penalty_amount else ""
    return SearchDocument(
        kind="notice",
        id=str(notice.id),
        title=public_text(notice, notice.title),
        summary=f"{party}：{public_text(notice, notice.violation)[:200]}",
        body="\n".join(
            [
                public_text(notice, notice.violation),
                public_text(notice, notice.legal_basis),
                notice.penalty_kind,
                amount,
                notice.authority,
            ]
        ),
        keywords=" ".join([party, notice.decision_number, notice.party_uscc or ""]),
        tags=(notice.penalty_kind,),
        category="行政处罚",
        region=region.name if region else notice.region_code,
        region_codes=region_codes(notice.region_code),
        date=notice.decision_date,
        url=notice_url(notice.id),
    )


async def _regions(session: AsyncSession, codes: Iterable[str]) -> dict[str, Region]:
    wanted = {c for c in codes if c}
    if not wanted:
        return {}
    rows = await session.scalars(select(Region).where(col(Region.code).in_(wanted)))
    return {r.code: r for r in rows}


async def public_documents(
    session: AsyncSession, *, kind: str, ids: Sequence[uuid.UUID], on: date
) -> list[SearchDocument] | None:
    """The notices among ``ids`` on public display on ``on``, as search documents."""
    if kind != KIND:
        return None
    notices = list(
        await session.scalars(select(EnforcementNotice).where(col(EnforcementNotice.id).in_(ids)))
    )
    regions = await _regions(session, (n.region_code for n in notices))
    return [
        search_document(n, regions.get(n.region_code)) for n in notices if notice_visible(n, on)
    ]


async def public_document_ids(session: AsyncSession, *, on: date) -> dict[str, list[uuid.UUID]]:
    ids = await session.scalars(
        select(EnforcementNotice.id).where(
            EnforcementNotice.status == NoticeStatus.published,
            col(EnforcementNotice.published_on) <= on,
            col(EnforcementNotice.display_until) >= on,
        )
    )
    return {KIND: list(ids)}


async def document_counts(session: AsyncSession) -> dict[str, int]:
    count = await session.scalar(select(func.count()).select_from(EnforcementNotice))
    return {KIND: int(count or 0)}


async def import_documents(
    session: AsyncSession, *, kind: str, rows: Any, settings: Settings
) -> ImportReport | None:
    """``gongzhi documents import --kind notice``: one command for every kind of document."""
    if kind != KIND:
        return None
    return await import_notices(session, rows, settings=settings.of(NoticeSettings))
