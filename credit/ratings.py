"""Published grades after publication: reviews (keep, downgrade, cancel), the enterprise's reply,
flags for review after a serious penalty, expiry, and rebuilding the grades from the ledger.

Every change is a ledger event applied to the stored grade by the projection (credit/projection.py).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from credit import errors, runs
from credit.ledger import Actor, LedgerWriter, signing_key
from credit.members import shown_name, validate_uscc
from credit.models import (
    Enterprise,
    LedgerEvent,
    Membership,
    Methodology,
    Rating,
    RatingStatus,
    ReviewFlag,
)
from credit.projection import RATING_FIELDS, active_rating, append_for_rating, project
from credit.schemas import ReplyCreate, ReviewCreate
from credit.scoring import GRADES, Method, penalty_points
from credit.settings import CreditSettings
from portal import clock, facts
from portal.accounts.models import Organization, User
from portal.audit import service as audit
from portal.settings import Settings


@dataclass(frozen=True)
class RatingRow:
    """One association's grade for an enterprise, with what is shown beside it."""

    rating: Rating
    enterprise: Enterprise
    association: Organization
    name: str


def grade_rank(grade: str) -> int:
    return GRADES.index(grade)


async def rating_row(session: AsyncSession, rating: Rating, association: Organization) -> RatingRow:
    enterprise = await session.get(Enterprise, rating.uscc)
    assert enterprise is not None
    membership = await session.scalar(
        select(Membership).where(
            Membership.association_id == association.id, Membership.uscc == rating.uscc
        )
    )
    name = enterprise.name or (membership.name if membership else rating.uscc)
    return RatingRow(rating, enterprise, association, name)


async def review_rating(
    session: AsyncSession,
    *,
    actor: User,
    association: Organization,
    uscc: str,
    data: ReviewCreate,
    settings: Settings,
    now: datetime | None = None,
) -> RatingRow:
    """Annual or ad-hoc review: keep, downgrade or cancel the published grade, with reasons."""
    now = now or clock.now()
    code = validate_uscc(uscc)
    writer = LedgerWriter(session, signing_key(settings))
    await writer.lock()  # before reading the grade: see LedgerWriter.lock
    rating = await active_rating(session, association, code, today=clock.local_date(now))
    before = {"grade": rating.grade, "status": rating.status}
    if data.outcome == "downgrade":
        assert data.grade is not None
        if grade_rank(data.grade) <= grade_rank(rating.grade):
            raise errors.InvalidReview(
                f"{data.grade} is not below the current grade {rating.grade}.",
                detail_zh=f"降级后的等级须低于当前等级 {rating.grade}。",
            )
    flags = list(
        (
            await session.scalars(
                select(ReviewFlag).where(
                    ReviewFlag.association_id == association.id,
                    ReviewFlag.uscc == code,
                    col(ReviewFlag.resolved_seq).is_(None),
                )
            )
        ).all()
    )
    event = await append_for_rating(
        session,
        writer,
        rating,
        association,
        "rating.reviewed",
        actor=Actor.of(actor),
        at=now,
        payload={
            "outcome": data.outcome,
            "on": clock.local_date(now).isoformat(),
            "grade_before": before["grade"],
            "grade_after": data.grade if data.outcome == "downgrade" else before["grade"],
            "reasons": data.reasons.strip(),
            "resolves": sorted(f.decision_number for f in flags),
        },
    )
    for flag in flags:
        flag.resolved_seq = event.seq
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="credit.rating.review",
        entity_type="credit_rating",
        entity_id=rating.id,
        region_code=association.region_code,
        before=before,
        after={
            "outcome": data.outcome,
            "grade": rating.grade,
            "status": rating.status,
            "reasons": data.reasons,
        },
    )
    return await rating_row(session, rating, association)


async def publish_reply(
    session: AsyncSession,
    *,
    actor: User,
    association: Organization,
    uscc: str,
    data: ReplyCreate,
    settings: Settings,
    now: datetime | None = None,
) -> RatingRow:
    """The enterprise's reply, shown beside its grade. Enterprises have no accounts here: the
    association records the reply the enterprise submitted in writing, unchanged."""
    now = now or clock.now()
    code = validate_uscc(uscc)
    writer = LedgerWriter(session, signing_key(settings))
    await writer.lock()  # before reading the grade: see LedgerWriter.lock
    rating = await active_rating(session, association, code, today=clock.local_date(now))
    before = {"reply": rating.reply_text}
    await append_for_rating(
        session,
        writer,
        rating,
        association,
        "reply.published",
        actor=Actor.of(actor),
        at=now,
        payload={"text": data.text.strip()},
    )
    await audit.record(
        session,
        actor=actor,
        action="credit.reply.publish",
        entity_type="credit_rating",
        entity_id=rating.id,
        region_code=association.region_code,
        before=before,
        after={"reply": rating.reply_text},
    )
    return await rating_row(session, rating, association)


async def _active_ratings(session: AsyncSession, today: date) -> list[Rating]:
    return list(
        (
            await session.scalars(
                select(Rating).where(
                    Rating.status == RatingStatus.active, col(Rating.valid_until) >= today
                )
            )
        ).all()
    )


# Lists whose entry a notice may record; an enterprise entering one has its grade reviewed
# whatever the points (issue 16), as the grade says nothing about it.
CREDIT_LISTS = ("严重违法失信名单", "经营异常名录")


def listed_in(penalty: facts.PenaltyFact) -> str | None:
    """The credit list a notice records the enterprise entering, if any (列入严重违法失信名单)."""
    for part in penalty.penalties:
        for name in CREDIT_LISTS:
            if name in part:
                return name
    return None


async def flag_serious_penalties(
    session: AsyncSession, *, settings: Settings, now: datetime | None = None
) -> int:
    """Flag for review every active grade whose enterprise received a serious penalty (severity
    points ≥ GONGZHI_CREDIT_SERIOUS_PENALTY_POINTS under the grade's methodology), or entered
    the serious-dishonesty list or the abnormal-operations list (as a notice records it), on or
    after the grade's publication. Each notice flags a grade once."""
    now = now or clock.now()
    today = clock.local_date(now)
    writer = LedgerWriter(session, signing_key(settings))
    await writer.lock()  # before reading the grades: see LedgerWriter.lock
    ratings = await _active_ratings(session, today)
    if not ratings:
        return 0
    usccs = sorted({r.uscc for r in ratings})
    wanted = usccs if len(usccs) <= runs.FACTS_IN_LIMIT else None
    by_party: dict[str, list[facts.PenaltyFact]] = defaultdict(list)
    for penalty in await facts.penalty_facts(session, as_of=today, usccs=wanted):
        by_party[penalty.party_uscc].append(penalty)
    if not by_party:
        return 0
    flagged = {
        (a, u, d)
        for a, u, d in (
            await session.execute(
                select(ReviewFlag.association_id, ReviewFlag.uscc, ReviewFlag.decision_number)
            )
        ).all()
    }
    params: dict[tuple[str, int], Mapping[str, Any]] = {}
    organizations: dict[uuid.UUID, Organization] = {}
    count = 0
    for rating in ratings:
        for penalty in by_party.get(rating.uscc, []):
            key = (rating.association_id, rating.uscc, penalty.decision_number)
            if key in flagged or penalty.decided_on < rating.valid_from:
                continue
            mkey = (rating.methodology_code, rating.methodology_version)
            if mkey not in params:
                row = await session.scalar(
                    select(Methodology).where(
                        Methodology.code == mkey[0], Methodology.version == mkey[1]
                    )
                )
                method = Method.from_definition(
                    mkey[0],
                    mkey[1],
                    row.definition if row else {"indicators": [], "grades": [["C", "0"]]},
                )
                params[mkey] = next(
                    (i.params for i in method.indicators if i.kind == "penalties"), {}
                )
            points = penalty_points(penalty, params[mkey])
            listed = listed_in(penalty)
            if (
                listed is None
                and points < settings.of(CreditSettings).credit_serious_penalty_points
            ):
                continue
            if rating.association_id not in organizations:
                org = await session.get(Organization, rating.association_id)
                assert org is not None
                organizations[rating.association_id] = org
            session.add(
                ReviewFlag(
                    association_id=rating.association_id,
                    uscc=rating.uscc,
                    decision_number=penalty.decision_number,
                    penalty_kind=penalty.penalty_kind,
                    decided_on=penalty.decided_on,
                    flagged_at=now,
                )
            )
            flagged.add(key)
            await append_for_rating(
                session,
                writer,
                rating,
                organizations[rating.association_id],
                "rating.flagged",
                actor=Actor.of(None),
                at=now,
                payload={
                    "reason": (
                        f"列入{listed}（{penalty.decision_number}）"
                        if listed
                        else f"新的行政处罚 {penalty.decision_number}（{penalty.penalty_kind}）"
                    ),
                    "decision_number": penalty.decision_number,
                    "penalty_kind": penalty.penalty_kind,
                    "decided_on": penalty.decided_on.isoformat(),
                    "points": points,
                },
            )
            count += 1
    return count


async def expire_ratings(
    session: AsyncSession, *, settings: Settings, now: datetime | None = None
) -> int:
    """Record the end of every grade whose validity has passed."""
    now = now or clock.now()
    today = clock.local_date(now)
    writer = LedgerWriter(session, signing_key(settings))
    await writer.lock()  # before reading the grades: see LedgerWriter.lock
    due = list(
        (
            await session.scalars(
                select(Rating).where(
                    Rating.status == RatingStatus.active, col(Rating.valid_until) < today
                )
            )
        ).all()
    )
    for rating in due:
        org = await session.get(Organization, rating.association_id)
        assert org is not None
        await append_for_rating(
            session,
            writer,
            rating,
            org,
            "rating.expired",
            actor=Actor.of(None),
            at=now,
            payload={"valid_until": rating.valid_until.isoformat()},
        )
    return len(due)


async def rebuild_ratings(session: AsyncSession, *, repair: bool = False) -> list[str]:
    """Fold the whole ledger through ``project`` and compare with the stored current grades.
    Returns the differences; with ``repair`` the stored rows are replaced by the folded ones."""
    states: dict[tuple[str, str], dict[str, Any] | None] = {}
    after = 0
    while True:
        rows = (
            await session.scalars(
                select(LedgerEvent)
                .where(col(LedgerEvent.seq) > after, col(LedgerEvent.uscc).is_not(None))
                .order_by(col(LedgerEvent.seq))
                .limit(5000)
            )
        ).all()
        if not rows:
            break
        for row in rows:
            body = json.loads(row.body)
            if body.get("association") is None:
                continue
            key = (body["association"]["id"], body["uscc"])
            states[key] = project(states.get(key), body)
        after = rows[-1].seq
    stored = {
        (str(r.association_id), r.uscc): r for r in (await session.scalars(select(Rating))).all()
    }
    differences: list[str] = []
    for key in sorted(set(states) | set(stored)):
        folded = states.get(key)
        row = stored.get(key)
        if folded is None and row is None:
            continue
        if row is None:
            differences.append(f"{key[1]}: in the ledger but not stored")
        elif folded is None:
            differences.append(f"{key[1]}: stored but not in the ledger")
        else:
            for name in RATING_FIELDS:
                if getattr(row, name) != folded[name]:
                    differences.append(
                        f"{key[1]}: {name} stored {getattr(row, name)!r}, ledger {folded[name]!r}"
                    )
        if repair:
            if row is not None and folded is None:
                await session.delete(row)
            elif row is None and folded is not None:
                session.add(Rating(**folded))
            elif row is not None and folded is not None:
                for name in RATING_FIELDS:
                    setattr(row, name, folded[name])
    await session.flush()
    return differences


async def pending_reviews(session: AsyncSession, association: Organization) -> list[RatingRow]:
    """The association's current grades, those flagged for review first."""
    name, joined = shown_name(Rating.association_id, Rating.uscc)
    rows = (
        await session.execute(
            select(Rating, Enterprise, name)
            .join(Enterprise, col(Enterprise.uscc) == col(Rating.uscc))
            .outerjoin(Membership, joined)
            .where(
                Rating.association_id == association.id,
                Rating.status == RatingStatus.active,
            )
            .order_by(col(Rating.under_review).desc(), name)
        )
    ).all()
    return [RatingRow(r, e, association, n) for r, e, n in rows]
