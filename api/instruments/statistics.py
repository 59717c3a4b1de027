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
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from api.instruments.models import (
    ApplicationStatus,
    RegisteredInstrument,
    RegisteredVerification,
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
from portal.regions.service import code_bounds, get_region

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


def status_expression(*, today: date, expiring_days: int) -> ColumnElement[str]:
    """A registration's verification state in SQL: ``review.verification_status`` with the
    registry's ``compute_status`` inlined, from the registration's own columns (its copy of the
    registry's current certificate, current.py); what depends on the date is derived here from
    ``today``, never stored."""
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
    valid_until = col(r.current_valid_until)
    return case(
        (col(r.status) == RegistrationStatus.retired, literal("retired")),
        (col(r.status) == RegistrationStatus.rejected, literal("rejected")),
        (col(r.current_kind).is_(None), declared),
        (col(r.current_revoked), literal("revoked")),
        (or_(col(r.current_kind) == "notice", valid_until.is_(None)), literal("failed")),
        (valid_until < today, overdue),
        (valid_until <= today + timedelta(days=expiring_days), literal("expiring")),
        else_=literal("valid"),
    )


def _in_region(column: Any, code: str) -> ColumnElement[bool]:
    low, high = code_bounds(code)
    return and_(column >= low, column < high)


def month_starts(today: date) -> list[date]:
    """The first days of the last 12 months (this month last) and of the next month."""
    first = today.replace(day=1)
    return [clock.add_months(first, -n) for n in range(MONTHS - 1, -2, -1)]


def _start(day: date) -> datetime:
    return datetime.combine(day, time(0), clock.SHANGHAI)


def _month_index(column: Any, bounds: list[Any]) -> Any:
    """0-11: which of the last 12 months ``column`` falls in (China's calendar: ``bounds`` are
    its first days, as dates or as the moments they begin); -1 before, 12 after. Comparisons
    only, so the same on both databases and cheap per row (no time zone or string work)."""
    return case(
        (column >= bounds[MONTHS], literal(MONTHS)),
        *((column >= bounds[k], literal(k)) for k in range(MONTHS - 1, -1, -1)),
        else_=literal(-1),
    )


def _local_day(column: Any, dialect: str) -> Any:
    """The day number in China of a UTC timestamp (China keeps no daylight saving time)."""
    if dialect == "postgresql":
        # date_part, a double: EXTRACT gives a numeric since PostgreSQL 14, whose arithmetic
        # cost a third of the applications' query at 50,000 rows (bench/instrument_stats.py);
        # exact here, as the epoch's whole seconds and microseconds fit a double's precision.
        epoch = func.date_part("epoch", column, type_=Float)
        return func.floor((epoch + 8 * 3600) / literal(86400.0, Float))
    # julianday counts from noon: + 0.5 to midnight UTC, + 8 hours to Beijing time.
    return cast(func.julianday(column) + 0.5 + 8 / 24, Integer)


async def check_access(session: AsyncSession, actor: User, region: str | None) -> Region:
    """The region asked for (default: the actor's own) once the actor may see it."""
    code = region or actor.region_code or ""
    found = await get_region(session, code)
    authorize(actor, Action.instrument_statistics_view, region_code=code)
    return found


@dataclass(frozen=True)
class StateCount:
    """Registrations of one category in one detailed state, and how many of them were
    registered in each of the last 12 months (oldest first)."""

    category_code: str
    state: str
    count: int
    registered_by_month: tuple[int, ...]


async def tune_for_report(session: AsyncSession) -> None:
    """PostgreSQL, for this transaction only: memory enough to hash the region's registrations
    in one batch, no JIT compilation (it costs more than it saves on a query that runs once),
    and custom plans; see bench/instrument_stats.py."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL work_mem = '64MB'"))
        await session.execute(text("SET LOCAL jit = off"))
        # A plan for the region's own bounds every time: asyncpg prepares each statement once per
        # connection, and after five runs PostgreSQL may keep a generic plan made without the
        # bounds (a city's and the province's rows differ twofold; the bench saw the province's
        # summary go from about 2 s to 7-8 s once the city's had run five times).
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


async def status_counts(session: AsyncSession, *, region: str, today: date) -> list[StateCount]:
    """The region's registrations by category and detailed state, with the months they were
    registered in: one GROUP BY over the registrations alone (each carries its instrument's
    current certificate, current.py; the index ix_registered_instrument_statistics holds every
    column read, so PostgreSQL scans the index only), by category and state only, so the groups
    are few and hashed; the months are sums over cumulative bounds."""
    expiring_days = facts.current_certificates().expiring_days
    status = status_expression(today=today, expiring_days=expiring_days).label("state")
    r = RegisteredInstrument
    bounds = [_start(d) for d in month_starts(today)]
    since = [func.sum(case((col(r.created_at) >= b, 1), else_=0)) for b in bounds]
    rows = await session.execute(
        select(col(r.category_code), status, func.count(), *since)
        .where(_in_region(col(r.region_code), region))
        .group_by(col(r.category_code), status)
    )
    result = []
    for row in rows.all():
        cumulative = [int(v or 0) for v in row[3:]]
        result.append(
            StateCount(
                category_code=row[0],
                state=row[1],
                count=int(row[2]),
                registered_by_month=tuple(cumulative[k] - cumulative[k + 1] for k in range(MONTHS)),
            )
        )
    return result


async def overdue_unconfirmed(session: AsyncSession, *, region: str, today: date) -> int:
    """Of the region's overdue registrations (已过期, 到期更换, 未检定 and due), those awaiting
    the bureau's confirmation: the overdue list marks them 待确认. From the index on region and
    registration status (the pending ones are few)."""
    r = RegisteredInstrument
    expiring_days = facts.current_certificates().expiring_days
    state = status_expression(today=today, expiring_days=expiring_days)
    return int(
        await session.scalar(
            select(func.count())
            .select_from(r)
            .where(
                _in_region(col(r.region_code), region),
                col(r.status) == RegistrationStatus.pending,
                state.in_(["expired", "replace", "none"]),
            )
        )
        or 0
    )


@dataclass
class _Institution:
    applications: int = 0
    completed: int = 0
    days: int = 0
    longest: int | None = None
    within: int = 0
    open: int = 0
    late: int = 0


async def application_counts(
    session: AsyncSession, *, region: str, today: date, limit_days: int
) -> tuple[list[InstitutionStatistics], dict[int, tuple[int, int]]]:
    """One GROUP BY over the applications of the region's owners, by institution and by the
    months they were made and completed: per institution how many, how many completed, the days
    from application to result (as application_reads counts them: dates in China), within the
    limit, still open and open past it; per month (0-11) (made, completed)."""
    dialect = session.get_bind().dialect.name
    a = VerificationApplication
    completed = col(a.status) == ApplicationStatus.completed
    days = _local_day(col(a.completed_at), dialect) - _local_day(col(a.created_at), dialect)
    is_open = col(a.status).in_([ApplicationStatus.submitted, ApplicationStatus.accepted])
    late_since = _start(today - timedelta(days=limit_days))  # open since before: past the limit
    moments = [_start(d) for d in month_starts(today)]
    made = _month_index(col(a.created_at), moments).label("made")
    done = case((completed, _month_index(col(a.completed_at), moments)), else_=literal(-1)).label(
        "done"
    )
    rows = await session.execute(
        select(
            col(a.institution_id),
            made,
            done,
            func.count(),
            func.sum(case((completed, 1), else_=0)),
            func.sum(case((completed, days), else_=0)),
            func.max(case((completed, days))),
            func.sum(case((and_(completed, days <= limit_days), 1), else_=0)),
            func.sum(case((is_open, 1), else_=0)),
            func.sum(case((and_(is_open, col(a.created_at) < late_since), 1), else_=0)),
        )
        .where(_in_region(col(a.region_code), region))
        .group_by(col(a.institution_id), made, done)
    )
    per: dict[uuid.UUID, _Institution] = {}
    months: dict[int, tuple[int, int]] = {}
    for row in rows.all():
        i = per.setdefault(row[0], _Institution())
        n, finished = int(row[3]), int(row[4] or 0)
        i.applications += n
        i.completed += finished
        i.days += int(row[5] or 0)
        if row[6] is not None:
            i.longest = max(i.longest or 0, int(row[6]))
        i.within += int(row[7] or 0)
        i.open += int(row[8] or 0)
        i.late += int(row[9] or 0)
        made_n, done_n = months.get(int(row[1]), (0, 0))
        months[int(row[1])] = (made_n + n, done_n)
        made_n, done_n = months.get(int(row[2]), (0, 0))
        months[int(row[2])] = (made_n, done_n + finished)
    names = await _organizations(session, set(per))
    result = [
        InstitutionStatistics(
            institution_code=names.get(key, ("", ""))[0],
            institution_name=names.get(key, ("", ""))[1],
            applications=i.applications,
            completed=i.completed,
            average_days=round(i.days / i.completed, 1) if i.completed else None,
            longest_days=i.longest,
            within_limit=i.within,
            within_limit_rate=_rate(i.within, i.completed),
            open=i.open,
            open_past_limit=i.late,
        )
        for key, i in per.items()
    ]
    result.sort(key=lambda i: (-i.applications, i.institution_code))
    return result, months


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


async def retired_by_month(session: AsyncSession, *, region: str, today: date) -> dict[int, int]:
    """Registrations retired or replaced, by month (0-11), from their events: the index on the
    events' kind and time gives the year's retirements (a few per cent of the registrations),
    and each one's registration is looked up by its key to test the region (an EXISTS, so that
    SQLite does not start from the region's registrations and probe their events instead), in
    the index ix_registered_instrument_id_region alone (half the time of reading each row)."""
    e, r = RegistrationEvent, RegisteredInstrument
    moments = [_start(d) for d in month_starts(today)]
    month = _month_index(col(e.at), moments).label("month")
    in_region = (
        select(literal(1))
        .where(col(r.id) == col(e.registration_id), _in_region(col(r.region_code), region))
        .exists()
    )
    rows = await session.execute(
        select(month, func.count())
        .where(
            col(e.kind).in_([RegistrationEventKind.retired, RegistrationEventKind.replaced]),
            col(e.at) >= moments[0],
            in_region,
        )
        .group_by(month)
    )
    return {int(row[0]): int(row[1]) for row in rows.all()}


async def verifications_by_month(
    session: AsyncSession, *, region: str, today: date
) -> dict[int, tuple[int, int]]:
    """Certificates and failure notices of the region's registered instruments, by the month of
    the verification (0-11): (all, failed). A registry instrument counts once however many
    registrations (an owner's successive ones, or owners' in several regions) link to it.

    From the copy of the registry's certificates kept per region (models.py
    ``RegisteredVerification``, current.py): one range of its index holds every column read; of
    a certificate's rows in the region, only the one whose previous region lies below the
    region's codes is counted, so each counts once."""
    v = RegisteredVerification
    low, high = code_bounds(region)
    bounds = month_starts(today)
    previous = col(v.previous_region)
    # By day, not by month in SQL: a year's few hundred days hash cheaper than a 13-way CASE
    # evaluated on each of the province's half a million rows; Python puts the days in months.
    rows = await session.execute(
        select(col(v.verified_on), func.count(), func.sum(case((col(v.failed), 1), else_=0)))
        .where(
            col(v.region_code) >= low,
            col(v.region_code) < high,
            col(v.verified_on) >= bounds[0],
            col(v.verified_on) <= today,
            or_(previous.is_(None), previous < low),
        )
        .group_by(col(v.verified_on))
    )
    months: dict[int, tuple[int, int]] = {}
    for day, n, failed in rows.all():
        k = bisect_right(bounds, day) - 1  # 0-11: the window ends today, before bounds[12]
        total, notices = months.get(k, (0, 0))
        months[k] = (total + int(n), notices + int(failed or 0))
    return months


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True)
class _Totals:
    groups: dict[str, int]
    details: dict[str, int]


def _totals(rows: list[StateCount]) -> _Totals:
    groups = dict.fromkeys(GROUP_ZH, 0)
    details = dict.fromkeys(VERIFICATION_STATUS_ZH, 0)
    for row in rows:
        state, n = row.state, row.count
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
    await tune_for_report(session)
    return await summary(session, region=found, today=today, settings=settings)


async def summary(
    session: AsyncSession, *, region: Region, today: date, settings: InstrumentsSettings
) -> InstrumentStatistics:
    """The whole summary of ``region`` and below (no access check: regional_statistics)."""
    rows = await status_counts(session, region=region.code, today=today)
    totals = _totals(rows)
    names = {c.code: c.name for c in facts.instrument_categories()}
    by_category: dict[str, dict[str, int]] = {}
    registered_in = [0] * MONTHS
    for row in rows:
        if row.state in GROUP_OF:
            counts = by_category.setdefault(row.category_code, dict.fromkeys(GROUP_ZH, 0))
            counts[GROUP_OF[row.state]] += row.count
        if row.state != "rejected":  # not a registered instrument (as in the totals)
            for k, n in enumerate(row.registered_by_month):
                registered_in[k] += n
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
    limit = settings.application_result_days
    institutions, applied = await application_counts(
        session, region=region.code, today=today, limit_days=limit
    )
    retired = await retired_by_month(session, region=region.code, today=today)
    verified = await verifications_by_month(session, region=region.code, today=today)
    months = [
        MonthStatistics(
            month=first.strftime("%Y-%m"),
            registered=registered_in[k],
            retired=retired.get(k, 0),
            applications=applied.get(k, (0, 0))[0],
            completed=applied.get(k, (0, 0))[1],
            verified=verified.get(k, (0, 0))[0],
            failed=verified.get(k, (0, 0))[1],
        )
        for k, first in enumerate(month_starts(today)[:MONTHS])
    ]
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
        overdue_unconfirmed=await overdue_unconfirmed(session, region=region.code, today=today),
        verification_rate=_rate(d["valid"] + d["expiring"], due),
        overdue_rate=_rate(d["expired"] + d["replace"] + d["none"], due),
        categories=categories,
        result_limit_days=limit,
        institutions=institutions,
        months=months,
        subregions=[SubregionLink(code=c.code, name=c.name) for c in children],
    )
