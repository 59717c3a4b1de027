"""The projection: the current grade of each (association, enterprise), folded from the ledger.

``project`` is pure; the services apply each new event to the stored ``credit_rating`` row with
it, and ``rebuild_ratings`` (credit/ratings.py) folds the whole ledger through it to check them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import select

from credit import errors
from credit.ledger import Actor, LedgerWriter, association_ref
from credit.models import LedgerEvent, Rating, RatingStatus
from portal.accounts.models import Organization


def project(state: dict[str, Any] | None, body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The current grade of one (association, enterprise) after one more ledger event.

    Pure: ``rebuild_ratings`` folds the whole ledger through it and must arrive at the stored
    ``credit_rating`` rows."""
    kind = body["kind"]
    payload = body.get("payload") or {}
    if kind == "rating.published":
        return {
            "association_id": uuid.UUID(body["association"]["id"]),
            "uscc": body["uscc"],
            "status": RatingStatus.active,
            "grade": payload["grade"],
            "score": Decimal(payload["score"]),
            "run_id": uuid.UUID(body["run_id"]),
            "score_id": uuid.UUID(payload["score_id"]),
            "methodology_code": body["methodology"]["code"],
            "methodology_version": int(body["methodology"]["version"]),
            "valid_from": date.fromisoformat(payload["valid_from"]),
            "valid_until": date.fromisoformat(payload["valid_until"]),
            "under_review": False,
            "review_reason": None,
            "last_review_outcome": None,
            "last_review_on": None,
            "reply_text": None,
            "reply_at": None,
            "published_seq": body["seq"],
            "last_seq": body["seq"],
        }
    if state is None:
        return None
    state = dict(state)
    if kind == "rating.reviewed":
        state["under_review"] = False
        state["review_reason"] = None
        state["last_review_outcome"] = payload["outcome"]
        state["last_review_on"] = date.fromisoformat(payload["on"])
        if payload["outcome"] == "downgrade":
            state["grade"] = payload["grade_after"]
        elif payload["outcome"] == "cancel":
            state["status"] = RatingStatus.cancelled
    elif kind == "rating.flagged":
        state["under_review"] = True
        state["review_reason"] = payload["reason"][:500]
    elif kind == "rating.expired":
        state["status"] = RatingStatus.expired
    elif kind == "reply.published":
        state["reply_text"] = payload["text"]
        state["reply_at"] = datetime.fromisoformat(body["at"].replace("Z", "+00:00"))
    else:
        return state
    state["last_seq"] = body["seq"]
    return state


RATING_FIELDS = (
    "status",
    "grade",
    "score",
    "run_id",
    "score_id",
    "methodology_code",
    "methodology_version",
    "valid_from",
    "valid_until",
    "under_review",
    "review_reason",
    "last_review_outcome",
    "last_review_on",
    "reply_text",
    "reply_at",
    "published_seq",
    "last_seq",
)


def rating_state(rating: Rating) -> dict[str, Any]:
    return {
        "association_id": rating.association_id,
        "uscc": rating.uscc,
        **{name: getattr(rating, name) for name in RATING_FIELDS},
    }


def apply_event(session: AsyncSession, ratings: dict[str, Rating], body: Mapping[str, Any]) -> None:
    uscc = body["uscc"]
    current = ratings.get(uscc)
    state = project(rating_state(current) if current else None, body)
    if state is None:
        return
    # The public totals no longer hold: the credit_rating write below moves the cache's
    # generation when it commits (portal/db.py), on every node.
    if current is None:
        current = Rating(**state)
        session.add(current)
        ratings[uscc] = current
    else:
        for name in RATING_FIELDS:
            setattr(current, name, state[name])


async def active_rating(
    session: AsyncSession, association: Organization, uscc: str, *, today: date
) -> Rating:
    """The association's current grade for the enterprise, as anyone reading on ``today`` sees
    it: a grade past its last valid day has ended (``Rating.status_on``) and is no longer
    reviewed or replied to, whether or not the daily job has recorded its expiry yet."""
    rating: Rating | None = await session.scalar(
        select(Rating).where(Rating.association_id == association.id, Rating.uscc == uscc)
    )
    if rating is None or rating.status_on(today) is not RatingStatus.active:
        raise errors.RatingNotFound()
    return rating


async def append_for_rating(
    session: AsyncSession,
    writer: LedgerWriter,
    rating: Rating,
    association: Organization,
    kind: str,
    *,
    actor: Actor,
    at: datetime,
    payload: dict[str, Any],
) -> LedgerEvent:
    event = await writer.append(
        kind,
        actor=actor,
        at=at,
        association=association_ref(association),
        run_id=rating.run_id,
        uscc=rating.uscc,
        methodology={"code": rating.methodology_code, "version": rating.methodology_version},
        payload=payload,
    )
    apply_event(session, {rating.uscc: rating}, json.loads(event.body))
    await session.flush()
    return event
