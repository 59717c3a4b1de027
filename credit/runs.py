"""Evaluation runs: score every member in one pass (a draft batch), open the 公示, publish.

A run's id is its 公示 batch id. Publishing turns each score into that association's grade for
the member: a grade is always one association's, and never replaces another association's."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from credit import errors
from credit.ledger import (
    Actor,
    LedgerWriter,
    association_ref,
    canonical_hash,
    methodology_ref,
    signing_key,
)
from credit.members import load_entries, shown_name
from credit.methodologies import get_methodology, methodology_for
from credit.models import (
    Enterprise,
    Membership,
    Objection,
    ObjectionStatus,
    Rating,
    Run,
    RunStatus,
    Score,
)
from credit.projection import apply_event, project
from credit.schemas import RunCreate
from credit.scoring import EnterpriseScore, Method, inspection_window, score_all
from credit.settings import CreditSettings
from portal import clock, facts, workdays
from portal.accounts.models import Organization, User
from portal.accounts.permissions import OrganizationForbidden
from portal.audit import service as audit
from portal.clock import SHANGHAI
from portal.errors import InvalidInput
from portal.settings import Settings

# Above this many enterprises the providers are asked for every enterprise (usccs=None) and the
# scoring ignores the others: a 100,000-item IN list is slower than a scan and exceeds the bound
# parameter limits of SQLite and asyncpg.
FACTS_IN_LIMIT = 2000
INSERT_CHUNK = 2000


@dataclass(frozen=True)
class ScoreRow:
    """A draft score with the name shown for the member in that association's batch."""

    score: Score
    name: str


def notice_closes_at(opened_at: datetime, working_days: int) -> datetime:
    """The 公示 runs for ``working_days`` full working days after the day it opens and ends at
    midnight (Beijing time) after the last of them."""
    if working_days <= 0:
        return opened_at
    day = clock.local_date(opened_at)
    counted = 0
    while counted < working_days:
        day += timedelta(days=1)
        counted += workdays.is_working_day(day)
    return datetime.combine(day + timedelta(days=1), time(0), SHANGHAI).astimezone(UTC)


def validity_end(valid_from: date, years: int) -> date:
    return clock.add_years(valid_from, years) - timedelta(days=1)


async def gather_facts(
    session: AsyncSession, method: Method, usccs: Sequence[str], as_of: date
) -> dict[str, Any]:
    """The platform facts for a run, through the cross-domain contract (portal/facts.py)."""
    wanted: Sequence[str] | None = list(usccs) if len(usccs) <= FACTS_IN_LIMIT else None
    window = int(method.param("complaint_rate", "window_days", 730))
    since = datetime.combine(as_of - timedelta(days=window), time(0), SHANGHAI).astimezone(UTC)
    return {
        "instruments": await facts.instrument_facts(session, as_of=as_of, usccs=wanted),
        "complaints": await facts.complaint_facts(session, since=since, usccs=wanted),
        "penalties": await facts.penalty_facts(session, as_of=as_of, usccs=wanted),
        "inspections": await facts.inspection_facts(
            session,
            since=inspection_window(method, as_of),
            as_of=as_of,
            usccs=wanted,
        ),
    }


def drafts_digest(rows: Iterable[tuple[str, Decimal, str, str]]) -> str:
    """Hash of a batch's scores: canonical JSON of sorted [uscc, score, grade, evidence_hash]."""
    return canonical_hash(sorted([u, str(s), g, h] for u, s, g, h in rows))


async def run_digest(session: AsyncSession, run_id: uuid.UUID) -> str:
    rows = (
        await session.execute(
            select(
                col(Score.uscc), col(Score.score), col(Score.grade), col(Score.evidence_hash)
            ).where(Score.run_id == run_id)
        )
    ).all()
    return drafts_digest((u, Decimal(s), g, h) for u, s, g, h in rows)


async def start_run(
    session: AsyncSession,
    *,
    actor: User | None,
    association: Organization,
    data: RunCreate,
    settings: Settings,
    now: datetime | None = None,
) -> Run:
    """Score every current member in one pass and store the drafts with their breakdown."""
    now = now or clock.now()
    as_of = data.as_of or clock.local_date(now)
    if as_of > clock.local_date(now):
        raise InvalidInput(
            "The evaluation date is in the future.", detail_zh="评价基准日不能晚于今天。"
        )
    if data.methodology_id is not None:
        methodology = await get_methodology(session, data.methodology_id)
        if methodology.association_id not in (None, association.id):
            raise errors.MethodologyNotFound()
    else:
        methodology = await methodology_for(session, association)
    usccs = list(
        (
            await session.scalars(
                select(Membership.uscc).where(
                    Membership.association_id == association.id,
                    col(Membership.left_on).is_(None),
                    col(Membership.joined_on) <= as_of,
                )
            )
        ).all()
    )
    if not usccs:
        raise errors.NoMembers()
    method = Method.from_definition(methodology.code, methodology.version, methodology.definition)
    scores = score_all(
        method,
        usccs,
        as_of=as_of,
        entries=await load_entries(session, association.id),
        **await gather_facts(session, method, usccs, as_of),
    )
    run = Run(
        association_id=association.id,
        methodology_id=methodology.id,
        status=RunStatus.draft,
        as_of=as_of,
        title=data.title or f"{association.name} {as_of.year} 年度计量诚信评价",
        enterprise_count=len(scores),
        created_by=actor.id if actor else None,
        created_at=now,
    )
    session.add(run)
    await session.flush()
    await _insert_scores(session, run.id, scores.values())
    digest = drafts_digest((s.uscc, s.score, s.grade, s.evidence_hash) for s in scores.values())
    await LedgerWriter(session, signing_key(settings)).append(
        "run.started",
        actor=Actor.of(actor),
        at=now,
        association=association_ref(association),
        run_id=run.id,
        methodology=methodology_ref(methodology),
        evidence_hash=digest,
        payload={
            "title": run.title,
            "as_of": as_of.isoformat(),
            "enterprise_count": len(scores),
            "drafts_hash": digest,
        },
    )
    await audit.record(
        session,
        actor=actor,
        action="credit.run.start",
        entity_type="credit_run",
        entity_id=run.id,
        region_code=association.region_code,
        after={
            "as_of": as_of,
            "methodology": methodology.code,
            "version": methodology.version,
            "enterprises": len(scores),
            "drafts_hash": digest,
        },
    )
    return run


async def _insert_scores(
    session: AsyncSession, run_id: uuid.UUID, scores: Iterable[EnterpriseScore]
) -> None:
    table = Score.__table__  # type: ignore[attr-defined]
    batch: list[dict[str, Any]] = []
    for s in scores:
        batch.append(
            {
                "id": uuid.uuid4(),
                "run_id": run_id,
                "uscc": s.uscc,
                "score": s.score,
                "grade": s.grade,
                "breakdown": s.breakdown(),
                "evidence_hash": s.evidence_hash,
                "revision": 0,
            }
        )
        if len(batch) >= INSERT_CHUNK:
            await session.execute(insert(table), batch)
            batch = []
    if batch:
        await session.execute(insert(table), batch)


async def get_run(
    session: AsyncSession, run_id: uuid.UUID, *, association: Organization | None = None
) -> Run:
    run = await session.get(Run, run_id)
    if run is None:
        raise errors.RunNotFound()
    if association is not None and run.association_id != association.id:
        raise OrganizationForbidden()
    return run


async def list_runs(session: AsyncSession, association: Organization) -> list[Run]:
    return list(
        (
            await session.scalars(
                select(Run)
                .where(Run.association_id == association.id)
                .order_by(col(Run.created_at).desc())
            )
        ).all()
    )


async def run_scores(session: AsyncSession, run_id: uuid.UUID) -> list[ScoreRow]:
    name, joined = shown_name(Run.association_id, Score.uscc)
    return [
        ScoreRow(s, n)
        for s, n in (
            await session.execute(
                select(Score, name)
                .join(Run, col(Run.id) == col(Score.run_id))
                .join(Enterprise, col(Enterprise.uscc) == col(Score.uscc))
                .outerjoin(Membership, joined)
                .where(Score.run_id == run_id)
                .order_by(col(Score.score).desc(), name)
            )
        ).all()
    ]


async def open_notice(
    session: AsyncSession,
    *,
    actor: User,
    association: Organization,
    run_id: uuid.UUID,
    settings: Settings,
    now: datetime | None = None,
) -> Run:
    now = now or clock.now()
    writer = LedgerWriter(session, signing_key(settings))
    await writer.lock()
    run = await get_run(session, run_id, association=association)
    if run.status is not RunStatus.draft:
        raise errors.RunState(detail_zh="只有草稿状态的批次可以开始公示。")
    run.status = RunStatus.notice
    run.notice_opened_at = now
    run.notice_closes_at = notice_closes_at(
        now, settings.of(CreditSettings).credit_notice_working_days
    )
    await session.flush()
    digest = await run_digest(session, run.id)
    methodology = await get_methodology(session, run.methodology_id)
    await writer.append(
        "notice.opened",
        actor=Actor.of(actor),
        at=now,
        association=association_ref(association),
        run_id=run.id,
        methodology=methodology_ref(methodology),
        evidence_hash=digest,
        payload={
            "closes_at": run.notice_closes_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "working_days": settings.of(CreditSettings).credit_notice_working_days,
            "drafts_hash": digest,
        },
    )
    await audit.record(
        session,
        actor=actor,
        action="credit.notice.open",
        entity_type="credit_run",
        entity_id=run.id,
        region_code=association.region_code,
        before={"status": "draft"},
        after={"status": "notice", "closes_at": run.notice_closes_at},
    )
    return run


def accepting_objections(run: Run, now: datetime) -> bool:
    return (
        run.status is RunStatus.notice
        and run.notice_closes_at is not None
        and now < run.notice_closes_at
    )


async def publish_run(
    session: AsyncSession,
    *,
    actor: User,
    association: Organization,
    run_id: uuid.UUID,
    settings: Settings,
    now: datetime | None = None,
) -> Run:
    """Publish every score of the batch as the enterprise's grade, valid for N years."""
    now = now or clock.now()
    writer = LedgerWriter(session, signing_key(settings))
    await writer.lock()
    run = await get_run(session, run_id, association=association)
    if run.status is not RunStatus.notice:
        raise errors.RunState(detail_zh="只有公示中的批次可以发布。")
    assert run.notice_closes_at is not None
    if now < run.notice_closes_at:
        raise errors.NoticeStillOpen(
            detail_zh=f"公示期至 {run.notice_closes_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M} 结束。"
        )
    pending = await session.scalar(
        select(func.count())
        .select_from(Objection)
        .where(Objection.run_id == run.id, Objection.status == ObjectionStatus.pending)
    )
    if pending:
        raise errors.ObjectionsPending(detail_zh=f"尚有 {pending} 条异议未处理。")
    methodology = await get_methodology(session, run.methodology_id)
    valid_from = clock.local_date(now)
    valid_until = validity_end(valid_from, settings.of(CreditSettings).credit_validity_years)
    ratings = {
        r.uscc: r
        for r in (
            await session.scalars(select(Rating).where(Rating.association_id == association.id))
        ).all()
    }
    actor_ref = Actor.of(actor)
    assoc = association_ref(association)
    mref = methodology_ref(methodology)
    # Only the columns the events need: the breakdowns stay in the database.
    name, joined = shown_name(Run.association_id, Score.uscc)
    columns: list[Any] = [
        Score.id,
        Score.uscc,
        Score.score,
        Score.grade,
        Score.evidence_hash,
        name,
    ]
    published = (
        await session.execute(
            select(*columns)
            .join(Run, col(Run.id) == col(Score.run_id))
            .join(Enterprise, col(Enterprise.uscc) == col(Score.uscc))
            .outerjoin(Membership, joined)
            .where(Score.run_id == run.id)
            .order_by(col(Score.uscc))
        )
    ).all()
    new_ratings: list[dict[str, Any]] = []
    for score in published:
        row = await writer.stage(
            "rating.published",
            actor=actor_ref,
            at=now,
            association=assoc,
            run_id=run.id,
            uscc=score.uscc,
            methodology=mref,
            evidence_hash=score.evidence_hash,
            payload={
                "enterprise_name": score.shown_name,
                "grade": score.grade,
                "score": str(score.score),
                "score_id": str(score.id),
                "valid_from": valid_from.isoformat(),
                "valid_until": valid_until.isoformat(),
            },
        )
        body = json.loads(row["body"])
        current = ratings.get(score.uscc)
        if current is None:
            state = project(None, body)
            assert state is not None
            new_ratings.append({"id": uuid.uuid4(), **state})
        else:
            apply_event(session, ratings, body)
    digest = await run_digest(session, run.id)
    await writer.stage(
        "run.published",
        actor=actor_ref,
        at=now,
        association=assoc,
        run_id=run.id,
        methodology=mref,
        evidence_hash=digest,
        payload={
            "enterprise_count": run.enterprise_count,
            "drafts_hash": digest,
            "valid_from": valid_from.isoformat(),
            "valid_until": valid_until.isoformat(),
        },
    )
    await writer.write_staged()
    table = Rating.__table__  # type: ignore[attr-defined]
    for start in range(0, len(new_ratings), INSERT_CHUNK):
        await session.execute(insert(table), new_ratings[start : start + INSERT_CHUNK])
    run.status = RunStatus.published
    run.published_at = now
    run.valid_until = valid_until
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="credit.run.publish",
        entity_type="credit_run",
        entity_id=run.id,
        region_code=association.region_code,
        before={"status": "notice"},
        after={"status": "published", "valid_until": valid_until, "drafts_hash": digest},
    )
    return run
