"""Imported State Council notices: import, remove, read, and keep every process's calendar fresh.

The working-day functions (``portal.workdays``) read an in-memory copy of the imported notices.
That copy is

- loaded from the database when a server or worker starts (``refresh``) and reloaded every
  ``GONGZHI_CALENDAR_REFRESH_SECONDS`` by each process (``keep_fresh``), so an import made by one
  process reaches every other;
- replaced in the importing process as soon as its transaction commits (``_install_on_commit``);
- reloaded by the worker that handles the ``calendar.changed`` outbox event, before the domains'
  ``on_calendar_changed`` hooks recompute what depends on it (``portal/workdays/jobs.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import structlog
from sqlalchemy import delete, event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import col, select

from portal import workdays
from portal.audit import service as audit
from portal.db import Database, utcnow
from portal.outbox.service import enqueue
from portal.workdays.errors import CalendarYearNotFound
from portal.workdays.models import CalendarDay, CalendarYear
from portal.workdays.notice import Notice, parse_notice

log = structlog.get_logger(__name__)

# Emitted in the transaction that imports or removes a year's notice. Payload: {"years": [2027]}.
# Handled by portal/workdays/jobs.py, which calls each domain's ``jobs.on_calendar_changed``.
TOPIC_CHANGED = "calendar.changed"

# chinese-calendar names its festivals in English; the notices (and the pages) in Chinese.
_LIBRARY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "Mid-autumn Festival": "中秋节",
    "National Day": "国庆节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}


@dataclass(frozen=True)
class NamedDay:
    day: date
    festival: str


@dataclass(frozen=True)
class YearDays:
    """A year's holidays and make-up working days, from an imported notice or the library."""

    year: int
    source: workdays.YearSource
    title: str
    holidays: list[NamedDay]
    make_up_days: list[NamedDay]
    document_number: str | None = None
    signed_on: date | None = None
    imported_at: datetime | None = None
    text: str | None = None


async def load(session: AsyncSession) -> list[workdays.LoadedYear]:
    """Every imported notice, as the working-day functions use them."""
    years = (await session.scalars(select(CalendarYear))).all()
    days = (await session.scalars(select(CalendarDay))).all()
    named: dict[int, tuple[set[date], set[date]]] = {y.year: (set(), set()) for y in years}
    for row in days:
        holidays, make_up = named[row.year]
        (make_up if row.working else holidays).add(row.day)
    return [
        workdays.LoadedYear(
            year=y.year,
            title=y.title,
            holidays=frozenset(named[y.year][0]),
            make_up_days=frozenset(named[y.year][1]),
        )
        for y in years
    ]


async def refresh(database: Database) -> None:
    async with database.sessionmaker() as session:
        workdays.install(await load(session))


async def keep_fresh(database: Database, stop: asyncio.Event, *, every: float) -> None:
    """Reload the imported notices every ``every`` seconds until ``stop`` is set. A database that
    is down is logged and tried again; the last calendar loaded stays in use."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), timeout=every)
        except TimeoutError:
            pass
        if stop.is_set():
            return
        try:
            await refresh(database)
        except Exception as exc:  # keep serving with the calendar we have
            log.warning("calendar_refresh_failed", error=repr(exc)[:300])


async def start(database: Database, stop: asyncio.Event, *, every: float) -> asyncio.Task[None]:
    """Load the imported notices before a server or worker takes work, then keep them fresh."""
    try:
        await refresh(database)
    except Exception as exc:  # a database down at start: the periodic refresh tries again
        log.warning("calendar_refresh_failed", error=repr(exc)[:300])
    return asyncio.create_task(keep_fresh(database, stop, every=every))


async def _install_on_commit(session: AsyncSession) -> None:
    """Make this process use the calendar as this transaction leaves it, once it commits (not
    before: a rolled-back import must not change a deadline)."""
    snapshot = await load(session)

    def install(_: Session) -> None:
        workdays.install(snapshot)

    event.listen(session.sync_session, "after_commit", install, once=True)


def _summary(notice: Notice | CalendarYear, days: Sequence[CalendarDay] = ()) -> dict[str, Any]:
    if isinstance(notice, Notice):
        holidays, make_up = sorted(notice.holidays), sorted(notice.make_up_days)
    else:
        holidays = sorted(d.day for d in days if not d.working)
        make_up = sorted(d.day for d in days if d.working)
    return {
        "document_number": notice.document_number,
        "holidays": [d.isoformat() for d in holidays],
        "make_up_days": [d.isoformat() for d in make_up],
    }


async def _days_of(session: AsyncSession, year: int) -> list[CalendarDay]:
    stmt = select(CalendarDay).where(CalendarDay.year == year).order_by(col(CalendarDay.day))
    return list((await session.scalars(stmt)).all())


async def import_notice(
    session: AsyncSession, *, text: str, year: int | None = None, actor: Any | None
) -> CalendarYear:
    """Store a notice's days for its year, replacing an earlier import of the same year."""
    notice = parse_notice(text, year=year)
    row = await session.get(CalendarYear, notice.year)
    before = None
    if row is None:
        row = CalendarYear(year=notice.year, title=notice.title, text=text)
    else:
        before = _summary(row, await _days_of(session, notice.year))
        await session.execute(delete(CalendarDay).where(col(CalendarDay.year) == notice.year))
    row.title, row.text = notice.title, text
    row.document_number, row.signed_on = notice.document_number, notice.signed_on
    row.imported_at, row.imported_by_id = utcnow(), getattr(actor, "id", None)
    session.add(row)
    await session.flush()
    for festival in notice.festivals:
        for day in festival.holidays:
            session.add(
                CalendarDay(year=notice.year, day=day, working=False, festival=festival.name)
            )
        for day in festival.make_up_days:
            session.add(
                CalendarDay(year=notice.year, day=day, working=True, festival=festival.name)
            )
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="calendar.import",
        entity_type="calendar_year",
        entity_id=notice.year,
        before=before,
        after=_summary(notice),
    )
    await enqueue(session, TOPIC_CHANGED, {"years": [notice.year]})
    await _install_on_commit(session)
    return row


async def remove_year(session: AsyncSession, *, year: int, actor: Any | None) -> None:
    """Forget an imported notice: the year goes back to the library's data, or to unknown."""
    row = await session.get(CalendarYear, year)
    if row is None:
        raise CalendarYearNotFound(
            f"No notice has been imported for {year}.", detail_zh=f"未导入{year}年的节假日安排。"
        )
    before = _summary(row, await _days_of(session, year))
    await session.execute(delete(CalendarDay).where(col(CalendarDay.year) == year))
    await session.delete(row)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="calendar.remove",
        entity_type="calendar_year",
        entity_id=year,
        before=before,
    )
    await enqueue(session, TOPIC_CHANGED, {"years": [year]})
    await _install_on_commit(session)


async def list_imported(session: AsyncSession) -> list[CalendarYear]:
    stmt = select(CalendarYear).order_by(col(CalendarYear.year).desc())
    return list((await session.scalars(stmt)).all())


def _library_days(year: int) -> YearDays:
    from chinese_calendar import constants

    def named(days: dict[date, str]) -> list[NamedDay]:
        return [
            NamedDay(day=d, festival=_LIBRARY_NAMES.get(name, name))
            for d, name in sorted(days.items())
            if d.year == year
        ]

    return YearDays(
        year=year,
        source="library",
        title=f"{year}年节假日安排（chinese-calendar 软件包）",
        holidays=named(constants.holidays),
        make_up_days=named(constants.workdays),
    )


async def year_days(session: AsyncSession, year: int) -> YearDays:
    """The days of ``year`` as the calendar uses them: an imported notice if there is one, else
    the library's; ``CalendarYearNotFound`` when neither knows the year."""
    row = await session.get(CalendarYear, year)
    if row is not None:
        days = await _days_of(session, year)
        return YearDays(
            year=year,
            source="notice",
            title=row.title,
            holidays=[NamedDay(d.day, d.festival) for d in days if not d.working],
            make_up_days=[NamedDay(d.day, d.festival) for d in days if d.working],
            document_number=row.document_number,
            signed_on=row.signed_on,
            imported_at=row.imported_at,
            text=row.text,
        )
    first, last = workdays.covered_years()
    if first <= year <= last:
        return _library_days(year)
    raise CalendarYearNotFound(
        f"Neither an imported notice nor chinese-calendar knows {year}.",
        detail_zh=f"{year}年节假日安排尚未导入。",
    )


def preview(text: str, *, year: int | None = None) -> YearDays:
    """What importing ``text`` would store, without storing it."""
    notice = parse_notice(text, year=year)
    return YearDays(
        year=notice.year,
        source="notice",
        title=notice.title,
        holidays=[NamedDay(d, f.name) for f in notice.festivals for d in f.holidays],
        make_up_days=[NamedDay(d, f.name) for f in notice.festivals for d in f.make_up_days],
        document_number=notice.document_number,
        signed_on=notice.signed_on,
        text=text,
    )
