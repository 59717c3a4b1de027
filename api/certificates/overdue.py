"""Overdue instruments: the regulator's list and CSV export, and the daily scan that records
warnings (sent by jobs.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Row, exists, func, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.certificates.models import WarningStage
from api.certificates.queries import (
    aware,
    categories,
    certificates,
    compute_status,
    events,
    instruments,
    today_local,
    warnings,
)
from api.certificates.schemas import STATUS_ZH, OverdueItem
from api.certificates.settings import CertificatesSettings
from portal import facts
from portal.accounts.models import User
from portal.accounts.permissions import Action, authorize
from portal.clock import SHANGHAI
from portal.db import utcnow
from portal.pagination import PageRequest
from portal.regions.service import code_bounds, get_region

_REVOKED_AT = (
    select(events.c.at)
    .where(events.c.certificate_id == certificates.c.id, events.c.kind == "revoked")
    .limit(1)
    .scalar_subquery()
)


def _overdue_stmt(region: str | None, horizon: date) -> Any:
    """Instruments of the region (None: every region) whose current certificate expired, expires
    by ``horizon``, failed or was revoked, or that never had one; not those their owners retired
    (portal/facts.py ``withdrawn_from_use``)."""
    stmt = (
        select(
            instruments.c.id,
            instruments.c.sticker_token,
            instruments.c.category_code,
            categories.c.name.label("category_name"),
            instruments.c.model,
            instruments.c.serial,
            instruments.c.owner_name,
            instruments.c.owner_uscc,
            instruments.c.address,
            instruments.c.region_code,
            instruments.c.created_at,
            certificates.c.id.label("certificate_id"),
            certificates.c.number,
            certificates.c.kind,
            certificates.c.verified_on,
            certificates.c.valid_until,
            _REVOKED_AT.label("revoked_at"),
        )
        .select_from(
            instruments.join(
                categories, categories.c.code == instruments.c.category_code
            ).outerjoin(certificates, certificates.c.id == instruments.c.current_certificate_id)
        )
        .where(
            or_(
                certificates.c.id.is_(None),
                certificates.c.kind == "notice",
                certificates.c.valid_until <= horizon,
                exists().where(
                    events.c.certificate_id == certificates.c.id, events.c.kind == "revoked"
                ),
            ),
        )
    )
    if region is not None:
        low, high = code_bounds(region)
        stmt = stmt.where(instruments.c.region_code >= low, instruments.c.region_code < high)
    withdrawn = facts.withdrawn_from_use()
    if withdrawn is not None:
        # Retired by its owner: no longer due, so neither listed nor warned about.
        stmt = stmt.where(instruments.c.id.not_in(withdrawn))
    return stmt


def _overdue_status(row: Any, today: date, expiring_days: int) -> tuple[str, int]:
    if row.certificate_id is None:
        return "none", (today - aware(row.created_at).astimezone(SHANGHAI).date()).days
    if row.revoked_at is not None:
        return "revoked", (today - aware(row.revoked_at).astimezone(SHANGHAI).date()).days
    if row.kind == "notice":
        return "failed", (today - row.verified_on).days
    status, days_left = compute_status(
        kind=row.kind,
        valid_until=row.valid_until,
        revoked=False,
        superseded=False,
        today=today,
        expiring_days=expiring_days,
    )
    return status.value, -(days_left or 0)


def _overdue_item(row: Any, today: date, expiring_days: int) -> OverdueItem:
    status, days = _overdue_status(row, today, expiring_days)
    return OverdueItem(
        sticker_token=row.sticker_token,
        category_code=row.category_code,
        category_name=row.category_name,
        model=row.model,
        serial=row.serial,
        owner_name=row.owner_name,
        owner_uscc=row.owner_uscc,
        address=row.address,
        region_code=row.region_code,
        status=status,
        status_name=STATUS_ZH[status],
        certificate_number=row.number,
        valid_until=row.valid_until,
        days_overdue=days,
    )


async def check_overdue_access(session: AsyncSession, actor: User, region: str | None) -> str:
    """The region asked for (default: the actor's own) once the actor may see its list."""
    region = region or actor.region_code or ""
    await get_region(session, region)
    authorize(actor, Action.instrument_overdue_view, region_code=region)
    return region


def _unconfirmed_item(due: facts.UnconfirmedDue, today: date) -> OverdueItem:
    return OverdueItem(
        sticker_token=None,
        category_code=due.category_code,
        category_name=_category_names().get(due.category_code, due.category_code),
        model=due.model,
        serial=due.serial,
        owner_name=due.owner_name,
        owner_uscc=due.owner_uscc,
        address=due.address,
        region_code=due.region_code,
        status=due.status,
        status_name=STATUS_ZH[due.status],
        certificate_number=None,
        valid_until=None,
        days_overdue=(today - due.due_on).days,
        registration_status="pending",
    )


def _category_names() -> dict[str, str]:
    return {c.code: c.name for c in facts.instrument_categories()}


async def list_overdue(
    session: AsyncSession,
    *,
    actor: User,
    region: str | None,
    within_days: int,
    page: PageRequest,
    settings: CertificatesSettings,
) -> tuple[str, date, list[OverdueItem], int]:
    """(region, as of, one page of items, total). Registrations due and awaiting the bureau's
    confirmation (not in the registry yet, facts.unconfirmed_due) come first, marked 待确认;
    then the registry's instruments."""
    region = await check_overdue_access(session, actor, region)
    today = today_local()
    pending, unconfirmed = await facts.unconfirmed_due(
        session, region=region, today=today, limit=page.limit, offset=page.offset
    )
    items = [_unconfirmed_item(due, today) for due in unconfirmed]
    stmt = _overdue_stmt(region, today + timedelta(days=within_days))
    total = await session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    if len(items) < page.limit:
        rows = (
            await session.execute(
                stmt.order_by(certificates.c.valid_until.asc().nulls_first(), instruments.c.id)
                .limit(page.limit - len(items))
                .offset(max(page.offset - pending, 0))
            )
        ).all()
        items += await _registry_items(session, rows, today, settings)
    return region, today, items, total + pending


async def _registry_items(
    session: AsyncSession, rows: Sequence[Any], today: date, settings: CertificatesSettings
) -> list[OverdueItem]:
    """The registry's rows as items, those registered by an owner and not yet confirmed by the
    bureau marked pending (待确认), as the unconfirmed registrations not in the registry are."""
    unconfirmed = await facts.unconfirmed_instruments(session, [r.id for r in rows])
    items = []
    for r in rows:
        item = _overdue_item(r, today, settings.certificate_expiring_days)
        if r.id in unconfirmed:
            item.registration_status = "pending"
        items.append(item)
    return items


async def iter_overdue(
    session: AsyncSession,
    *,
    region: str,
    within_days: int,
    settings: CertificatesSettings,
    page: int = 2000,
) -> AsyncIterator[OverdueItem]:
    """Every overdue instrument of the region, fetched a page at a time (for CSV export): the
    unconfirmed registrations first, as the list shows them."""
    today = today_local()
    offset = 0
    while True:
        _, unconfirmed = await facts.unconfirmed_due(
            session, region=region, today=today, limit=page, offset=offset
        )
        for due in unconfirmed:
            yield _unconfirmed_item(due, today)
        if len(unconfirmed) < page:
            break
        offset += page
    stmt = _overdue_stmt(region, today + timedelta(days=within_days))
    async for chunk in _chunks(session, stmt, page):
        for item in await _registry_items(session, chunk, today, settings):
            yield item


def _stage(row: Row[Any], today: date) -> WarningStage:
    if row.certificate_id is None:
        return WarningStage.unverified
    if row.revoked_at is not None or row.kind == "notice":
        return WarningStage.expired
    if row.valid_until is not None and row.valid_until < today:
        return WarningStage.expired
    return WarningStage.expiring


async def scan_overdue(
    session: AsyncSession, *, settings: CertificatesSettings, today: date | None = None
) -> int:
    """Record a warning for every instrument that became overdue or is about to; each
    (instrument, certificate, stage) is warned once, so running twice adds nothing."""
    today = today or today_local()
    horizon = today + timedelta(days=settings.certificate_expiring_days)
    now = utcnow()
    created = 0
    known_warnings = select(warnings.c.instrument_id, warnings.c.certificate_key, warnings.c.stage)
    async for chunk in _chunks(session, _overdue_stmt(None, horizon)):
        ids = [r.id for r in chunk]
        known = {
            (w.instrument_id, w.certificate_key, w.stage)
            for w in (
                await session.execute(known_warnings.where(warnings.c.instrument_id.in_(ids)))
            ).all()
        }
        values = []
        for r in chunk:
            stage = _stage(r, today)
            key = str(r.certificate_id) if r.certificate_id else "none"
            if (r.id, key, stage.value) in known:
                continue
            values.append(
                {
                    "id": uuid.uuid4(),
                    "instrument_id": r.id,
                    "certificate_key": key,
                    "stage": stage.value,
                    "region_code": r.region_code,
                    "valid_until": r.valid_until,
                    "created_on": today,
                    "created_at": now,
                }
            )
        if values:
            await session.execute(insert(warnings), values)
            created += len(values)
    return created


async def _chunks(session: AsyncSession, stmt: Any, size: int = 2000) -> AsyncIterator[list[Any]]:
    """The rows of ``stmt`` in instrument id order, ``size`` at a time (keyset paging)."""
    stmt = stmt.order_by(instruments.c.id)
    last: uuid.UUID | None = None
    while True:
        paged = stmt if last is None else stmt.where(instruments.c.id > last)
        rows = list((await session.execute(paged.limit(size))).all())
        if rows:
            yield rows
        if len(rows) < size:
            return
        last = rows[-1].id
