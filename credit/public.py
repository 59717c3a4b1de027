"""What anyone may read without logging in: the current grades (each association's own, under
the association's name), an enterprise's page, the 公示 lists, the ledger and the feed."""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, literal_column, or_, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from credit import errors, listing_cache, words
from credit.listing_cache import ListedPage, NoticeLink
from credit.members import get_enterprise, shown_name
from credit.methodologies import get_methodology
from credit.models import (
    Enterprise,
    LedgerEvent,
    Membership,
    Methodology,
    Rating,
    RatingStatus,
    Run,
    RunStatus,
    Score,
)
from credit.objections import ObjectionRow, get_objection, list_objections
from credit.ratings import RatingRow
from credit.runs import ScoreRow, run_scores
from credit.schemas import rating_read
from credit.scoring import GRADES
from portal.accounts.models import Organization
from portal.cache import UNKNOWN, Cache
from portal.db import reads_replica
from portal.errors import InvalidInput
from portal.regions.models import Region
from portal.regions.service import prefix_bounds, significant_prefix

MAX_REGION_MATCHES = 20


@dataclass(frozen=True)
class Grade:
    """One association's current grade of an enterprise, with the score behind it."""

    row: RatingRow
    score: Score | None


@dataclass(frozen=True)
class OpenNotice:
    run: Run
    score: Score
    association: Organization
    name: str


@dataclass(frozen=True)
class EnterpriseView:
    enterprise: Enterprise
    # Every association's current grade, newest publication first: never one grade for all.
    grades: list[Grade]
    ratings: list[RatingRow]
    events: list[LedgerEvent]
    notices: list[OpenNotice]
    today: date  # the day the view was read for: what is current, and each rating's status
    labels: list[str] = field(default_factory=list)  # the associations' labels for the member

    @property
    def only_grade(self) -> Grade | None:
        """The grade when exactly one association grades the enterprise (the single-grade
        fields of the API); with several there is no "current" grade, only theirs."""
        return self.grades[0] if len(self.grades) == 1 else None


@dataclass(frozen=True)
class ObjectionView:
    """An objection as its follow-up page shows it: its status and the batch it concerns, never
    the objector's name, contact or text (the link may be forwarded; those stay with the
    association's staff)."""

    row: ObjectionRow
    run: Run
    association: Organization

    @property
    def reference(self) -> str:
        return objection_reference(self.row.objection.id)


def objection_reference(objection_id: uuid.UUID) -> str:
    """A short reference to quote on the phone or in a letter (3C52-0A99); the follow-up link
    carries the whole id, which cannot be guessed."""
    head = objection_id.hex[:8].upper()
    return f"{head[:4]}-{head[4:]}"


@dataclass(frozen=True)
class NoticeView:
    run: Run
    association: Organization
    methodology: Methodology
    scores: list[ScoreRow]
    objections: list[ObjectionRow]


@dataclass(frozen=True)
class RegionFilter:
    """What a region filter was understood as: code prefixes (61, 6104, 610402) and, when the
    person typed a name, the divisions it named (so the page can say which 咸阳 it searched)."""

    prefixes: list[str]
    regions: list[Region]


async def resolve_region(session: AsyncSession, text: str) -> RegionFilter:
    """A region as a person types it: a 2-, 4- or 6-digit code (prefix) or a division's name,
    with or without its suffix (咸阳, 咸阳市, 秦都区, 咸阳市秦都区), looked up in the shell's
    region table. A name matching several divisions filters on all of them."""
    # NFKC: full-width digits typed on a phone keyboard (６１０４) are the same code; isascii:
    # other scripts' digits are not a code at all.
    term = "".join(unicodedata.normalize("NFKC", text).split())
    if term.isdigit() and term.isascii():
        if len(term) in (2, 4):
            return RegionFilter([term], [])
        if len(term) == 6:
            return RegionFilter([significant_prefix(term)], [])
        raise InvalidInput(
            "region is a 2-, 4- or 6-digit division code or a division's name.",
            detail_zh="行政区划代码应为 2、4 或 6 位数字（如 61、6104、610402），也可以输入地区名称。",
        )
    exact = (
        await session.scalars(
            select(Region)
            .where(
                or_(col(Region.name) == term, col(Region.full_name).endswith(term, autoescape=True))
            )
            .order_by(col(Region.code))
            .limit(MAX_REGION_MATCHES)
        )
    ).all()
    regions = list(exact) or list(
        (
            await session.scalars(
                select(Region)
                .where(col(Region.name).startswith(term, autoescape=True))
                .order_by(col(Region.code))
                .limit(MAX_REGION_MATCHES)
            )
        ).all()
    )
    if not regions:
        raise errors.RegionNotRecognised(
            f"No administrative division is named {term!r}.",
            detail_zh=f"没有找到名为“{term}”的地区。请输入市、区、县的名称（如 咸阳、秦都区），"
            "或行政区划代码（如 6104、610402）。",
        )
    return RegionFilter(sorted({significant_prefix(r.code) for r in regions}), regions)


def _rating_filters(
    stmt: Any,
    *,
    name: Any,
    today: date,
    industry: str | None,
    grade: str | None,
    region: RegionFilter | None,
    q: str | None,
    candidates: Any | None,
    codes_lead: bool = False,
) -> Any:
    current: Any = Rating.status == RatingStatus.active
    if candidates is not None and codes_lead:
        # SQLite without statistics (no ANALYZE) would walk every current grade by the listing
        # index and test each against the codes; "+status" is no index's column, so the few
        # codes the words give are looked up instead.
        current = literal_column("+credit_rating.status") == RatingStatus.active.value
    stmt = stmt.where(current, col(Rating.valid_until) >= today)
    # The enterprise's industry and region as its grades carry them (kept by the database,
    # migration d4a7c3e1b2f5): a filtered page and its count read one index, no enterprise.
    if industry:
        stmt = stmt.where(col(Rating.listed_industry) == industry)
    if grade:
        if grade not in GRADES:
            raise InvalidInput(
                f"grade must be one of {', '.join(GRADES)}.", detail_zh="信用等级取值无效。"
            )
        stmt = stmt.where(Rating.grade == grade)
    if region is not None:
        stmt = stmt.where(
            or_(*(_within(col(Rating.listed_region_code), p) for p in region.prefixes))
        )
    if q:
        if candidates is not None:
            stmt = stmt.where(candidates)
        stmt = stmt.where(words.matches(name, q))
    return stmt


REGION_CODE_LENGTH = 6


def _within(code: Any, prefix: str) -> Any:
    """The codes that start with ``prefix`` (digits) as an index serves them (a LIKE on a column
    of SQLite's default case-insensitive collation cannot): a whole code (a county) is one value,
    which the listing index also reads in score order; a shorter prefix is a range of digit
    strings (``portal.regions.service.prefix_bounds``)."""
    if len(prefix) == REGION_CODE_LENGTH:
        return code == prefix
    low, high = prefix_bounds(prefix)
    return and_(code >= low, code < high)


def _ratings_query(columns: Any) -> Any:
    name, joined = shown_name(Rating.association_id, Rating.uscc)
    stmt = (
        select(*columns(name))
        .select_from(Rating)
        .join(Enterprise, col(Enterprise.uscc) == col(Rating.uscc))
        .join(Organization, col(Organization.id) == col(Rating.association_id))
        .outerjoin(Membership, joined)
    )
    return stmt, name


def _narrow_query(columns: list[Any], *, names: bool) -> Any:
    """The same rows as ``_ratings_query`` with only the joins the filters read: every rating has
    its enterprise and its association (foreign keys) and at most one membership (unique), so
    leaving a join out changes no count. Counting and ranking 100,000 grades then reads one
    table (and the enterprise's and memberships only for a word filter)."""
    name, joined = shown_name(Rating.association_id, Rating.uscc)
    stmt = select(*columns).select_from(Rating)
    if names:
        stmt = stmt.join(Enterprise, col(Enterprise.uscc) == col(Rating.uscc))
        stmt = stmt.outerjoin(Membership, joined)
    return stmt, name


async def list_ratings(
    session: AsyncSession,
    *,
    today: date,
    industry: str | None = None,
    grade: str | None = None,
    region: str | RegionFilter | None = None,
    q: str | None = None,
    offset: int = 0,
    limit: int | None = 20,
    total_seconds: float = 0,
    totals: Cache | None = None,
) -> tuple[list[RatingRow], int]:
    """Current grades, one row per association and enterprise, best first (then by name,
    association and enterprise code, so every page is a slice of one order).

    A page is found in two steps so that no step joins or sorts more than the page: the scores
    at the page's first and last positions are read from the grades alone (``_narrow_query``),
    with the count of rows scoring above the page; the joined, named rows are then read only
    within that score range. Sorting every joined row for the first 20 took seconds at 100,000
    rated enterprises (bench/pages.py). With ``total_seconds``, the total of a filter set is
    reused for that long from ``totals`` (``credit/listing_cache.py``)."""
    if isinstance(region, RegionFilter):
        regions: RegionFilter | None = region
    else:
        regions = await resolve_region(session, region) if region and region.strip() else None
    # Only spaces (also full-width ones, typed on a phone) are no words: the whole list, not a
    # filter with nothing to match.
    q = q if q and q.split() else None
    word_filter = (
        await words.plan(session, q, rows=None if limit is None else offset + limit)
        if q
        else words.WordFilter(None, selective=False)
    )

    def filtered(query: Any, name: Any, *, counting: bool = False) -> Any:
        """``counting``: the statement reads every filtered grade (the total), so the index
        gives them even when the page is found sooner without it."""
        return _rating_filters(
            query,
            name=name,
            today=today,
            industry=industry,
            grade=grade,
            region=regions,
            q=q,
            candidates=word_filter.candidates if counting or word_filter.selective else None,
            codes_lead=word_filter.codes_lead,
        )

    narrow = {"names": bool(q)}
    stmt, name = _ratings_query(lambda name: [Rating, Enterprise, Organization, name])
    # The enterprise's code last: with equal scores, names and associations, pages would
    # otherwise each pick their own order and show a grade twice or never.
    order = (col(Rating.score).desc(), name, col(Organization.code), col(Rating.uscc))
    stmt = filtered(stmt, name).order_by(*order)
    if limit is None:  # the plan for every row is the index's (selective)
        everything = [RatingRow(r, e, o, n) for r, e, o, n in (await session.execute(stmt)).all()]
        return everything, len(everything)
    # The page's highest and lowest score, how many grades score above it and the total, in ONE
    # statement: on PostgreSQL (READ COMMITTED) each statement sees what is committed when it
    # starts, so a grade published between two statements would make "how many above" disagree
    # with "the page's scores" (an OFFSET below zero, or a page shifted off the order). Read in
    # one snapshot, ``offset - above`` counts the grades tied with the page's highest score that
    # precede the page, never below zero.
    scores_stmt, scores_name = _narrow_query([col(Rating.score).label("score")], **narrow)
    page_scores = (
        filtered(scores_stmt, scores_name)
        .order_by(col(Rating.score).desc())
        .offset(offset)
        .limit(limit)
        .cte("page_scores")
    )
    highest_of = select(func.max(page_scores.c.score)).scalar_subquery()
    lowest_of = select(func.min(page_scores.c.score)).scalar_subquery()
    cached = totals if total_seconds > 0 else None
    totals_key = listing_cache.key(
        today, industry, grade, tuple(regions.prefixes) if regions else None, q
    )
    generation, known_total = (
        await listing_cache.lookup(cached, totals_key) if cached else (UNKNOWN, None)
    )
    if known_total is None:
        count_stmt, count_name = _narrow_query(
            [
                func.count(),
                func.coalesce(func.sum(case((col(Rating.score) > highest_of, 1), else_=0)), 0),
                highest_of,
                lowest_of,
            ],
            **narrow,
        )
        total, above, highest, lowest = (
            await session.execute(filtered(count_stmt, count_name, counting=True))
        ).one()
        if cached is not None:
            await listing_cache.store(
                cached, totals_key, int(total or 0), total_seconds, generation
            )
    else:
        # Only the grades above the page are counted: the page's scores are read from the
        # index in order, and those above them are the page's offset at most.
        above_stmt, above_name = _narrow_query([func.count(), highest_of, lowest_of], **narrow)
        above_stmt = filtered(above_stmt, above_name).where(col(Rating.score) > highest_of)
        above, highest, lowest = (await session.execute(above_stmt)).one()
        total = known_total
    if highest is None:
        return [], int(total or 0)
    stmt = (
        stmt.where(col(Rating.score) <= highest, col(Rating.score) >= lowest)
        .offset(offset - int(above))
        .limit(limit)
    )
    rows = [RatingRow(r, e, o, n) for r, e, o, n in (await session.execute(stmt)).all()]
    return rows, int(total)


# The distinct industries of enterprises with a current grade, found by skipping through the
# industry index (one lookup per industry, not a pass over every enterprise), then keeping those
# where some grade is active. The same SQL on SQLite and PostgreSQL.
_INDUSTRIES = text(
    """
    WITH RECURSIVE seen(industry) AS (
        SELECT min(industry) FROM credit_enterprise
        UNION ALL
        SELECT (SELECT min(e.industry) FROM credit_enterprise e WHERE e.industry > seen.industry)
        FROM seen WHERE seen.industry IS NOT NULL
    )
    SELECT industry FROM seen
    WHERE industry IS NOT NULL AND industry <> '' AND EXISTS (
        SELECT 1 FROM credit_enterprise e JOIN credit_rating r ON r.uscc = e.uscc
        WHERE e.industry = seen.industry AND r.status = :active
    )
    ORDER BY industry
    """
)


async def industries(session: AsyncSession) -> list[str]:
    rows = await session.scalars(_INDUSTRIES, {"active": RatingStatus.active.value})
    return [str(industry) for industry in rows.all()]


async def enterprise_detail(session: AsyncSession, uscc: str, *, today: date) -> EnterpriseView:
    enterprise = await get_enterprise(session, uscc)
    name, joined = shown_name(Rating.association_id, Rating.uscc)
    ratings = [
        RatingRow(r, enterprise, o, n)
        for r, o, n in (
            await session.execute(
                select(Rating, Organization, name)
                .join(Enterprise, col(Enterprise.uscc) == col(Rating.uscc))
                .join(Organization, col(Organization.id) == col(Rating.association_id))
                .outerjoin(Membership, joined)
                .where(Rating.uscc == enterprise.uscc)
                .order_by(col(Rating.published_seq).desc())
            )
        ).all()
    ]
    grades = [
        Grade(row, await session.get(Score, row.rating.score_id))
        for row in ratings
        if row.rating.status is RatingStatus.active and row.rating.valid_until >= today
    ]
    events = (
        await session.scalars(
            select(LedgerEvent)
            .where(LedgerEvent.uscc == enterprise.uscc)
            .order_by(col(LedgerEvent.seq).desc())
            .limit(200)
        )
    ).all()
    notice_name, notice_joined = shown_name(Run.association_id, Score.uscc)
    notices = (
        await session.execute(
            select(Run, Score, Organization, notice_name)
            .join(Score, col(Score.run_id) == col(Run.id))
            .join(Organization, col(Organization.id) == col(Run.association_id))
            .join(Enterprise, col(Enterprise.uscc) == col(Score.uscc))
            .outerjoin(Membership, notice_joined)
            .where(Run.status == RunStatus.notice, Score.uscc == enterprise.uscc)
        )
    ).all()
    labels = (
        await session.scalars(
            select(Membership.name).where(Membership.uscc == enterprise.uscc).distinct()
        )
    ).all()
    return EnterpriseView(
        enterprise=enterprise,
        grades=grades,
        ratings=ratings,
        events=list(events),
        notices=[OpenNotice(run, s, o, n) for run, s, o, n in notices],
        today=today,
        labels=sorted(labels),
    )


async def listed_page(
    session: AsyncSession,
    *,
    today: date,
    industry: str | None = None,
    grade: str | None = None,
    region: str | None = None,
    q: str | None = None,
    offset: int = 0,
    limit: int = 20,
    cache: Cache,
    seconds: float,
    total_seconds: float,
) -> ListedPage:
    """One page of the public list as everyone sees it (the list page and the API): kept in
    ``cache`` for ``seconds`` for whoever asks for the same page next, whether or not they are
    signed in (credit/listing_cache.py). A filter that names no region or grade raises, as
    ``list_ratings`` does, and nothing is kept."""
    # Read on the replica: not kept (portal.db.reads_replica), and no kept total reused.
    seconds = 0 if reads_replica(session) else seconds
    total_seconds = 0 if reads_replica(session) else total_seconds
    name = listing_cache.page_key(
        today, industry=industry, grade=grade, region=region, q=q, offset=offset, limit=limit
    )
    generation, page = (
        await listing_cache.lookup_page(cache, name) if seconds > 0 else (UNKNOWN, None)
    )
    if page is not None:
        return page
    regions = await resolve_region(session, region) if region and region.strip() else None
    rows, total = await list_ratings(
        session,
        today=today,
        industry=industry,
        grade=grade,
        region=regions,
        q=q,
        offset=offset,
        limit=limit,
        total_seconds=total_seconds,
        totals=cache,
    )
    page = ListedPage(
        [rating_read(row, today=today) for row in rows],
        total,
        tuple(r.full_name for r in regions.regions) if regions else (),
    )
    if seconds > 0:
        await listing_cache.store_page(cache, name, page, seconds, generation)
    return page


async def listed_industries(session: AsyncSession, *, cache: Cache, seconds: float) -> list[str]:
    """The industry filter's choices, kept like the list's pages."""
    seconds = 0 if reads_replica(session) else seconds
    generation, kept = (
        await listing_cache.lookup_industries(cache) if seconds > 0 else (UNKNOWN, None)
    )
    if kept is not None:
        return kept
    found = await industries(session)
    if seconds > 0:
        await listing_cache.store_industries(cache, found, seconds, generation)
    return found


async def open_notices(
    session: AsyncSession, *, now: datetime, cache: Cache, seconds: float
) -> list[NoticeLink]:
    """Batches still accepting objections (the list page's strip), the latest opened first: the
    few in 公示, kept like the list's pages; whether each is still open is decided now."""
    seconds = 0 if reads_replica(session) else seconds
    generation, kept = await listing_cache.lookup_notices(cache) if seconds > 0 else (UNKNOWN, None)
    if kept is None:
        rows = (
            await session.execute(
                select(Run.id, Run.title, Organization.name, Run.notice_closes_at)
                .join(Organization, col(Organization.id) == col(Run.association_id))
                .where(col(Run.status) == RunStatus.notice, col(Run.notice_closes_at).is_not(None))
                .order_by(col(Run.notice_opened_at).desc())
                .limit(100)
            )
        ).all()
        kept = [NoticeLink(*row) for row in rows]
        if seconds > 0:
            await listing_cache.store_notices(cache, kept, seconds, generation)
    return [notice for notice in kept if now < notice.closes_at]


async def list_notices(session: AsyncSession) -> list[tuple[Run, Organization]]:
    """Batches in 公示 and recently published ones, newest first."""
    rows = (
        await session.execute(
            select(Run, Organization)
            .join(Organization, col(Organization.id) == col(Run.association_id))
            .where(col(Run.status).in_([RunStatus.notice, RunStatus.published]))
            .order_by(col(Run.notice_opened_at).desc())
            .limit(100)
        )
    ).all()
    return [(r, o) for r, o in rows]


async def notice_detail(session: AsyncSession, run_id: uuid.UUID) -> NoticeView:
    run = await session.get(Run, run_id)
    if run is None or run.status is RunStatus.draft:
        raise errors.RunNotFound()
    association = await session.get(Organization, run.association_id)
    assert association is not None
    return NoticeView(
        run=run,
        association=association,
        methodology=await get_methodology(session, run.methodology_id),
        scores=await run_scores(session, run.id),
        objections=await list_objections(session, run_id=run.id),
    )


async def objection_detail(session: AsyncSession, objection_id: uuid.UUID) -> ObjectionView:
    row = await get_objection(session, objection_id)
    run = await session.get(Run, row.objection.run_id)
    assert run is not None
    association = await session.get(Organization, run.association_id)
    assert association is not None
    return ObjectionView(row=row, run=run, association=association)


async def ledger_entries(
    session: AsyncSession, *, after: int = 0, limit: int = 500
) -> list[LedgerEvent]:
    return list(
        (
            await session.scalars(
                select(LedgerEvent)
                .where(col(LedgerEvent.seq) > after)
                .order_by(col(LedgerEvent.seq))
                .limit(limit)
            )
        ).all()
    )


async def ledger_head(session: AsyncSession) -> LedgerEvent | None:
    return await session.scalar(select(LedgerEvent).order_by(col(LedgerEvent.seq).desc()).limit(1))


async def feed_events(session: AsyncSession, *, limit: int = 50) -> list[LedgerEvent]:
    return list(
        (
            await session.scalars(
                select(LedgerEvent)
                .where(
                    col(LedgerEvent.kind).in_(
                        ["rating.published", "rating.reviewed", "rating.expired", "run.published"]
                    )
                )
                .order_by(col(LedgerEvent.seq).desc())
                .limit(limit)
            )
        ).all()
    )
