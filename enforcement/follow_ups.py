"""Follow-ups of failed inspections (后续处置): what a finding leaves the bureau to do.

A failed inspection opens one follow-up in the transaction that records it (inspections.py), of
the kind its inspectors chose: 责令改正, the site corrects within a number of working days, or
立案查处, the bureau decides within a number of working days whether to file a case. Both
deadlines count from the inspection day with the one working-day calendar (portal/workdays).

    open ──correct──▶ corrected ──close──▶ closed        (责令改正: 复查确认已改正)
    open ──file_case──▶ case_filed ──close──▶ closed     (立案查处, or a correction order not
                                                          complied with: 逾期不改正)
    open ──close──▶ closed                               (立案查处 only: 经核查不予立案)

"Overdue" is no stored status: an open follow-up is overdue once the clock's today is past its
deadline, so nothing has to flip it and the list and the facts agree on any day. Every step is an
event (who, what, when) and an audit entry; a step the status does not allow is a 409, and two
bureaus acting at once cannot both move one follow-up (the update is conditional on the status
read). Who may read and act: the bureau whose region covers the campaign's, as for inspections.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from enforcement.errors import (
    FollowUpNotFound,
    FollowUpTransitionNotAllowed,
    ReinspectionDateInvalid,
)
from enforcement.models import (
    FollowUp,
    FollowUpEvent,
    FollowUpKind,
    FollowUpStatus,
    Inspection,
)
from enforcement.scores import in_region
from enforcement.settings import EnforcementSettings
from portal import clock, workdays
from portal.accounts.models import Role, User
from portal.accounts.permissions import Action, authorize
from portal.audit import service as audit
from portal.pagination import PageRequest

KIND_ZH = {"correct": "责令改正", "penalty_case": "立案查处"}
STATUS_ZH = {
    "open": "办理中",
    "overdue": "已逾期",
    "corrected": "已改正",
    "case_filed": "已立案",
    "closed": "已办结",
}
ACTION_ZH = {
    "opened": "检查发现问题，开具",
    "corrected": "复查确认已改正",
    "case_filed": "立案",
    "closed": "办结",
    "deadline_moved": "节假日安排变更，期限重算",
}
Shown = Literal["open", "overdue", "corrected", "case_filed", "closed"]


def working_days_for(kind: FollowUpKind, settings: EnforcementSettings) -> int:
    if kind is FollowUpKind.correct:
        return settings.enforcement_correction_working_days
    return settings.enforcement_case_filing_working_days


def is_overdue(follow_up: FollowUp, today: date) -> bool:
    return follow_up.status is FollowUpStatus.open and today > follow_up.deadline


def shown_status(follow_up: FollowUp, today: date) -> Shown:
    """The status a regulator sees: "overdue" for an open follow-up past its deadline."""
    if is_overdue(follow_up, today):
        return "overdue"
    return follow_up.status.value


def _overdue_clause(today: date) -> Any:
    return and_(col(FollowUp.status) == FollowUpStatus.open, col(FollowUp.deadline) < today)


def _name(actor: User) -> str:
    return (actor.display_name or actor.email)[:64]


def _event(follow_up: FollowUp, action: str, actor: User | None, note: str = "") -> FollowUpEvent:
    return FollowUpEvent(
        follow_up_id=follow_up.id,
        action=action,
        actor_id=actor.id if actor else None,
        actor_name=_name(actor) if actor else "",
        note=note,
        at=clock.now(),
    )


async def open_for(
    session: AsyncSession, inspection: Inspection, *, actor: User, settings: EnforcementSettings
) -> FollowUp | None:
    """The follow-up of a failed inspection just recorded (None for one without findings). Called
    once, by the transaction that moved the inspection to done; the unique ``inspection_id``
    guards whatever else would open a second."""
    if inspection.outcome != "failed" or inspection.follow_up not in KIND_ZH:
        return None
    assert inspection.inspected_at is not None  # done: set with the outcome
    kind = FollowUpKind(inspection.follow_up)
    days = working_days_for(kind, settings)
    ordered_on = clock.local_date(inspection.inspected_at)
    follow_up = FollowUp(
        inspection_id=inspection.id,
        campaign_id=inspection.campaign_id,
        region_code=inspection.region_code,
        site_id=inspection.site_id,
        site_name=inspection.site_name,
        district=inspection.district,
        kind=kind,
        findings=inspection.findings,
        ordered_on=ordered_on,
        working_days=days,
        deadline=workdays.add_working_days(ordered_on, days),
        created_at=inspection.inspected_at,
        updated_at=inspection.inspected_at,
    )
    session.add(follow_up)
    await session.flush()
    opened = _event(follow_up, "opened", actor, f"{KIND_ZH[kind.value]}，期限 {days} 个工作日")
    opened.at = inspection.inspected_at
    session.add(opened)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="enforcement.follow_up.open",
        entity_type="follow_up",
        entity_id=follow_up.id,
        region_code=follow_up.region_code,
        after={"kind": kind.value, "deadline": follow_up.deadline.isoformat()},
    )
    return follow_up


async def get(session: AsyncSession, follow_up_id: uuid.UUID, *, actor: User) -> FollowUp:
    follow_up = await session.get(FollowUp, follow_up_id)
    if follow_up is None:
        raise FollowUpNotFound()
    authorize(actor, Action.inspection_manage, region_code=follow_up.region_code)
    return follow_up


async def events(session: AsyncSession, follow_up: FollowUp) -> list[FollowUpEvent]:
    rows = await session.execute(
        select(FollowUpEvent)
        .where(col(FollowUpEvent.follow_up_id) == follow_up.id)
        .order_by(col(FollowUpEvent.at), col(FollowUpEvent.id))
    )
    return list(rows.scalars().all())


async def events_of(
    session: AsyncSession, follow_up_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[FollowUpEvent]]:
    """The events of many follow-ups in one query (a page of them)."""
    found: dict[uuid.UUID, list[FollowUpEvent]] = {i: [] for i in follow_up_ids}
    if not found:
        return found
    rows = await session.execute(
        select(FollowUpEvent)
        .where(col(FollowUpEvent.follow_up_id).in_(found))
        .order_by(col(FollowUpEvent.at), col(FollowUpEvent.id))
    )
    for event in rows.scalars().all():
        found[event.follow_up_id].append(event)
    return found


async def list_for(
    session: AsyncSession,
    *,
    actor: User,
    status: Shown | None = None,
    kind: FollowUpKind | None = None,
    overdue: bool | None = None,
    site_id: uuid.UUID | None = None,
    page: PageRequest,
) -> tuple[list[FollowUp], int]:
    """The follow-ups of the actor's region (an administrator: every region), earliest deadline
    first among the open ones, then the most recently changed."""
    today = clock.today()
    where: list[Any] = []
    if actor.role is not Role.admin:
        authorize(actor, Action.inspection_manage, region_code=actor.region_code or "")
        where.append(in_region(col(FollowUp.region_code), actor.region_code or ""))
    if status == "overdue":
        where.append(_overdue_clause(today))
    elif status == "open":
        where.append(col(FollowUp.status) == FollowUpStatus.open)
        where.append(col(FollowUp.deadline) >= today)
    elif status is not None:
        where.append(col(FollowUp.status) == FollowUpStatus(status))
    if kind is not None:
        where.append(col(FollowUp.kind) == kind)
    if overdue is True:
        where.append(_overdue_clause(today))
    elif overdue is False:
        where.append(
            or_(col(FollowUp.status) != FollowUpStatus.open, col(FollowUp.deadline) >= today)
        )
    if site_id is not None:
        where.append(col(FollowUp.site_id) == site_id)
    total = (
        await session.execute(select(func.count()).select_from(FollowUp).where(*where))
    ).scalar_one()
    rows = await session.execute(
        select(FollowUp)
        .where(*where)
        .order_by(
            (col(FollowUp.status) != FollowUpStatus.open).asc(),
            col(FollowUp.deadline),
            col(FollowUp.updated_at).desc(),
            col(FollowUp.id),
        )
        .offset(page.offset)
        .limit(page.limit)
    )
    return list(rows.scalars().all()), int(total)


async def _move(
    session: AsyncSession,
    follow_up: FollowUp,
    *,
    allowed_from: Sequence[FollowUpStatus],
    to: FollowUpStatus,
    actor: User,
    values: dict[str, Any],
    note: str,
) -> FollowUp:
    """Move the follow-up if its status is still one of ``allowed_from`` (a conditional update:
    two bureaus acting at once cannot both move it)."""
    before = follow_up.status
    if before not in allowed_from:
        raise FollowUpTransitionNotAllowed(
            f"A follow-up that is {before.value} cannot become {to.value}.",
            detail_zh=f"该事项当前为「{STATUS_ZH[before.value]}」，不能改为「{STATUS_ZH[to.value]}」。",
        )
    moved = await session.execute(
        update(FollowUp)
        .where(col(FollowUp.id) == follow_up.id, col(FollowUp.status) == before)
        .values(status=to, updated_at=clock.now(), **values)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(follow_up)
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise FollowUpTransitionNotAllowed(
            "The follow-up was changed meanwhile.",
            detail_zh="该事项刚刚已被他人处理，请刷新后再看。",
        )
    session.add(_event(follow_up, to.value, actor, note))
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action=f"enforcement.follow_up.{to.value}",
        entity_type="follow_up",
        entity_id=follow_up.id,
        region_code=follow_up.region_code,
        before={"status": before.value},
        after={"status": to.value, **{k: str(v) for k, v in values.items()}},
    )
    return follow_up


async def record_correction(
    session: AsyncSession,
    follow_up_id: uuid.UUID,
    *,
    actor: User,
    evidence: str,
    reinspected_on: date,
) -> FollowUp:
    """责令改正 complied with: the re-inspection (复查) that saw it, on a day between the order
    and today, and what it saw. Late is still corrected (the lateness stays in its events)."""
    follow_up = await get(session, follow_up_id, actor=actor)
    if follow_up.kind is not FollowUpKind.correct:
        raise FollowUpTransitionNotAllowed(
            "Only an order to correct is corrected; a penalty case is filed or closed.",
            detail_zh="立案查处事项不能登记改正，请立案或办结。",
        )
    if not follow_up.ordered_on <= reinspected_on <= clock.today():
        raise ReinspectionDateInvalid()
    return await _move(
        session,
        follow_up,
        allowed_from=[FollowUpStatus.open],
        to=FollowUpStatus.corrected,
        actor=actor,
        values={"evidence": evidence.strip(), "reinspected_on": reinspected_on},
        note=f"复查日期 {reinspected_on.isoformat()}：{evidence.strip()}",
    )


async def file_case(
    session: AsyncSession, follow_up_id: uuid.UUID, *, actor: User, case_number: str, note: str
) -> FollowUp:
    """立案: for a penalty case, or for an order to correct the site did not comply with."""
    follow_up = await get(session, follow_up_id, actor=actor)
    return await _move(
        session,
        follow_up,
        allowed_from=[FollowUpStatus.open],
        to=FollowUpStatus.case_filed,
        actor=actor,
        values={"case_number": case_number.strip()},
        note=f"立案文书编号 {case_number.strip()}" + (f"：{note.strip()}" if note.strip() else ""),
    )


async def close(
    session: AsyncSession,
    follow_up_id: uuid.UUID,
    *,
    actor: User,
    outcome: str,
    expected_status: str | None = None,
) -> FollowUp:
    """办结: a corrected order, a filed case (its decision is the penalty notice's), or a penalty
    case the bureau decided not to file (不予立案, with the reason). An open order to correct is
    never closed: it is corrected, or a case is filed. With ``expected_status`` (the status the
    user saw, as the page's form sends it), a follow-up moved meanwhile is a 409: a 不予立案 typed
    for an open case must not close the case another user has just filed."""
    follow_up = await get(session, follow_up_id, actor=actor)
    if expected_status is not None and follow_up.status.value != expected_status:
        raise FollowUpTransitionNotAllowed(
            "The follow-up was changed meanwhile.",
            detail_zh="该事项刚刚已被他人处理，请刷新后再看。",
        )
    allowed = [FollowUpStatus.corrected, FollowUpStatus.case_filed]
    if follow_up.kind is FollowUpKind.penalty_case:
        allowed.append(FollowUpStatus.open)
    return await _move(
        session,
        follow_up,
        allowed_from=allowed,
        to=FollowUpStatus.closed,
        actor=actor,
        values={"outcome": outcome.strip()},
        note=outcome.strip(),
    )


async def recompute_deadlines(session: AsyncSession, *, years: Sequence[int]) -> int:
    """A year's holidays were imported or removed: the open follow-ups whose counting touches
    that year get their deadline counted again (an event says so when it moves)."""
    if not years:
        return 0
    first, last = min(years), max(years)
    rows = await session.execute(
        select(FollowUp).where(
            col(FollowUp.status) == FollowUpStatus.open,
            col(FollowUp.deadline) >= date(first, 1, 1),
            col(FollowUp.ordered_on) <= date(last, 12, 31),
        )
    )
    changed = 0
    for follow_up in rows.scalars().all():
        deadline = workdays.add_working_days(follow_up.ordered_on, follow_up.working_days)
        if deadline != follow_up.deadline:
            note = f"期限由 {follow_up.deadline.isoformat()} 改为 {deadline.isoformat()}"
            follow_up.deadline = deadline
            session.add(_event(follow_up, "deadline_moved", None, note))
            changed += 1
    await session.flush()
    return changed


async def unresolved(session: AsyncSession, *, as_of: date, region: str | None) -> list[FollowUp]:
    """Follow-ups not resolved on ``as_of``: open (overdue or not) or with a case filed, opened by
    then; what facts.py tells the risk score."""
    stmt = select(FollowUp).where(
        col(FollowUp.status).in_([FollowUpStatus.open, FollowUpStatus.case_filed]),
        col(FollowUp.ordered_on) <= as_of,
    )
    if region is not None:
        stmt = stmt.where(in_region(col(FollowUp.district), region))
    rows = await session.execute(stmt.order_by(col(FollowUp.ordered_on), col(FollowUp.id)))
    return list(rows.scalars().all())
