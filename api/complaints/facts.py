"""What the complaint intake tells others (portal/facts.py): cases concluded as substantiated, for
credit evaluation and risk scores; and its one photo intake, whose photos another domain may hold
as evidence (a field inspection's)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from api.complaints.media import signed_urls
from api.complaints.models import Case, CaseStatus, Finding, Media
from portal.facts import ComplaintFact, HeldPhoto
from portal.settings import Settings


async def complaint_facts(
    session: AsyncSession, *, since: datetime, usccs: Sequence[str] | None = None
) -> list[ComplaintFact]:
    """Complaints and reports about an enterprise that staff concluded as substantiated (属实),
    since ``since``. A case reopened later no longer counts (its finding is cleared); a case
    closed after its conclusion still does. Partly substantiated (部分属实) is not included. A
    complaint filed together with a report about the same matter counts once."""
    stmt = select(  # type: ignore[call-overload]
        Case.id,
        Case.tracking_number,
        Case.business_uscc,
        Case.category,
        Case.concluded_at,
        Case.linked_case_id,
    ).where(
        col(Case.finding) == Finding.substantiated.value,
        col(Case.status).in_([CaseStatus.concluded.value, CaseStatus.closed.value]),
        col(Case.business_uscc).is_not(None),
        col(Case.concluded_at) >= since,
    )
    if usccs is not None:
        wanted = sorted({u.upper() for u in usccs})
        if not wanted:
            return []
        stmt = stmt.where(col(Case.business_uscc).in_(wanted))
    rows = await session.execute(stmt.order_by(col(Case.concluded_at), col(Case.id)))
    found: list[ComplaintFact] = []
    counted: set[object] = set()
    for row in rows.all():
        # One submission that is both a complaint and a report is two linked cases about one
        # matter: it counts once, as the first of the two concluded (issue 16).
        if row[5] is not None and row[5] in counted:
            continue
        counted.add(row[0])
        found.append(
            ComplaintFact(
                case_id=row[0],
                tracking_number=row[1],
                business_uscc=row[2],
                category=row[3],
                concluded_at=row[4],
            )
        )
    return found


async def hold_photos(
    session: AsyncSession, *, media_ids: Sequence[uuid.UUID], uploader_id: uuid.UUID, holder: str
) -> list[uuid.UUID]:
    """Mark the uploader's own unattached photos as held (portal/facts.py): the orphan sweep
    (media.cleanup_orphan_media) leaves them. Holding again for the same holder is a no-op, so
    a replayed submission holds the same photos."""
    wanted = sorted(set(media_ids))
    if not wanted:
        return []
    # One conditional UPDATE, not a read then a write: two submissions naming the same photo at
    # once (two inspections) would both read it free and both hold it. Here the second waits
    # for the first's row lock (PostgreSQL) or write lock (SQLite), and its condition, checked
    # again, leaves the photo out.
    rows = await session.execute(
        update(Media)
        .where(
            col(Media.id).in_(wanted),
            col(Media.uploader_id) == uploader_id,
            col(Media.case_id).is_(None),
            or_(col(Media.held_by).is_(None), col(Media.held_by) == holder),
        )
        .values(held_by=holder)
        .returning(col(Media.id))
    )
    return list(rows.scalars().all())


async def photo_links(
    session: AsyncSession, settings: Settings, *, media_ids: Sequence[uuid.UUID]
) -> list[HeldPhoto]:
    wanted = sorted(set(media_ids))
    if not wanted:
        return []
    found = set(await session.scalars(select(Media.id).where(col(Media.id).in_(wanted))))
    links = []
    for media_id in media_ids:
        if media_id in found:
            urls = signed_urls(settings, media_id)
            links.append(
                HeldPhoto(media_id=media_id, display_url=urls.display, thumbnail_url=urls.thumbnail)
            )
    return links
