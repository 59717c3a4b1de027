"""Submitting a case: idempotency, validation, the instrument and region it concerns, the case
rows (two linked ones for a complaint and report filed together), parties, first events."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select

from api.complaints import access_codes, categories
from api.complaints.coords import to_wgs84
from api.complaints.deadlines import deadlines_of
from api.complaints.errors import (
    InvalidCaseFields,
    MediaUnavailable,
    RegionRequired,
    UnknownCategory,
)
from api.complaints.idempotency import body_hash, claim_key, fernet, idempotency_scope, upsert
from api.complaints.models import (
    Case,
    CaseEvent,
    CaseKind,
    CaseParty,
    CaseSource,
    CaseStatus,
    Media,
    PartyRole,
    TrackingCounter,
)
from api.complaints.notifications import notify_submitter
from api.complaints.schemas import CaseCreate, CaseCreated, LinkedCase
from api.complaints.settings import ComplaintsSettings
from portal import clock, facts, workdays
from portal.accounts.models import User
from portal.db import utcnow
from portal.facts import InstrumentRef
from portal.regions.models import Region
from portal.regions.service import get_region
from portal.settings import Settings

log = structlog.get_logger(__name__)


async def next_tracking_number(session: AsyncSession, now: datetime) -> str:
    """JL<yyyymmdd>-<nnnnnn>, the day in Asia/Shanghai. One upsert of the day's counter row:
    concurrent submits queue on its row lock (PostgreSQL) or the write lock (SQLite), so no two
    get the same number."""
    day = clock.local_date(now).strftime("%Y%m%d")
    table = TrackingCounter.__table__  # type: ignore[attr-defined]
    stmt = upsert(session, table).values(day=day, value=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.day], set_={"value": table.c.value + 1}
    ).returning(table.c.value)
    value = (await session.execute(stmt)).scalar_one()
    return f"JL{day}-{value:06d}"


# --- the instrument and the region ----------------------------------------------------------------


async def resolve_instrument(
    session: AsyncSession, *, instrument_token: str | None, certificate_number: str | None
) -> InstrumentRef | None:
    """The certificate registry's view of the instrument named by a scanned sticker or a
    certificate number (portal/facts.py), or None (unknown, or no registry installed)."""
    if not instrument_token and not certificate_number:
        return None
    return await facts.scanned_instrument(
        session, sticker_token=instrument_token, certificate_number=certificate_number
    )


_region_names: list[tuple[str, str, str | None, int]] | None = None


async def derive_region(session: AsyncSession, address: str | None) -> str | None:
    """The most specific administrative division named in an address, e.g. '咸阳市秦都区人民路'
    → 610402. A county-level name only counts when its city (or province) is named too or the
    name is unique, because names like 新城区 exist in several cities."""
    global _region_names
    if not address:
        return None
    if _region_names is None:
        rows = (
            await session.execute(
                select(Region.code, Region.name, Region.parent_code, Region.level)
            )
        ).all()
        _region_names = [(r[0], r[1], r[2], r[3]) for r in rows]
    names = {code: name for code, name, _, _ in _region_names}
    matches = [r for r in _region_names if r[1] and r[1] in address]
    best: tuple[int, str] | None = None
    for code, name, parent, level in matches:
        same_name = [m for m in _region_names if m[1] == name]
        parent_named = parent is not None and names.get(parent, "\0") in address
        if len(same_name) > 1 and not parent_named:
            continue
        score = (level, len(name))
        if best is None or score > (best[0], len(names[best[1]])):
            best = (level, code)
    return best[1] if best else None


# --- checking what was sent -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    """One field a case lacks or got wrong: its path in the request, and what to say about it
    in English (API clients) and in Chinese (beside the form's field)."""

    field: str
    message: str
    message_zh: str


def _fields_error(problems: list[_Problem]) -> InvalidCaseFields:
    return InvalidCaseFields(
        "; ".join(f"{p.field}: {p.message}" for p in problems),
        detail_zh="".join(p.message_zh for p in problems),
        errors=[
            {"field": p.field, "type": "invalid", "message": p.message, "message_zh": p.message_zh}
            for p in problems
        ],
    )


def _track_problems(data: CaseCreate) -> list[_Problem]:
    """What a complaint (real name, phone, business, request) or a report (something to find)
    lacks."""
    problems: list[_Problem] = []
    person = data.complainant
    business = data.business
    if data.kind in ("complaint", "both"):
        if data.anonymous:
            problems.append(
                _Problem(
                    "anonymous",
                    "a complaint needs the complainant's real name",
                    "投诉须实名，不能匿名。",
                )
            )
        if person is None or not person.name:
            problems.append(
                _Problem(
                    "complainant.name",
                    "required for a complaint",
                    "投诉须实名，请填写您的姓名。",
                )
            )
        if person is None or not person.phone:
            problems.append(
                _Problem(
                    "complainant.phone",
                    "required for a complaint",
                    "请填写手机号码，办理人员会用它联系您调解。",
                )
            )
        if business is None or not business.name:
            problems.append(
                _Problem(
                    "business.name",
                    "required for a complaint",
                    "请填写被投诉的经营者名称（如店名或摊位名）。",
                )
            )
        if not data.request:
            problems.append(
                _Problem(
                    "request",
                    "required for a complaint",
                    "请写明您的诉求，如退还差价、赔偿。",
                )
            )
    else:
        has_business = business is not None and (business.name or business.address)
        if not has_business and data.location is None and not data.instrument_token:
            problems.append(
                _Problem(
                    "business",
                    "name, address or location of the reported business",
                    "请填写被举报经营者的名称或地址，或者使用位置，便于核查。",
                )
            )
        if data.anonymous and person is not None:
            problems.append(
                _Problem(
                    "complainant",
                    "an anonymous report carries no personal data",
                    "匿名举报不能同时填写姓名和电话。",
                )
            )
    return problems


def _extra_problems(category: categories.Category, messages: list[str]) -> list[_Problem]:
    """The category's own fields that are wrong: the Chinese sentence names the form's question."""
    descriptions = {a.code: a.description for a in category.attributes}
    problems = []
    for message in messages:
        code, _, reason = message.partition(": ")
        question = descriptions.get(code)
        if question is None:
            zh = "提交了不属于该类别的内容。"
        elif reason.startswith("required"):
            zh = f"请填写“{question}”。"
        else:
            zh = f"“{question}”填写的内容不符合要求，请检查。"
        problems.append(_Problem(f"extra.{code}", reason, zh))
    return problems


def _checked_category(data: CaseCreate) -> tuple[categories.Category, dict[str, Any]]:
    """The category and its validated extra fields, or a 422 listing every problem."""
    category = categories.get(data.category)
    if category is None:
        raise UnknownCategory(
            f"Unknown category {data.category!r}; see /api/v1/case-categories.",
            detail_zh=f"类别 {data.category} 不存在。",
        )
    extra, messages = categories.validate_extra(category, data.extra)
    problems = _track_problems(data) + _extra_problems(category, messages)
    if problems:
        raise _fields_error(problems)
    return category, extra


@dataclass
class _Subject:
    """What the case is about: the business (filled in from the instrument's registry record
    where the submitter left it out), where it is, and the region that handles it."""

    business_name: str | None
    business_uscc: str | None
    business_address: str | None
    instrument_id: Any
    lat: float | None
    lng: float | None
    region_code: str


async def _subject(session: AsyncSession, data: CaseCreate) -> _Subject:
    business = data.business
    name = business.name if business else None
    uscc = business.uscc if business else None
    address = business.address if business else None
    ref = await resolve_instrument(
        session, instrument_token=data.instrument_token, certificate_number=data.certificate_number
    )
    if ref is not None:
        name = name or ref.owner_name
        uscc = uscc or ref.owner_uscc
        address = address or ref.address

    lat = lng = None
    if data.location is not None:
        lat, lng = to_wgs84(data.location.lat, data.location.lng, data.location.coord_system)

    region_code = data.region_code
    if region_code is None and ref is not None:
        region_code = ref.region_code
    if region_code is None:
        for candidate in (address, data.location.address if data.location else None):
            region_code = await derive_region(session, candidate)
            if region_code:
                break
    if region_code is None:
        raise RegionRequired()
    await get_region(session, region_code)
    return _Subject(
        business_name=name,
        business_uscc=uscc,
        business_address=address,
        instrument_id=ref.instrument_id if ref is not None else None,
        lat=lat,
        lng=lng,
        region_code=region_code,
    )


async def _unattached_media(session: AsyncSession, data: CaseCreate) -> list[Media]:
    """The listed photos, in order; each must exist and not belong to a case yet."""
    if not data.media:
        return []
    if len(set(data.media)) != len(data.media):
        raise MediaUnavailable("A photo is listed twice.", detail_zh="照片重复。")
    rows = await session.scalars(
        select(Media).where(
            col(Media.id).in_(data.media),
            col(Media.case_id).is_(None),
            # Held as another domain's evidence (portal.facts.hold_photos: an inspection's
            # photos): not free for a case, whose page would show it and whose end would take it.
            col(Media.held_by).is_(None),
        )
    )
    by_id = {m.id: m for m in rows}
    missing = [str(m) for m in data.media if m not in by_id]
    if missing:
        raise MediaUnavailable(
            f"Unknown or already attached photos: {', '.join(missing)}.",
            detail_zh="部分照片不存在或已用于其他案件，请重新上传。",
        )
    return [by_id[m] for m in data.media]


async def _attach_media(session: AsyncSession, media: list[Media], case_id: Any) -> None:
    """Attach each photo with an UPDATE that checks again that it is still free, not the read of
    ``_unattached_media`` and a later write: two submissions naming one photo at once (two
    complaints, or a complaint and an inspection holding it as evidence) would both have read it
    free and the last write would have taken it from the first. Here the second waits for the
    first's row lock (PostgreSQL) or write lock (SQLite), finds the photo taken and fails as a
    whole: its case rows roll back with it."""
    for position, item in enumerate(media):
        attached = await session.execute(
            update(Media)
            .where(
                col(Media.id) == item.id,
                col(Media.case_id).is_(None),
                col(Media.held_by).is_(None),
            )
            .values(case_id=case_id, position=position)
            .execution_options(synchronize_session=False)
        )
        if attached.rowcount != 1:  # type: ignore[attr-defined]
            raise MediaUnavailable(
                f"Photo {item.id} was attached elsewhere meanwhile.",
                detail_zh="部分照片已用于其他案件，请重新上传。",
            )
        # The loaded object says what the row now says, without a second UPDATE at the flush.
        set_committed_value(item, "case_id", case_id)
        set_committed_value(item, "position", position)


# --- creating -------------------------------------------------------------------------------------


async def _create_cases(
    session: AsyncSession,
    data: CaseCreate,
    *,
    config: ComplaintsSettings,
    category: categories.Category,
    extra: dict[str, Any],
    subject: _Subject,
    token: str,
    user: User | None,
    source: CaseSource,
    media_url: str | None,
    now: datetime,
) -> list[Case]:
    """One case per track ('both' is a complaint and a report, linked), with its first deadline."""
    kinds = [CaseKind.complaint, CaseKind.report] if data.kind == "both" else [CaseKind(data.kind)]
    received_on = clock.local_date(now)
    created: list[Case] = []
    for kind in kinds:
        case = Case(
            tracking_number=await next_tracking_number(session, now),
            access_token_hash=access_codes.hash_code(token),
            kind=kind,
            category=category.code,
            status=CaseStatus.received,
            source=source,
            description=data.description,
            request=data.request if kind is CaseKind.complaint else None,
            extra=extra,
            business_name=subject.business_name,
            business_uscc=subject.business_uscc,
            business_address=subject.business_address,
            lat=subject.lat,
            lng=subject.lng,
            coord_system=data.location.coord_system if data.location else None,
            region_code=subject.region_code,
            instrument_token=data.instrument_token,
            certificate_number=data.certificate_number,
            instrument_id=subject.instrument_id,
            media_url=media_url,
            anonymous=data.anonymous and kind is CaseKind.report,
            user_id=user.id if user else None,
            received_at=now,
            updated_at=now,
        )
        if kind is CaseKind.complaint:
            case.acceptance_due = workdays.add_working_days(
                received_on, config.complaint_acceptance_working_days
            )
        else:
            case.handling_due = workdays.add_working_days(
                received_on, config.report_verification_working_days
            )
        session.add(case)
        created.append(case)
    await session.flush()
    if len(created) == 2:  # linked after both rows exist: the foreign keys are checked at once
        created[0].linked_case_id = created[1].id
        created[1].linked_case_id = created[0].id
        await session.flush()
    return created


async def _record_submission(
    session: AsyncSession, data: CaseCreate, cases: list[Case], *, source: CaseSource, now: datetime
) -> None:
    """The submitter as a party of each (non-anonymous) case, the 'submitted' event, and the
    confirmation message to the submitter's phone."""
    person = data.complainant
    for case in cases:
        if person is not None and not case.anonymous:
            role = PartyRole.complainant if case.kind is CaseKind.complaint else PartyRole.reporter
            party = CaseParty(case_id=case.id, role=role, **person.model_dump(exclude={"phone"}))
            party.set_phone(person.phone)
            session.add(party)
        event = CaseEvent(
            case_id=case.id,
            at=now,
            type="submitted",
            public=True,
            to_status=case.status.value,
            data={"source": source.value},
        )
        session.add(event)
        await session.flush()
        if person is not None and person.phone and not case.anonymous:
            await notify_submitter(session, case, event)


def _created_response(cases: list[Case], token: str) -> CaseCreated:
    primary = cases[0]
    return CaseCreated(
        tracking_number=primary.tracking_number,
        access_token=token,
        kind=primary.kind,
        status=primary.status,
        received_at=primary.received_at,
        deadlines=deadlines_of(primary),
        linked=[
            LinkedCase(
                tracking_number=c.tracking_number,
                kind=c.kind,
                status=c.status,
                deadlines=deadlines_of(c),
            )
            for c in cases[1:]
        ],
    )


async def submit_case(
    session: AsyncSession,
    data: CaseCreate,
    *,
    settings: Settings,
    user: User | None,
    client: str,
    idempotency_key: str | None,
    source: CaseSource = CaseSource.api,
    media_url: str | None = None,
    now: datetime | None = None,
) -> tuple[CaseCreated, bool]:
    """Create the case (two linked cases for kind 'both'); returns (response, created). A replay
    of an Idempotency-Key with the same body by the same account or client address returns the
    first response and creates nothing."""
    now = now or utcnow()
    claim = await claim_key(
        session,
        settings,
        scope=idempotency_scope(user=user, client=client),
        key=idempotency_key,
        request_hash=body_hash(data, source),
        now=now,
    )
    if claim.replay is not None:
        return claim.replay, False
    category, extra = _checked_category(data)
    subject = await _subject(session, data)
    media = await _unattached_media(session, data)
    token = access_codes.new_code()
    cases = await _create_cases(
        session,
        data,
        config=settings.of(ComplaintsSettings),
        category=category,
        extra=extra,
        subject=subject,
        token=token,
        user=user,
        source=source,
        media_url=media_url,
        now=now,
    )
    await _record_submission(session, data, cases, source=source, now=now)
    await _attach_media(session, media, cases[0].id)
    response = _created_response(cases, token)
    if claim.record is not None:
        claim.record.case_id = cases[0].id
        encrypted = fernet(settings).encrypt(response.model_dump_json().encode())
        claim.record.response = encrypted.decode()
        await session.flush()
    log.info("case_submitted", tracking_number=cases[0].tracking_number, kind=data.kind)
    return response, True
