"""The rules of enforcement notices: publishing, correcting, withdrawing and expiring them
(市场监督管理行政处罚信息公示规定), and what the public may read.

Every change that alters what the public may see asks search to re-index the notice in the same
transaction (portal/facts.py ``enqueue_index``), as articles do.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from notices.errors import (
    DuplicateDecisionNumber,
    InvalidDisplayPeriod,
    ListingWithoutCreditCode,
    NoticeNotFound,
    NoticeNotOnDisplay,
    WarningOnlyNotPublished,
)
from notices.models import EnforcementNotice, NoticeStatus, snapshot
from notices.public import notice_visible, today
from notices.schemas import (
    EnforcementNoticeCreate,
    EnforcementNoticeImport,
    EnforcementNoticeUpdate,
)
from notices.settings import NoticeSettings
from portal import clock
from portal.accounts.models import User
from portal.accounts.permissions import Action, authorize
from portal.audit.service import record
from portal.db import utcnow
from portal.errors import Conflict, InvalidInput
from portal.facts import enqueue_index, penalty_parts, records_listing
from portal.jsonlines import ImportFileInvalid, ImportReport, parse_line
from portal.pagination import PageRequest
from portal.regions.service import get_region


def check_publishable(kind: str) -> None:
    """市场监督管理行政处罚信息公示规定 (SAMR Order 45) 第二条: 仅受到警告行政处罚的不予公示 — a
    decision of a warning alone is not published (a law or administrative regulation may say
    otherwise; such a notice is then published outside this form)."""
    if penalty_parts(kind) == {"警告"}:
        raise WarningOnlyNotPublished(
            "A penalty of a warning only is not published (SAMR Order 45, Art. 2).",
            detail_zh="仅受到警告行政处罚的，依法不予公示（《市场监督管理行政处罚信息公示规定》第二条）。",
        )


def check_listing(kind: str, party_uscc: str | None) -> None:
    """A notice recording an entry in the serious dishonesty list (市场监督管理严重违法失信名单管理
    办法) names the party by its unified social credit code: the list is kept by that code, and
    the risk model and other domains find the listing through it (portal/facts.py)."""
    if records_listing(kind) and not party_uscc:
        raise ListingWithoutCreditCode(
            "A notice entering a party in the serious dishonesty list gives its credit code.",
            detail_zh="列入严重违法失信名单的公示须填写当事人的统一社会信用代码。",
        )


def is_minor_penalty(kind: str, amount: Decimal | None, settings: NoticeSettings) -> bool:
    """Only 通报批评 and/or a fine up to the province's "lower amount" (第十三条)."""
    parts = penalty_parts(kind)
    if not parts or not parts <= {"通报批评", "罚款"}:
        return False
    if "罚款" in parts:
        return amount is not None and amount <= settings.notice_minor_fine_max_yuan
    return True


def default_display_until(
    published_on: date, kind: str, amount: Decimal | None, settings: NoticeSettings
) -> date:
    months = (
        settings.notice_display_months_minor
        if is_minor_penalty(kind, amount, settings)
        else settings.notice_display_months
    )
    return clock.add_months(published_on, months)


def check_display_period(
    published_on: date,
    display_until: date,
    kind: str,
    amount: Decimal | None,
    settings: NoticeSettings,
) -> None:
    """A display period starts at publication and ends no later than the statutory period for
    the penalty (第十三条: 3 months for 通报批评 or a lower fine, 3 years otherwise); a regulator
    may end it earlier, never later (a 通报批评 shown until 2099 is refused)."""
    if display_until < published_on:
        raise InvalidDisplayPeriod(
            "The display period ends before it starts.", detail_zh="公示截止日期早于公示日期。"
        )
    longest = default_display_until(published_on, kind, amount, settings)
    if display_until > longest:
        raise InvalidDisplayPeriod(
            f"The display period may end no later than {longest.isoformat()} for this penalty.",
            detail_zh=f"该处罚的公示期限最长至 {longest.isoformat()}"
            "（《市场监督管理行政处罚信息公示规定》第十三条）。",
        )


async def _audit_and_index(
    session: AsyncSession,
    notice: EnforcementNotice,
    action: str,
    *,
    before: dict[str, Any] | None,
    actor: User | None,
) -> None:
    """Every change of a notice: audited, and the index told, in the same transaction."""
    await session.flush()
    await record(
        session,
        actor=actor,
        action=action,
        entity_type="notice",
        entity_id=notice.id,
        region_code=notice.region_code,
        before=before,
        after=snapshot(notice),
    )
    await enqueue_index(session, "notice", [notice.id])


async def create_notice(
    session: AsyncSession,
    data: EnforcementNoticeCreate,
    *,
    actor: User | None,
    settings: NoticeSettings,
) -> EnforcementNotice:
    if actor is not None:
        authorize(actor, Action.notice_publish, region_code=data.region_code)
    await get_region(session, data.region_code)
    exists = await session.scalar(
        select(EnforcementNotice.id).where(
            EnforcementNotice.decision_number == data.decision_number
        )
    )
    if exists is not None:
        raise DuplicateDecisionNumber(
            f"Decision {data.decision_number} is already published.",
            detail_zh=f"文号为 {data.decision_number} 的处罚决定已公示。",
        )
    check_publishable(data.penalty_kind)
    check_listing(data.penalty_kind, data.party_uscc)
    published_on = data.published_on or today()
    if data.decision_date > published_on:
        raise InvalidDisplayPeriod(
            "The decision date is after the publication date.",
            detail_zh="处罚决定日期晚于公示日期。",
        )
    display_until = data.display_until or default_display_until(
        published_on, data.penalty_kind, data.penalty_amount, settings
    )
    check_display_period(
        published_on, display_until, data.penalty_kind, data.penalty_amount, settings
    )
    now = utcnow()
    notice = EnforcementNotice(
        **data.model_dump(exclude={"published_on", "display_until"}),
        published_on=published_on,
        display_until=display_until,
        status=NoticeStatus.published,
        created_by=actor.id if actor else None,
        created_at=now,
        updated_at=now,
    )
    session.add(notice)
    await _audit_and_index(session, notice, "notice.publish", before=None, actor=actor)
    return notice


async def _notice_for_staff(
    session: AsyncSession, notice_id: uuid.UUID, actor: User
) -> EnforcementNotice:
    notice = await session.get(EnforcementNotice, notice_id)
    if notice is None:
        raise NoticeNotFound()
    authorize(actor, Action.notice_publish, region_code=notice.region_code)
    return notice


async def update_notice(
    session: AsyncSession,
    notice_id: uuid.UUID,
    data: EnforcementNoticeUpdate,
    *,
    actor: User,
    settings: NoticeSettings,
) -> EnforcementNotice:
    notice = await _notice_for_staff(session, notice_id, actor)
    if notice.status is not NoticeStatus.published:
        raise NoticeNotOnDisplay(
            "Only a notice on display can be corrected.", detail_zh="只能更正正在公示的信息。"
        )
    before = snapshot(notice)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    # A decision corrected down to a warning alone leaves public view by withdrawal (with its
    # reason on record), not by a correction that would keep it on display.
    check_publishable(changes.get("penalty_kind", notice.penalty_kind))
    check_listing(changes.get("penalty_kind", notice.penalty_kind), notice.party_uscc)
    # A display period that followed the statutory default follows the corrected penalty's when
    # that is longer (a minor fine corrected into a listing: three years, not three months, or
    # the party would leave the list with no removal decided); one the regulator set stays.
    if "display_until" not in changes:
        followed = default_display_until(
            notice.published_on, notice.penalty_kind, notice.penalty_amount, settings
        )
        corrected = default_display_until(
            notice.published_on,
            changes.get("penalty_kind", notice.penalty_kind),
            changes.get("penalty_amount", notice.penalty_amount),
            settings,
        )
        if notice.display_until == followed and corrected > followed:
            changes["display_until"] = corrected
    check_display_period(
        notice.published_on,
        changes.get("display_until", notice.display_until),
        changes.get("penalty_kind", notice.penalty_kind),
        changes.get("penalty_amount", notice.penalty_amount),
        settings,
    )
    for key, value in changes.items():
        setattr(notice, key, value)
    notice.updated_at = utcnow()
    await _audit_and_index(session, notice, "notice.update", before=before, actor=actor)
    return notice


async def withdraw_notice(
    session: AsyncSession, notice_id: uuid.UUID, *, reason: str, actor: User
) -> EnforcementNotice:
    notice = await _notice_for_staff(session, notice_id, actor)
    if notice.status is not NoticeStatus.published:
        raise NoticeNotOnDisplay(
            "Only a notice on display can be withdrawn.", detail_zh="只能撤回正在公示的信息。"
        )
    before = snapshot(notice)
    notice.status = NoticeStatus.withdrawn
    notice.withdrawn_at = utcnow()
    notice.withdrawal_reason = reason
    notice.updated_at = utcnow()
    await _audit_and_index(session, notice, "notice.withdraw", before=before, actor=actor)
    return notice


async def expire_notices(session: AsyncSession, *, on: date | None = None) -> int:
    """Mark notices whose display period ended as expired and take them out of the index."""
    on = on or today()
    notices = list(
        await session.scalars(
            select(EnforcementNotice).where(
                EnforcementNotice.status == NoticeStatus.published,
                col(EnforcementNotice.display_until) < on,
            )
        )
    )
    for notice in notices:
        notice.status = NoticeStatus.expired
        notice.updated_at = utcnow()
        await record(
            session,
            actor=None,
            action="notice.expire",
            entity_type="notice",
            entity_id=notice.id,
            region_code=notice.region_code,
            after={"status": "expired", "display_until": notice.display_until},
        )
    await session.flush()
    await enqueue_index(session, "notice", [n.id for n in notices])
    return len(notices)


# A notice whose display starts on a later day is not indexed when created (not yet public): the
# hourly job indexes those whose first day is today, or was within this many days (a job missed
# while the worker was down), and indexing the same notice again changes nothing.
SHOW_LOOKBACK_DAYS = 2


async def show_notices(session: AsyncSession, *, on: date | None = None) -> int:
    """Put notices whose display period began on ``on`` (or just before) into the index."""
    on = on or today()
    ids = list(
        await session.scalars(
            select(EnforcementNotice.id).where(
                EnforcementNotice.status == NoticeStatus.published,
                col(EnforcementNotice.published_on) <= on,
                col(EnforcementNotice.published_on) >= on - timedelta(days=SHOW_LOOKBACK_DAYS),
                col(EnforcementNotice.display_until) >= on,
            )
        )
    )
    await enqueue_index(session, "notice", ids)
    return len(ids)


async def get_public_notice(session: AsyncSession, notice_id: uuid.UUID) -> EnforcementNotice:
    notice = await session.get(EnforcementNotice, notice_id)
    if notice is None or not notice_visible(notice, today()):
        raise NoticeNotFound()
    return notice


async def list_notices_for_staff(
    session: AsyncSession, *, actor: User, page: PageRequest | None = None
) -> tuple[list[EnforcementNotice], int]:
    """Notices in the actor's region, newest first, and how many there are in all."""
    from sqlalchemy import func

    from portal.regions.service import significant_prefix

    authorize(actor, Action.notice_publish)
    page = page or PageRequest(page=1, per_page=200)
    stmt = select(EnforcementNotice)
    if actor.region_code and actor.role != "admin":
        stmt = stmt.where(
            col(EnforcementNotice.region_code).startswith(significant_prefix(actor.region_code))
        )
    total = int(await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    ordered = stmt.order_by(col(EnforcementNotice.created_at).desc(), col(EnforcementNotice.id))
    rows = await session.scalars(ordered.offset(page.offset).limit(page.limit))
    return list(rows), total


async def import_notices(
    session: AsyncSession,
    rows: Iterable[tuple[int, dict[str, Any]]],
    *,
    settings: NoticeSettings,
) -> ImportReport:
    """All or nothing: a bad line fails the whole import (the caller's transaction)."""
    items = [(n, parse_line(EnforcementNoticeImport, n, v)) for n, v in rows]
    count = 0
    for number, item in items:
        try:
            await create_notice(session, item, actor=None, settings=settings)
        except (Conflict, InvalidInput) as exc:
            raise ImportFileInvalid(
                f"Line {number}: {exc.detail}", detail_zh=f"第 {number} 行：{exc.detail_zh}"
            ) from exc
        count += 1
    return ImportReport(kind="notice", created=count, updated=0)
