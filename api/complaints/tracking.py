"""What the public and the submitter see: following one's case, one's list of cases, and open
cases similar to one about to be submitted."""

from __future__ import annotations

import hmac
import math
import unicodedata
import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select
from sqlmodel.sql.expression import SelectOfScalar

from api.complaints import access_codes, categories
from api.complaints.coords import public_point, to_wgs84
from api.complaints.deadlines import deadlines_of
from api.complaints.documents import DocumentText, document_text, documents_of
from api.complaints.errors import (
    CaseNotFound,
    CaseNotYours,
    FeedbackAlreadyGiven,
    FeedbackNotOpen,
)
from api.complaints.media import photos_of, signed_urls
from api.complaints.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    CaseParty,
    CaseStatus,
    CoordSystem,
)
from api.complaints.schemas import (
    CaseFeedback,
    CaseRead,
    CaseSummary,
    PhotoLinks,
    SimilarCase,
    TimelineEntry,
)
from api.complaints.settings import ComplaintsSettings
from api.complaints.vocabulary import EVENT_TITLES, status_name
from portal import clock
from portal.accounts.models import User
from portal.db import utcnow
from portal.pagination import PageRequest
from portal.settings import Settings

# How many open cases of each kind of match are looked at for "similar": enough for a page or two
# of suggestions, bounded whatever is asked.
MAX_SIMILAR = 50
# Public distances are rounded to this: they are measured from the rounded location anyway.
DISTANCE_STEP_M = 10


def tracking_number_form(typed: str) -> str:
    """A tracking number as it is stored (JL20261201-000123), however it was typed: a phone's
    keyboard in lower case, a Chinese input method in full-width (ｊｌ２０２６…), with spaces.
    The web pages upper-cased it; the API, which apps call, looked up what it was given."""
    return unicodedata.normalize("NFKC", typed).strip().upper()


async def _load_for_tracker(
    session: AsyncSession, tracking_number: str, token: str | None, user: User | None
) -> Case:
    case: Case | None = await session.scalar(
        select(Case).where(col(Case.tracking_number) == tracking_number_form(tracking_number))
    )
    if case is None:
        raise CaseNotFound()
    owner = user is not None and case.user_id is not None and case.user_id == user.id
    valid_token = token is not None and any(
        hmac.compare_digest(case.access_token_hash, candidate)
        for candidate in access_codes.candidate_hashes(token)
    )
    if not (owner or valid_token):
        raise CaseNotFound()  # the same answer as an unknown number: no enumeration
    return case


async def tracking_number_of(session: AsyncSession, case_id: uuid.UUID | None) -> str | None:
    if case_id is None:
        return None
    return await session.scalar(select(Case.tracking_number).where(col(Case.id) == case_id))


def category_name(code: str) -> str:
    category = categories.get(code)
    return category.name if category else code


async def case_for_tracker(
    session: AsyncSession,
    tracking_number: str,
    *,
    settings: Settings,
    token: str | None,
    user: User | None,
) -> CaseRead:
    case = await _load_for_tracker(session, tracking_number, token, user)
    events = await session.scalars(
        select(CaseEvent)
        .where(col(CaseEvent.case_id) == case.id, col(CaseEvent.public).is_(True))
        .order_by(col(CaseEvent.at))
    )
    return CaseRead(
        tracking_number=case.tracking_number,
        kind=case.kind,
        category=case.category,
        category_name=category_name(case.category),
        status=case.status,
        status_name=status_name(case),
        received_at=case.received_at,
        updated_at=case.updated_at,
        description=case.description,
        business_name=case.business_name,
        deadlines=deadlines_of(case),
        finding=case.finding,
        timeline=[
            TimelineEntry(at=e.at, type=e.type, title=EVENT_TITLES.get(e.type, e.type), body=e.body)
            for e in events
        ],
        photos=[
            PhotoLinks(id=m.id, width=m.width, height=m.height, urls=signed_urls(settings, m.id))
            for m in await photos_of(session, case)
        ],
        linked_tracking_number=await tracking_number_of(session, case.linked_case_id),
        feedback_open=await _feedback_open(session, case),
        documents=await documents_of(session, case),
    )


async def document_for_tracker(
    session: AsyncSession,
    tracking_number: str,
    document_id: uuid.UUID,
    *,
    config: ComplaintsSettings,
    token: str | None,
    user: User | None,
) -> DocumentText:
    """One of the case's documents for its submitter (查询码, or their account); for anyone else
    the same 404 as an unknown case."""
    case = await _load_for_tracker(session, tracking_number, token, user)
    return await document_text(session, case, document_id, config)


async def case_for_owner(
    session: AsyncSession, tracking_number: str, *, settings: Settings, user: User
) -> CaseRead:
    """One of a citizen's own cases (我的投诉), followed without its access code. Another
    person's case is refused as such: tracking numbers are public (similar cases list them)."""
    row = (
        await session.execute(
            select(Case.id, Case.user_id).where(
                col(Case.tracking_number) == tracking_number_form(tracking_number)
            )
        )
    ).first()
    if row is None:
        raise CaseNotFound()
    if row.user_id != user.id:
        raise CaseNotYours()
    return await case_for_tracker(
        session, tracking_number, settings=settings, token=None, user=user
    )


def summary(case: Case) -> CaseSummary:
    return CaseSummary(
        tracking_number=case.tracking_number,
        kind=case.kind,
        category=case.category,
        category_name=category_name(case.category),
        status=case.status,
        status_name=status_name(case),
        received_at=case.received_at,
        deadlines=deadlines_of(case),
    )


async def cases_of_user(
    session: AsyncSession, user: User, *, page: PageRequest
) -> tuple[list[CaseSummary], int]:
    stmt = select(Case).where(col(Case.user_id) == user.id)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = await session.scalars(
        stmt.order_by(col(Case.received_at).desc()).limit(page.limit).offset(page.offset)
    )
    return [summary(c) for c in rows], int(total or 0)


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


async def similar_cases(
    session: AsyncSession,
    *,
    settings: Settings,
    page: PageRequest,
    instrument_token: str | None,
    certificate_number: str | None,
    business_uscc: str | None,
    business_name: str | None,
    category: str | None,
    lat: float | None,
    lng: float | None,
    coord_system: CoordSystem,
    now: datetime | None = None,
) -> tuple[list[SimilarCase], int]:
    """Open cases about the same instrument, or the same business and category, or the same
    category nearby, within the time window: for 'follow this case instead'. The answer is
    public: "nearby" and its distance are measured from each case's public (rounded) location,
    never from where it really is."""
    now = now or utcnow()
    config = settings.of(ComplaintsSettings)
    since = now - timedelta(days=config.similar_window_days)
    base = select(Case).where(
        col(Case.status).in_([s.value for s in OPEN_STATUSES]),
        col(Case.received_at) >= since,
    )
    found: dict[uuid.UUID, SimilarCase] = {}

    def add(case: Case, match: str, distance: float | None = None) -> None:
        if case.id in found or len(found) >= MAX_SIMILAR:
            return
        found[case.id] = SimilarCase(
            tracking_number=case.tracking_number,
            kind=case.kind,
            category=case.category,
            category_name=category_name(case.category),
            status=case.status,
            received_on=clock.local_date(case.received_at),
            match=match,
            distance_m=(
                DISTANCE_STEP_M * round(distance / DISTANCE_STEP_M)
                if distance is not None
                else None
            ),
        )

    newest_first = col(Case.received_at).desc()
    instrument_filters = []
    if instrument_token:
        instrument_filters.append(col(Case.instrument_token) == instrument_token)
    if certificate_number:
        instrument_filters.append(col(Case.certificate_number) == certificate_number)
    if instrument_filters:
        query = base.where(or_(*instrument_filters)).order_by(newest_first).limit(MAX_SIMILAR)
        for case in await session.scalars(query):
            add(case, "instrument")
    if category and (business_uscc or business_name):
        business_filter = (
            col(Case.business_uscc) == business_uscc.upper()
            if business_uscc
            else col(Case.business_name) == business_name
        )
        query = (
            base.where(business_filter, col(Case.category) == category)
            .order_by(newest_first)
            .limit(MAX_SIMILAR)
        )
        for case in await session.scalars(query):
            add(case, "business")
    if category and lat is not None and lng is not None:
        for distance, case in await _nearby(
            session, base, config, category, lat, lng, coord_system
        ):
            add(case, "nearby", distance)
    items = list(found.values())
    return items[page.offset : page.offset + page.limit], len(items)


async def _nearby(
    session: AsyncSession,
    base: SelectOfScalar[Case],
    config: ComplaintsSettings,
    category: str,
    lat: float,
    lng: float,
    coord_system: CoordSystem,
) -> list[tuple[float, Case]]:
    """Cases of the category whose public location is within the radius, nearest first."""
    wlat, wlng = to_wgs84(lat, lng, coord_system)
    radius = config.similar_radius_m
    # The box is widened by the rounding, so a case whose public point is inside the radius is
    # among the candidates even when its real location is just outside.
    dlat = radius / 111_000 + 10**-3
    dlng = radius / (111_000 * max(math.cos(math.radians(wlat)), 0.01)) + 10**-3
    rows = await session.scalars(
        base.where(
            col(Case.category) == category,
            col(Case.lat).between(wlat - dlat, wlat + dlat),
            col(Case.lng).between(wlng - dlng, wlng + dlng),
        )
        .order_by(col(Case.received_at).desc())
        .limit(MAX_SIMILAR)
    )
    near = []
    for case in rows:
        assert case.lat is not None
        assert case.lng is not None
        distance = distance_m(wlat, wlng, *public_point(case.lat, case.lng))
        if distance <= radius:
            near.append((distance, case))
    return sorted(near, key=lambda pair: pair[0])


async def last_contact_of_user(session: AsyncSession, user: User) -> tuple[str | None, str | None]:
    """The name and phone a citizen gave on their latest case that kept them (not anonymous), to
    fill in their next form; only ever shown to that citizen."""
    party = await session.scalar(
        select(CaseParty)
        .join(Case, col(Case.id) == col(CaseParty.case_id))
        .where(
            col(Case.user_id) == user.id,
            col(Case.anonymous).is_(False),
            col(CaseParty.phone).is_not(None),
        )
        .order_by(col(Case.received_at).desc())
        .limit(1)
    )
    if party is None:
        return None, None
    return party.name, party.phone


# The statuses in which the submitter is asked how the case was handled (回访).
FEEDBACK_STATUSES = (CaseStatus.concluded, CaseStatus.closed)


async def _feedback_open(session: AsyncSession, case: Case) -> bool:
    if case.status not in FEEDBACK_STATUSES:
        return False
    given = await session.scalar(
        select(CaseEvent.id).where(
            col(CaseEvent.case_id) == case.id, col(CaseEvent.type) == "feedback"
        )
    )
    return given is None


async def _hold(session: AsyncSession, case: Case) -> None:
    """Hold the case's row (PostgreSQL) or the database (SQLite) until this transaction ends,
    before checking whether a rating was given: a rating sent twice at once (a double tap)
    otherwise found none in both requests and was kept twice. The write changes nothing (the
    case's ``updated_at`` stays, it is not a change of the case); the second request waits for
    the first to commit and then finds its rating."""
    await session.execute(
        update(Case)
        .where(col(Case.id) == case.id)
        .values(updated_at=col(Case.updated_at))
        .execution_options(synchronize_session=False)
    )


async def give_feedback(
    session: AsyncSession,
    tracking_number: str,
    data: CaseFeedback,
    *,
    token: str | None,
    user: User | None,
) -> None:
    """Record the submitter's satisfaction with a finished case, once (回访). Only the one who
    can follow the case may give it; staff read it on the case page; it is not public."""
    case = await _load_for_tracker(session, tracking_number, token, user)
    if case.status not in FEEDBACK_STATUSES:
        raise FeedbackNotOpen()
    await _hold(session, case)
    if not await _feedback_open(session, case):
        raise FeedbackAlreadyGiven()
    session.add(
        CaseEvent(
            case_id=case.id,
            type="feedback",
            public=False,
            body=data.comment,
            data={"rating": data.rating},
        )
    )
    await session.flush()
