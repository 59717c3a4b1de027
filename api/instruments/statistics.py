"""Regional statistics for regulators (辖区强检器具统计): registered instruments of a region and
below by category and status, the verification and overdue rates, the time from application to
result by institution, and the last 12 months.

Set-based: every figure comes from a GROUP BY over the region's rows (a handful of queries,
whatever the number of instruments); Python only arranges the grouped rows. The status of each
registration is derived in SQL by ``status_expression``, the same rule as
``review.verification_status`` (which reads the registry one instrument at a time); the test
tests/api/instruments/test_statistics.py holds the two equal on every status.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.instruments.models import (
    ApplicationStatus,
    RegisteredInstrument,
    RegistrationEvent,
    RegistrationEventKind,
    RegistrationStatus,
    VerificationApplication,
)
from api.instruments.review import FIRST_ONLY_FORMS
from api.instruments.schemas import (
    VERIFICATION_STATUS_ZH,
    CategoryStatistics,
    InstitutionStatistics,
    InstrumentStatistics,
    MonthStatistics,
    StatusCount,
    SubregionLink,
)
from api.instruments.settings import InstrumentsSettings
from portal import clock, facts
from portal.accounts.models import Organization, User
from portal.accounts.permissions import Action, authorize
from portal.regions.models import Region
from portal.regions.service import get_region, significant_prefix

# The six states a regulator counts (issue 15), and the detailed states each gathers:
# 到期更换 (a first-only meter past its life) is overdue like 已过期; a revoked certificate
# leaves the instrument without a valid verification, as a failed one does; 未到检定期 (never
# verified, put in use later) is not verified yet. A rejected registration is not a registered
# instrument and is counted apart.
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("valid", "有效", ("valid",)),
    ("expiring", "即将到期", ("expiring",)),
    ("expired", "已过期", ("expired", "replace")),
    ("unverified", "未检定", ("none", "not_due")),
    ("failed", "不合格", ("failed", "revoked")),
    ("retired", "已注销", ("retired",)),
)
GROUP_OF = {detail: group for group, _, details in GROUPS for detail in details}
GROUP_ZH = {group: name for group, name, _ in GROUPS}
MONTHS = 12


def region_bounds(code: str) -> tuple[str, str]:
    """[low, high) of every GB/T 2260 code under ``code`` (regions/service.py's prefix rule)."""
    low = significant_prefix(code)
    return low, low[:-1] + chr(ord(low[-1]) + 1)


def status_expression(current: Any, *, today: date, expiring_days: int) -> ColumnElement[str]:
    """A registration's verification state in SQL: ``review.verification_status`` with the
    registry's ``compute_status`` inlined. ``current`` is the subquery of
    ``facts.current_certificates`` joined on the registration's registry instrument."""
    r = RegisteredInstrument
    first_only = col(r.verification_form).in_(FIRST_ONLY_FORMS)
    overdue = case((first_only, literal("replace")), else_=literal("expired"))
    declared = case(
        (
            or_(col(r.due_on).is_(None), col(r.due_on) > today),
            case((col(r.last_verified_on).is_(None), literal("not_due")), else_=literal("valid")),
        ),
        (col(r.last_verified_on).is_(None), literal("none")),
        else_=overdue,
    )
    return case(
        (col(r.status) == RegistrationStatus.retired, literal("retired")),
        (col(r.status) == RegistrationStatus.rejected, literal("rejected")),
        (current.c.kind.is_(None), declared),
        (current.c.revoked_id.is_not(None), literal("revoked")),
        (or_(current.c.kind == "notice", current.c.valid_until.is_(None)), literal("failed")),
        (current.c.valid_until < today, overdue),
        (current.c.valid_until <= today + timedelta(days=expiring_days), literal("expiring")),
        else_=literal("valid"),
    )


def _in_region(column: Any, code: str) -> ColumnElement[bool]:
    low, high = region_bounds(code)
    return and_(column >= low, column < high)


def _local_month(column: Any, dialect: str) -> Any:
    """The month (YYYY-MM) in China of a UTC timestamp column."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("Asia/Shanghai", column), "YYYY-MM")
    return func.strftime("%Y-%m", column, "+8 hours")  # China keeps no daylight saving time


def _date_month(column: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        return func.to_char(column, "YYYY-MM")
    return func.substr(column, 1, 7)


def _local_days(start: Any, end: Any, dialect: str) -> Any:
    """Whole days between the dates in China of two UTC timestamps (as application_reads
    counts them)."""
    if dialect == "postgresql":
        day = func.date
        return day(func.timezone("Asia/Shanghai", end)) - day(func.timezone("Asia/Shanghai", start))
    return func.julianday(func.date(end, "+8 hours")) - func.julianday(func.date(start, "+8 hours"))


async def check_access(session: AsyncSession, actor: User, region: str | None) -> Region:
    """The region asked for (default: the actor's own) once the actor may see it."""
    code = region or actor.region_code or ""
    found = await get_region(session, code)
    authorize(actor, Action.instrument_statistics_view, region_code=code)
    return found


async def status_counts(
    session: AsyncSession, *, region: str, today: date
) -> list[tuple[str, str, int]]:
    """(category, detailed state, count) for the region and below: one GROUP BY."""
    current = facts.current_certificates()
    cur = current.query.subquery("cur")
    status = status_expression(cur, today=today, expiring_days=current.expiring_days).label("state")
    r = RegisteredInstrument
    rows = await session.execute(
        select(col(r.category_code), status, func.count())
        .select_from(
            RegisteredInstrument.__table__.outerjoin(  # type: ignore[attr-defined]
                cur, cur.c.instrument_id == col(r.registry_instrument_id)
            )
        )
        .where(_in_region(col(r.region_code), region))
        .group_by(col(r.category_code), status)
    )
    return [(row[0], row[1], int(row[2])) for row in rows.all()]


async def institution_rows(
    session: AsyncSession, *, region: str, today: date, limit_days: int
) -> list[InstitutionStatistics]:
    """Applications of the region's owners by institution: how many, how many completed, the
    days from application to result (average, longest, within the limit), and those still open
    past the limit."""
    dialect = session.get_bind().dialect.name
    a = VerificationApplication
    completed = col(a.status) == ApplicationStatus.completed
    days = _local_days(col(a.created_at), col(a.completed_at), dialect)
    is_open = col(a.status).in_([ApplicationStatus.submitted, ApplicationStatus.accepted])
    # Open since before this moment: past the limit today.
    late_since = datetime.combine(today - timedelta(days=limit_days), time(0), clock.SHANGHAI)
    rows = await session.execute(
        select(
            col(a.institution_id),
            func.count(),
            func.sum(case((completed, 1), else_=0)),
            func.avg(case((completed, days))),
            func.max(case((completed, days))),
            func.sum(case((and_(completed, days <= limit_days), 1), else_=0)),
            func.sum(case((is_open, 1), else_=0)),
            func.sum(case((and_(is_open, col(a.created_at) < late_since), 1), else_=0)),
        )
        .where(_in_region(col(a.region_code), region))
        .group_by(col(a.institution_id))
    )
    grouped = rows.all()
    names = await _organizations(session, {row[0] for row in grouped})
    result = []
    for row in grouped:
        code, name = names.get(row[0], ("", ""))
        done = int(row[2] or 0)
        result.append(
            InstitutionStatistics(
                institution_code=code,
                institution_name=name,
                applications=int(row[1]),
                completed=done,
                average_days=round(float(row[3]), 1) if row[3] is not None else None,
                longest_days=int(row[4]) if row[4] is not None else None,
                within_limit=int(row[5] or 0),
                within_limit_rate=_rate(int(row[5] or 0), done),
                open=int(row[6] or 0),
                open_past_limit=int(row[7] or 0),
            )
        )
    result.sort(key=lambda i: (-i.applications, i.institution_code))
    return result


async def _organizations(
    session: AsyncSession, ids: set[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, str]]:
    if not ids:
        return {}
    rows = await session.execute(
        select(col(Organization.id), col(Organization.code), col(Organization.name)).where(
            col(Organization.id).in_(ids)
        )
    )
    return {row[0]: (row[1], row[2]) for row in rows.all()}


def month_keys(today: date) -> list[str]:
    """The last 12 months, oldest first, this month last."""
    first = today.replace(day=1)
    return [clock.add_months(first, -n).strftime("%Y-%m") for n in range(MONTHS - 1, -1, -1)]


async def month_rows(session: AsyncSession, *, region: str, today: date) -> list[MonthStatistics]:
    """By month (China's calendar), the last 12: instruments registered and retired, applications
    made and completed, verifications of registered instruments (passed, failed)."""
    dialect = session.get_bind().dialect.name
    keys = month_keys(today)
    since_day = date.fromisoformat(keys[0] + "-01")
    since = datetime.combine(since_day, time(0), clock.SHANGHAI)
    r = RegisteredInstrument
    counts: dict[str, dict[str, int]] = {k: {} for k in keys}

    def add(name: str, rows: Any) -> None:
        for month, n in rows:
            if month in counts:
                counts[month][name] = counts[month].get(name, 0) + int(n)

    in_region = _in_region(col(r.region_code), region)
    month = _local_month(col(r.created_at), dialect)
    add(
        "registered",
        await session.execute(
            select(month, func.count()).where(in_region, col(r.created_at) >= since).group_by(month)
        ),
    )
    e = RegistrationEvent
    month = _local_month(col(e.at), dialect)
    add(
        "retired",
        await session.execute(
            select(month, func.count())
            .select_from(
                RegistrationEvent.__table__.join(  # type: ignore[attr-defined]
                    RegisteredInstrument.__table__,  # type: ignore[attr-defined]
                    col(r.id) == col(e.registration_id),
                )
            )
            .where(
                in_region,
                col(e.kind).in_([RegistrationEventKind.retired, RegistrationEventKind.replaced]),
                col(e.at) >= since,
            )
            .group_by(month)
        ),
    )
    a = VerificationApplication
    app_region = _in_region(col(a.region_code), region)
    month = _local_month(col(a.created_at), dialect)
    add(
        "applications",
        await session.execute(
            select(month, func.count())
            .where(app_region, col(a.created_at) >= since)
            .group_by(month)
        ),
    )
    month = _local_month(col(a.completed_at), dialect)
    add(
        "completed",
        await session.execute(
            select(month, func.count())
            .where(
                app_region,
                col(a.status) == ApplicationStatus.completed,
                col(a.completed_at) >= since,
            )
            .group_by(month)
        ),
    )
    # Verifications of registered instruments: each registry instrument counted once however
    # many registrations (an owner's successive ones) link to it.
    verified = facts.registry_verifications().subquery("verified")
    linked = (
        select(col(r.registry_instrument_id).label("instrument_id"))
        .where(in_region, col(r.registry_instrument_id).is_not(None))
        .distinct()
        .subquery("linked")
    )
    month = _date_month(verified.c.verified_on, dialect)
    failed = case((verified.c.kind == "notice", 1), else_=0)
    for row in (
        await session.execute(
            select(month, func.count(), func.sum(failed))
            .select_from(verified.join(linked, linked.c.instrument_id == verified.c.instrument_id))
            .where(verified.c.verified_on >= since_day, verified.c.verified_on <= today)
            .group_by(month)
        )
    ).all():
        if row[0] in counts:
            counts[row[0]]["verified"] = int(row[1])
            counts[row[0]]["failed"] = int(row[2] or 0)
    return [
        MonthStatistics(
            month=k,
            registered=v.get("registered", 0),
            retired=v.get("retired", 0),
            applications=v.get("applications", 0),
            completed=v.get("completed", 0),
            verified=v.get("verified", 0),
            failed=v.get("failed", 0),
        )
        for k, v in counts.items()
    ]


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class _Totals:
    groups: dict[str, int]
    details: dict[str, int]


def _totals(rows: list[tuple[str, str, int]]) -> _Totals:
    groups = {g: 0 for g, _, _ in GROUPS}
    details = dict.fromkeys(VERIFICATION_STATUS_ZH, 0)
    for _, state, n in rows:
        details[state] = details.get(state, 0) + n
        if state in GROUP_OF:
            groups[GROUP_OF[state]] += n
    return _Totals(groups, details)


async def regional_statistics(
    session: AsyncSession,
    *,
    actor: User,
    region: str | None,
    settings: InstrumentsSettings,
    today: date | None = None,
) -> InstrumentStatistics:
    found = await check_access(session, actor, region)
    today = today or clock.today()
    return await summary(session, region=found, today=today, settings=settings)


async def summary(
    session: AsyncSession, *, region: Region, today: date, settings: InstrumentsSettings
) -> InstrumentStatistics:
    """The whole summary of ``region`` and below (no access check: regional_statistics)."""
    rows = await status_counts(session, region=region.code, today=today)
    totals = _totals(rows)
    names = {c.code: c.name for c in facts.instrument_categories()}
    by_category: dict[str, dict[str, int]] = {}
    for category, state, n in rows:
        if state in GROUP_OF:
            counts = by_category.setdefault(category, {g: 0 for g, _, _ in GROUPS})
            counts[GROUP_OF[state]] += n
    categories = sorted(
        (
            CategoryStatistics(
                category_code=code,
                category_name=names.get(code, code),
                total=sum(counts.values()),
                counts=counts,
            )
            for code, counts in by_category.items()
        ),
        key=lambda c: (-c.total, c.category_code),
    )
    d = totals.details
    registered = sum(totals.groups.values())
    in_use = registered - totals.groups["retired"]
    due = in_use - d["not_due"]
    children = (
        await session.scalars(
            select(Region).where(col(Region.parent_code) == region.code).order_by(Region.code)
        )
    ).all()
    return InstrumentStatistics(
        region_code=region.code,
        region_name=region.full_name,
        as_of=today,
        registered=registered,
        in_use=in_use,
        due=due,
        rejected=d["rejected"],
        by_status=[
            StatusCount(code=g, name=GROUP_ZH[g], count=n) for g, n in totals.groups.items()
        ],
        by_status_detail=[
            StatusCount(code=k, name=VERIFICATION_STATUS_ZH[k], count=n) for k, n in d.items()
        ],
        verified=d["valid"] + d["expiring"],
        overdue=d["expired"] + d["replace"] + d["none"],
        verification_rate=_rate(d["valid"] + d["expiring"], due),
        overdue_rate=_rate(d["expired"] + d["replace"] + d["none"], due),
        categories=categories,
        result_limit_days=settings.application_result_days,
        institutions=await institution_rows(
            session, region=region.code, today=today, limit_days=settings.application_result_days
        ),
        months=await month_rows(session, region=region.code, today=today),
        subregions=[SubregionLink(code=c.code, name=c.name) for c in children],
    )
