"""The rules of complaint and report intake. Services flush, never commit (CONTRIBUTING.md)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import math
import secrets
import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

import anyio
import structlog
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import func, or_, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from api.complaints import categories, photos
from api.complaints.coords import to_wgs84
from api.complaints.errors import (
    CaseNotFound,
    IdempotencyConflict,
    IllegalTransition,
    InvalidAction,
    InvalidCaseFields,
    LinkExpired,
    MediaNotFound,
    MediaUnavailable,
    RegionRequired,
    UnknownCategory,
    UnsupportedMediaType,
    storage_error,
)
from api.complaints.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    CaseKind,
    CaseParty,
    CaseSource,
    CaseStatus,
    CoordSystem,
    Finding,
    IdempotencyRecord,
    Media,
    PartyRole,
    TrackingCounter,
)
from api.complaints.schemas import (
    CaseCreate,
    CaseCreated,
    CaseRead,
    CaseSummary,
    Deadlines,
    EventRead,
    LinkedCase,
    MediaRead,
    PartyRead,
    PhotoLinks,
    SignedUrls,
    SimilarCase,
    StaffAction,
    StaffCaseRead,
    StaffCaseSummary,
    StaffPhoto,
    SuggestedLocation,
    TimelineEntry,
)
from api.complaints.storage import get_storage
from api.complaints.uploads import SpooledFile
from portal import clock, workdays
from portal.accounts.models import Role, User
from portal.accounts.permissions import Action, authorize
from portal.audit.service import record
from portal.db import new_id, utcnow
from portal.errors import Forbidden
from portal.outbox.service import enqueue
from portal.privacy import mask_person_name, mask_phone
from portal.regions.models import Region
from portal.regions.service import covers, get_region, significant_prefix
from portal.settings import Settings

log = structlog.get_logger(__name__)

STATUS_NAMES = {
    CaseStatus.received: "待受理",
    CaseStatus.accepted: "已受理",
    CaseStatus.mediating: "调解中",
    CaseStatus.concluded: "已办结",
    CaseStatus.rejected: "不予受理",
    CaseStatus.closed: "已关闭",
    CaseStatus.merged: "已合并",
}
REPORT_STATUS_NAMES = {**STATUS_NAMES, CaseStatus.accepted: "核查中"}

FINDING_NAMES = {
    Finding.substantiated: "属实",
    Finding.partly_substantiated: "部分属实",
    Finding.not_substantiated: "不属实",
}

# Grounds for not accepting (SAMR Order 121 Art. 16; Order 20 Art. 15 before 2026-04-15).
REJECT_REASONS = {
    "outside_remit": "不属于市场监督管理部门职责，或者本行政机关不具有处理权限",
    "already_handled": "法院、仲裁机构、其他行政机关或消费者协会等已经受理或者处理",
    "not_consumer": "不是为生活消费需要购买、使用商品或者接受服务，或者不能证明与被投诉人之间存在消费者权益争议",
    "time_barred": "除法律另有规定外，投诉人知道或者应当知道自己的权益受到被投诉人侵害之日起超过三年",
    "materials_missing": "未提供必要的身份、事实材料",
    "false_identity": "提供虚假材料、冒用他人身份或者拒不配合身份核验",
    "no_lead": "举报内容不具体，无法核查",
    "other_law": "法律、法规、规章规定不予受理的其他情形",
}

EVENT_TITLES = {
    "submitted": "已提交",
    "accepted": "已受理",
    "rejected": "不予受理",
    "mediating": "开始调解",
    "concluded": "已办结",
    "extended": "核查期限延长",
    "closed": "已关闭",
    "reopened": "重新办理",
    "merged": "已合并至其他案件",
    "reply": "答复",
}

MEDIA_VARIANTS = ("display", "thumbnail")

_decode_slots: dict[int, asyncio.Semaphore] = {}


# --- tokens, signatures -------------------------------------------------------------------------


def hash_token(token: str) -> str:
    # The token is 192 random bits: a fast hash is enough, nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def _fernet(settings: Settings) -> Fernet:
    key = hashlib.sha256(b"gongzhi.complaints.idempotency:" + settings.secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key.digest()))


def _signature(settings: Settings, media_id: uuid.UUID, variant: str, expires: int) -> str:
    message = f"{media_id}:{variant}:{expires}".encode()
    return hmac.new(settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


def signed_urls(
    settings: Settings, media_id: uuid.UUID, *, now: datetime | None = None
) -> SignedUrls:
    now = now or utcnow()
    expires_at = now + timedelta(seconds=settings.media_url_ttl_seconds)
    expires = int(expires_at.timestamp())
    base = settings.base_url.rstrip("/")
    urls = {
        variant: f"{base}/api/v1/media/{media_id}/{variant}?expires={expires}"
        f"&signature={_signature(settings, media_id, variant, expires)}"
        for variant in MEDIA_VARIANTS
    }
    return SignedUrls(display=urls["display"], thumbnail=urls["thumbnail"], expires_at=expires_at)


def check_signature(
    settings: Settings, media_id: uuid.UUID, variant: str, expires: int, signature: str
) -> None:
    if variant not in MEDIA_VARIANTS or expires < utcnow().timestamp():
        raise LinkExpired()
    expected = _signature(settings, media_id, variant, expires)
    if not hmac.compare_digest(expected, signature):
        raise LinkExpired()


# --- photos -------------------------------------------------------------------------------------


def _slots(size: int) -> asyncio.Semaphore:
    if size not in _decode_slots:
        _decode_slots[size] = asyncio.Semaphore(size)
    return _decode_slots[size]


def media_keys(media_id: uuid.UUID) -> dict[str, str]:
    shard = media_id.hex[:2]
    return {
        "original": f"originals/{shard}/{media_id}",
        "display": f"display/{shard}/{media_id}.jpg",
        "thumbnail": f"thumbnail/{shard}/{media_id}.jpg",
    }


async def ingest_photo(
    session: AsyncSession, settings: Settings, upload: SpooledFile, *, uploader: User | None
) -> MediaRead:
    """Validate and process an uploaded photo, store the original and its derivatives, add the
    row. On any failure the files written so far are removed again."""
    fmt = photos.sniff(upload.head)
    if fmt is None:
        raise UnsupportedMediaType(
            "The file is not a JPEG, PNG, WebP or HEIC/HEIF image.",
            detail_zh="文件不是 JPEG、PNG、WebP 或 HEIC/HEIF 图片。",
        )
    async with _slots(settings.media_max_concurrent_decodes):
        processed = await anyio.to_thread.run_sync(
            lambda: photos.process(upload.path, fmt, max_pixels=settings.media_max_pixels)
        )
    media_id = new_id()
    keys = media_keys(media_id)
    storage = get_storage(settings)
    written: list[str] = []
    try:
        await storage.save_bytes(keys["display"], processed.display)
        written.append(keys["display"])
        await storage.save_bytes(keys["thumbnail"], processed.thumbnail)
        written.append(keys["thumbnail"])
        written.append(keys["original"])
        await storage.save_file(keys["original"], upload.path)
        media = Media(
            id=media_id,
            sha256=upload.sha256,
            content_type=photos.CONTENT_TYPES[fmt],
            size=upload.size,
            width=processed.width,
            height=processed.height,
            taken_at=processed.taken_at,
            original_key=keys["original"],
            display_key=keys["display"],
            thumbnail_key=keys["thumbnail"],
            uploader_id=uploader.id if uploader else None,
        )
        session.add(media)
        await session.flush()
    except BaseException as exc:
        for key in written:
            try:
                await storage.delete(key)
            except OSError:  # the orphan sweep removes it later
                pass
        if isinstance(exc, OSError):
            raise storage_error(exc) from exc
        raise
    suggested = (
        SuggestedLocation(lat=processed.gps[0], lng=processed.gps[1]) if processed.gps else None
    )
    return MediaRead(
        id=media.id,
        sha256=media.sha256,
        content_type=media.content_type,
        size=media.size,
        width=media.width,
        height=media.height,
        taken_at=media.taken_at,
        suggested_location=suggested,
        urls=signed_urls(settings, media.id),
    )


async def get_media(session: AsyncSession, media_id: uuid.UUID) -> Media:
    media = await session.get(Media, media_id)
    if media is None:
        raise MediaNotFound()
    return media


async def original_for_staff(session: AsyncSession, media_id: uuid.UUID, actor: User) -> Media:
    """Originals are evidence: only staff handling the case (or an administrator) read them."""
    media = await get_media(session, media_id)
    case = await session.get(Case, media.case_id) if media.case_id else None
    if case is None:
        if actor.role is not Role.admin:
            raise Forbidden("The photo is not attached to a case.", detail_zh="照片尚未关联案件。")
        authorize(actor, Action.case_handle)
    else:
        authorize(actor, Action.case_handle, region_code=case.region_code)
    await record(
        session,
        actor=actor,
        action="case.media.original.view",
        entity_type="case_media",
        entity_id=media.id,
        region_code=case.region_code if case else None,
        after={"sha256": media.sha256, "case": case.tracking_number if case else None},
    )
    return media


# --- helpers ------------------------------------------------------------------------------------


def _insert(session: AsyncSession, table: Any) -> Any:
    """INSERT … ON CONFLICT for the session's database (SQLite ≥ 3.35 and PostgreSQL). Used
    instead of savepoints: with pysqlite, a SAVEPOINT opened before any write is a transaction of
    its own, and releasing it commits."""
    assert session.bind is not None
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


async def next_tracking_number(session: AsyncSession, now: datetime) -> str:
    """JL<yyyymmdd>-<nnnnnn>, the day in Asia/Shanghai. One upsert of the day's counter row:
    concurrent submits queue on its row lock (PostgreSQL) or the write lock (SQLite), so no two
    get the same number."""
    day = clock.local_date(now).strftime("%Y%m%d")
    table = TrackingCounter.__table__  # type: ignore[attr-defined]
    stmt = _insert(session, table).values(day=day, value=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.day], set_={"value": table.c.value + 1}
    ).returning(table.c.value)
    value = (await session.execute(stmt)).scalar_one()
    return f"JL{day}-{value:06d}"


async def resolve_instrument(
    session: AsyncSession, *, instrument_token: str | None, certificate_number: str | None
) -> Any | None:
    """The certificate registry's view of the instrument named by a scanned sticker or a
    certificate number, or None (unknown, or the certificates domain is not installed)."""
    if not instrument_token and not certificate_number:
        return None
    try:
        from api.certificates.service import (  # type: ignore[import-not-found]
            find_instrument_ref,
        )
    except ImportError:
        return None
    return await find_instrument_ref(
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


def _deadlines(case: Case) -> Deadlines:
    start = clock.local_date(case.received_at)
    dues = [d for d in (case.acceptance_due, case.handling_due) if d is not None]
    calendar = (
        "chinese-calendar"
        if all(workdays.basis_for(start, d) == "chinese-calendar" for d in dues)
        else "weekends-only"
    )
    return Deadlines(
        acceptance_due=case.acceptance_due,
        handling_due=case.handling_due,
        handling_basis="mediation" if case.kind is CaseKind.complaint else "verification",
        calendar=calendar,  # type: ignore[arg-type]
        extended=case.extended,
        overdue=case.overdue,
    )


def is_overdue(case: Case, today: date) -> bool:
    if case.status is CaseStatus.received:
        due = case.acceptance_due if case.kind is CaseKind.complaint else case.handling_due
        return due is not None and today > due
    if case.status in (CaseStatus.accepted, CaseStatus.mediating):
        return case.handling_due is not None and today > case.handling_due
    return False


def status_name(case: Case) -> str:
    names = REPORT_STATUS_NAMES if case.kind is CaseKind.report else STATUS_NAMES
    return names[case.status]


def _body_hash(data: CaseCreate, source: CaseSource) -> str:
    canonical = json.dumps(
        {"source": source.value, "body": data.model_dump(mode="json")},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _replay(settings: Settings, existing: IdempotencyRecord, body_hash: str) -> CaseCreated:
    if existing.request_hash != body_hash or existing.response is None:
        raise IdempotencyConflict(
            "The Idempotency-Key was already used for a different submission.",
            detail_zh="该幂等键已用于另一份不同的提交，请为新的提交生成新的键。",
        )
    try:
        raw = _fernet(settings).decrypt(existing.response.encode())
    except InvalidToken:  # the secret key was rotated since
        raise IdempotencyConflict() from None
    return CaseCreated.model_validate_json(raw)


async def _find_idempotency(
    session: AsyncSession, scope: str, key: str
) -> IdempotencyRecord | None:
    return await session.scalar(
        select(IdempotencyRecord).where(
            col(IdempotencyRecord.scope) == scope, col(IdempotencyRecord.key) == key
        )
    )


def _fields_error(problems: list[str]) -> InvalidCaseFields:
    return InvalidCaseFields(
        "; ".join(problems),
        detail_zh="；".join(problems),
        errors=[{"field": p.split(":")[0], "type": "invalid", "message": p} for p in problems],
    )


def _validate_tracks(data: CaseCreate) -> list[str]:
    problems: list[str] = []
    person = data.complainant
    business = data.business
    if data.kind in ("complaint", "both"):
        if data.anonymous:
            problems.append("anonymous: a complaint needs the complainant's real name (投诉须实名)")
        if person is None or not person.name:
            problems.append("complainant.name: required for a complaint (投诉人姓名)")
        if person is None or not person.phone:
            problems.append("complainant.phone: required for a complaint (投诉人电话)")
        if business is None or not business.name:
            problems.append("business.name: required for a complaint (被投诉人名称)")
        if not data.request:
            problems.append("request: required for a complaint (投诉诉求)")
    else:
        has_business = business is not None and (business.name or business.address)
        if not has_business and data.location is None and not data.instrument_token:
            problems.append(
                "business: name, address or location of the reported business (被举报对象)"
            )
        if data.anonymous and person is not None:
            problems.append("complainant: an anonymous report carries no personal data")
    return problems


# --- submitting ---------------------------------------------------------------------------------


async def submit_case(
    session: AsyncSession,
    settings: Settings,
    data: CaseCreate,
    *,
    user: User | None,
    idempotency_key: str | None,
    source: CaseSource = CaseSource.api,
    media_url: str | None = None,
    now: datetime | None = None,
) -> tuple[CaseCreated, bool]:
    """Create the case (two linked cases for kind 'both'); returns (response, created). A replay
    of an Idempotency-Key with the same body returns the first response and creates nothing."""
    now = now or utcnow()
    body_hash = _body_hash(data, source)
    scope = str(user.id) if user else "anonymous"
    idem: IdempotencyRecord | None = None
    if idempotency_key:
        existing = await _find_idempotency(session, scope, idempotency_key)
        if existing is not None:
            return _replay(settings, existing, body_hash), False
        table = IdempotencyRecord.__table__  # type: ignore[attr-defined]
        claim = (
            _insert(session, table)
            .values(
                id=new_id(),
                scope=scope,
                key=idempotency_key,
                request_hash=body_hash,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=[table.c.scope, table.c.key])
            .returning(table.c.id)
        )
        claimed = (await session.execute(claim)).scalar_one_or_none()
        if claimed is None:
            # A concurrent request with the same key committed first: answer as a replay.
            existing = await _find_idempotency(session, scope, idempotency_key)
            if existing is None:
                raise IdempotencyConflict()
            return _replay(settings, existing, body_hash), False
        idem = await session.get(IdempotencyRecord, claimed)

    category = categories.get(data.category)
    if category is None:
        raise UnknownCategory(
            f"Unknown category {data.category!r}; see /api/v1/case-categories.",
            detail_zh=f"类别 {data.category} 不存在。",
        )
    extra, problems = categories.validate_extra(category, data.extra)
    problems = _validate_tracks(data) + [f"extra.{p}" for p in problems]
    if problems:
        raise _fields_error(problems)

    business = data.business
    business_name = business.name if business else None
    business_uscc = business.uscc if business else None
    business_address = business.address if business else None
    ref = await resolve_instrument(
        session, instrument_token=data.instrument_token, certificate_number=data.certificate_number
    )
    if ref is not None:
        business_name = business_name or getattr(ref, "owner_name", None)
        business_uscc = business_uscc or getattr(ref, "owner_uscc", None)
        business_address = business_address or getattr(ref, "address", None)

    lat = lng = None
    if data.location is not None:
        lat, lng = to_wgs84(data.location.lat, data.location.lng, data.location.coord_system)

    region_code = data.region_code
    if region_code is None and ref is not None:
        region_code = getattr(ref, "region_code", None)
    if region_code is None:
        for address in (business_address, data.location.address if data.location else None):
            region_code = await derive_region(session, address)
            if region_code:
                break
    if region_code is None:
        raise RegionRequired()
    await get_region(session, region_code)

    media: list[Media] = []
    if data.media:
        if len(set(data.media)) != len(data.media):
            raise MediaUnavailable("A photo is listed twice.", detail_zh="照片重复。")
        rows = await session.scalars(
            select(Media).where(col(Media.id).in_(data.media), col(Media.case_id).is_(None))
        )
        by_id = {m.id: m for m in rows}
        missing = [str(m) for m in data.media if m not in by_id]
        if missing:
            raise MediaUnavailable(
                f"Unknown or already attached photos: {', '.join(missing)}.",
                detail_zh="部分照片不存在或已用于其他案件，请重新上传。",
            )
        media = [by_id[m] for m in data.media]

    token = secrets.token_urlsafe(24)
    kinds = [CaseKind.complaint, CaseKind.report] if data.kind == "both" else [CaseKind(data.kind)]
    received_on = clock.local_date(now)
    created: list[Case] = []
    for kind in kinds:
        case = Case(
            tracking_number=await next_tracking_number(session, now),
            access_token_hash=hash_token(token),
            kind=kind,
            category=category.code,
            status=CaseStatus.received,
            source=source,
            description=data.description,
            request=data.request if kind is CaseKind.complaint else None,
            extra=extra,
            business_name=business_name,
            business_uscc=business_uscc,
            business_address=business_address,
            lat=lat,
            lng=lng,
            coord_system=data.location.coord_system if data.location else None,
            region_code=region_code,
            instrument_token=data.instrument_token,
            certificate_number=data.certificate_number,
            instrument_id=getattr(ref, "instrument_id", None) if ref is not None else None,
            media_url=media_url,
            anonymous=data.anonymous and kind is CaseKind.report,
            user_id=user.id if user else None,
            received_at=now,
            updated_at=now,
        )
        if kind is CaseKind.complaint:
            case.acceptance_due = workdays.add_working_days(
                received_on, settings.complaint_acceptance_working_days
            )
        else:
            case.handling_due = workdays.add_working_days(
                received_on, settings.report_verification_working_days
            )
        session.add(case)
        created.append(case)
    await session.flush()
    if len(created) == 2:  # linked after both rows exist: the foreign keys are checked at once
        created[0].linked_case_id = created[1].id
        created[1].linked_case_id = created[0].id
        await session.flush()

    for case in created:
        person = data.complainant
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
            await _notify(session, case, event)
    for position, item in enumerate(media):
        item.case_id = created[0].id
        item.position = position
    await session.flush()

    primary = created[0]
    response = CaseCreated(
        tracking_number=primary.tracking_number,
        access_token=token,
        kind=primary.kind,
        status=primary.status,
        received_at=primary.received_at,
        deadlines=_deadlines(primary),
        linked=[
            LinkedCase(
                tracking_number=c.tracking_number,
                kind=c.kind,
                status=c.status,
                deadlines=_deadlines(c),
            )
            for c in created[1:]
        ],
    )
    if idem is not None:
        idem.case_id = primary.id
        idem.response = _fernet(settings).encrypt(response.model_dump_json().encode()).decode()
        await session.flush()
    log.info("case_submitted", tracking_number=primary.tracking_number, kind=data.kind)
    return response, True


async def _notify(session: AsyncSession, case: Case, event: CaseEvent) -> None:
    await enqueue(
        session,
        "complaints.notify",
        {"case_id": str(case.id), "event_id": str(event.id)},
        dedupe_key=f"complaints.notify:{event.id}",
    )


def notification_text(case: Case, event: CaseEvent) -> str:
    title = EVENT_TITLES.get(event.type, event.type)
    text_ = f"【共治】您的{'投诉' if case.kind is CaseKind.complaint else '举报'}（{case.tracking_number}）{title}"
    if event.type == "submitted" and case.acceptance_due:
        text_ += f"，受理决定期限 {case.acceptance_due.isoformat()}"
    if event.body:
        text_ += f"：{event.body[:120]}"
    return text_ + "。"


# --- the submitter's view -----------------------------------------------------------------------


async def _load_for_tracker(
    session: AsyncSession, tracking_number: str, token: str | None, user: User | None
) -> Case:
    case = await session.scalar(select(Case).where(col(Case.tracking_number) == tracking_number))
    if case is None:
        raise CaseNotFound()
    owner = user is not None and case.user_id is not None and case.user_id == user.id
    valid_token = token is not None and hmac.compare_digest(
        case.access_token_hash, hash_token(token)
    )
    if not (owner or valid_token):
        raise CaseNotFound()  # the same answer as an unknown number: no enumeration
    return case


async def _photos_of(session: AsyncSession, case: Case) -> list[Media]:
    ids = [case.id] + ([case.linked_case_id] if case.linked_case_id else [])
    rows = await session.scalars(
        select(Media).where(col(Media.case_id).in_(ids)).order_by(col(Media.position))
    )
    return list(rows)


async def _tracking_number_of(session: AsyncSession, case_id: uuid.UUID | None) -> str | None:
    if case_id is None:
        return None
    return await session.scalar(select(Case.tracking_number).where(col(Case.id) == case_id))


async def case_for_tracker(
    session: AsyncSession,
    settings: Settings,
    tracking_number: str,
    *,
    token: str | None,
    user: User | None,
) -> CaseRead:
    case = await _load_for_tracker(session, tracking_number, token, user)
    events = await session.scalars(
        select(CaseEvent)
        .where(col(CaseEvent.case_id) == case.id, col(CaseEvent.public).is_(True))
        .order_by(col(CaseEvent.at))
    )
    category = categories.get(case.category)
    return CaseRead(
        tracking_number=case.tracking_number,
        kind=case.kind,
        category=case.category,
        category_name=category.name if category else case.category,
        status=case.status,
        status_name=status_name(case),
        received_at=case.received_at,
        updated_at=case.updated_at,
        description=case.description,
        business_name=case.business_name,
        deadlines=_deadlines(case),
        finding=case.finding,
        timeline=[
            TimelineEntry(at=e.at, type=e.type, title=EVENT_TITLES.get(e.type, e.type), body=e.body)
            for e in events
        ],
        photos=[
            PhotoLinks(id=m.id, width=m.width, height=m.height, urls=signed_urls(settings, m.id))
            for m in await _photos_of(session, case)
        ],
        linked_tracking_number=await _tracking_number_of(session, case.linked_case_id),
    )


def _summary(case: Case) -> CaseSummary:
    category = categories.get(case.category)
    return CaseSummary(
        tracking_number=case.tracking_number,
        kind=case.kind,
        category=case.category,
        category_name=category.name if category else case.category,
        status=case.status,
        status_name=status_name(case),
        received_at=case.received_at,
        deadlines=_deadlines(case),
    )


async def cases_of_user(
    session: AsyncSession, user: User, *, limit: int, offset: int
) -> tuple[list[CaseSummary], int]:
    stmt = select(Case).where(col(Case.user_id) == user.id)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = await session.scalars(
        stmt.order_by(col(Case.received_at).desc()).limit(limit).offset(offset)
    )
    return [_summary(c) for c in rows], int(total or 0)


def _distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


async def similar_cases(
    session: AsyncSession,
    settings: Settings,
    *,
    instrument_token: str | None,
    certificate_number: str | None,
    business_uscc: str | None,
    business_name: str | None,
    category: str | None,
    lat: float | None,
    lng: float | None,
    coord_system: CoordSystem,
    now: datetime | None = None,
    limit: int = 5,
) -> list[SimilarCase]:
    """Open cases about the same instrument, or the same business and category, or the same
    category nearby, within the time window: for 'follow this case instead'."""
    now = now or utcnow()
    since = now - timedelta(days=settings.similar_window_days)
    base = select(Case).where(
        col(Case.status).in_([s.value for s in OPEN_STATUSES]),
        col(Case.received_at) >= since,
    )
    found: dict[uuid.UUID, SimilarCase] = {}

    def add(case: Case, match: str, distance: float | None = None) -> None:
        if case.id in found or len(found) >= limit:
            return
        cat = categories.get(case.category)
        found[case.id] = SimilarCase(
            tracking_number=case.tracking_number,
            kind=case.kind,
            category=case.category,
            category_name=cat.name if cat else case.category,
            status=case.status,
            received_on=clock.local_date(case.received_at),
            match=match,  # type: ignore[arg-type]
            distance_m=round(distance) if distance is not None else None,
        )

    instrument_filters = []
    if instrument_token:
        instrument_filters.append(col(Case.instrument_token) == instrument_token)
    if certificate_number:
        instrument_filters.append(col(Case.certificate_number) == certificate_number)
    if instrument_filters:
        for case in await session.scalars(
            base.where(or_(*instrument_filters)).order_by(col(Case.received_at).desc()).limit(limit)
        ):
            add(case, "instrument")
    if category and (business_uscc or business_name):
        business_filter = (
            col(Case.business_uscc) == business_uscc.upper()
            if business_uscc
            else col(Case.business_name) == business_name
        )
        for case in await session.scalars(
            base.where(business_filter, col(Case.category) == category)
            .order_by(col(Case.received_at).desc())
            .limit(limit)
        ):
            add(case, "business")
    if category and lat is not None and lng is not None:
        wlat, wlng = to_wgs84(lat, lng, coord_system)
        radius = settings.similar_radius_m
        dlat = radius / 111_000
        dlng = radius / (111_000 * max(math.cos(math.radians(wlat)), 0.01))
        rows = await session.scalars(
            base.where(
                col(Case.category) == category,
                col(Case.lat).between(wlat - dlat, wlat + dlat),
                col(Case.lng).between(wlng - dlng, wlng + dlng),
            ).limit(50)
        )
        near = []
        for case in rows:
            assert case.lat is not None
            assert case.lng is not None
            distance = _distance_m(wlat, wlng, case.lat, case.lng)
            if distance <= radius:
                near.append((distance, case))
        for distance, case in sorted(near, key=lambda pair: pair[0]):
            add(case, "nearby", distance)
    return list(found.values())


# --- staff --------------------------------------------------------------------------------------


async def staff_queue(
    session: AsyncSession,
    actor: User,
    *,
    status: CaseStatus | None,
    region: str | None,
    overdue: bool | None,
    kind: CaseKind | None,
    limit: int,
    offset: int,
) -> tuple[list[StaffCaseSummary], int]:
    region = region or actor.region_code
    authorize(actor, Action.case_handle, region_code=region)
    stmt = select(Case)
    if region:
        stmt = stmt.where(col(Case.region_code).startswith(significant_prefix(region)))
    if status is not None:
        stmt = stmt.where(col(Case.status) == status.value)
    if overdue is not None:
        stmt = stmt.where(col(Case.overdue).is_(overdue))
    if kind is not None:
        stmt = stmt.where(col(Case.kind) == kind.value)
    total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = await session.scalars(
        stmt.order_by(col(Case.received_at).desc()).limit(limit).offset(offset)
    )
    items = []
    for case in rows:
        summary = _summary(case)
        items.append(
            StaffCaseSummary(
                **summary.model_dump(),
                id=case.id,
                region_code=case.region_code,
                business_name=case.business_name,
                overdue=case.overdue,
                assignee_id=case.assignee_id,
            )
        )
    return items, int(total or 0)


async def _staff_load(session: AsyncSession, case_id: uuid.UUID, actor: User) -> Case:
    case = await session.get(Case, case_id)
    if case is None:
        raise CaseNotFound("No such case.", detail_zh="案件不存在。")
    authorize(actor, Action.case_handle, region_code=case.region_code)
    return case


async def staff_case(
    session: AsyncSession, settings: Settings, case_id: uuid.UUID, actor: User
) -> StaffCaseRead:
    case = await _staff_load(session, case_id, actor)
    parties = list(
        await session.scalars(select(CaseParty).where(col(CaseParty.case_id) == case.id))
    )
    events = await session.scalars(
        select(CaseEvent).where(col(CaseEvent.case_id) == case.id).order_by(col(CaseEvent.at))
    )
    # A complainant's or reporter's identity is for the handling regulator only: an administrator
    # (allowed everywhere for oversight) sees the case with the persons masked.
    handling = actor.role == Role.regulator
    if parties and handling:
        # Reading a complainant's or reporter's identity is itself recorded.
        await record(
            session,
            actor=actor,
            action="case.parties.view",
            entity_type="case",
            entity_id=case.id,
            region_code=case.region_code,
        )
    category = categories.get(case.category)
    base = settings.base_url.rstrip("/")
    return StaffCaseRead(
        id=case.id,
        tracking_number=case.tracking_number,
        kind=case.kind,
        category=case.category,
        category_name=category.name if category else case.category,
        status=case.status,
        status_name=status_name(case),
        source=case.source.value,
        description=case.description,
        request=case.request,
        extra=case.extra,
        business_name=case.business_name,
        business_uscc=case.business_uscc,
        business_address=case.business_address,
        lat=case.lat,
        lng=case.lng,
        region_code=case.region_code,
        instrument_token=case.instrument_token,
        certificate_number=case.certificate_number,
        instrument_id=case.instrument_id,
        media_url=case.media_url,
        anonymous=case.anonymous,
        assignee_id=case.assignee_id,
        finding=case.finding,
        reject_reason=case.reject_reason,
        linked_tracking_number=await _tracking_number_of(session, case.linked_case_id),
        merged_into_tracking_number=await _tracking_number_of(session, case.merged_into_id),
        received_at=case.received_at,
        accepted_at=case.accepted_at,
        concluded_at=case.concluded_at,
        closed_at=case.closed_at,
        deadlines=_deadlines(case),
        parties=[
            PartyRead(
                role=p.role.value,
                name=p.name,
                phone=p.phone,
                id_number=p.id_number,
                address=p.address,
                email=p.email,
            )
            if handling
            else PartyRead(
                role=p.role.value,
                name=mask_person_name(p.name),
                phone=mask_phone(p.phone),
                id_number=None,
                address=None,
                email=None,
            )
            for p in parties
        ],
        events=[
            EventRead(
                at=e.at,
                type=e.type,
                public=e.public,
                actor_id=e.actor_id,
                from_status=e.from_status,
                to_status=e.to_status,
                body=e.body,
                data=e.data,
            )
            for e in events
        ],
        photos=[
            StaffPhoto(
                id=m.id,
                sha256=m.sha256,
                content_type=m.content_type,
                size=m.size,
                width=m.width,
                height=m.height,
                taken_at=m.taken_at,
                urls=signed_urls(settings, m.id),
                original_url=f"{base}/api/v1/staff/media/{m.id}/original",
            )
            for m in await _photos_of(session, case)
        ],
    )


# (action, kinds it applies to) -> statuses it may start from
TRANSITIONS: dict[str, set[CaseStatus]] = {
    "accept": {CaseStatus.received},
    "reject": {CaseStatus.received},
    "mediate": {CaseStatus.accepted},
    "conclude": {CaseStatus.accepted, CaseStatus.mediating},
    "extend": {CaseStatus.accepted},
    "close": {CaseStatus.concluded, CaseStatus.rejected},
    "reopen": {CaseStatus.concluded, CaseStatus.closed, CaseStatus.rejected, CaseStatus.merged},
    "merge": {CaseStatus.received, CaseStatus.accepted, CaseStatus.mediating},
    "assign": set(OPEN_STATUSES),
    "note": set(CaseStatus),
}


def _snapshot(case: Case) -> dict[str, Any]:
    return {
        "status": case.status.value,
        "assignee_id": case.assignee_id,
        "finding": case.finding.value if case.finding else None,
        "acceptance_due": case.acceptance_due,
        "handling_due": case.handling_due,
        "extended": case.extended,
        "reject_reason": case.reject_reason,
        "merged_into_id": case.merged_into_id,
    }


def _require(condition: bool, message: str, message_zh: str) -> None:
    if not condition:
        raise InvalidAction(message, detail_zh=message_zh)


async def apply_action(
    session: AsyncSession,
    settings: Settings,
    case_id: uuid.UUID,
    action: StaffAction,
    actor: User,
    *,
    now: datetime | None = None,
) -> StaffCaseRead:
    """Apply one staff action through the state machine; audit it; notify the submitter of
    public changes. Illegal transitions are 409 ``illegal_transition``."""
    now = now or utcnow()
    today = clock.local_date(now)
    case = await _staff_load(session, case_id, actor)
    name = action.action
    if case.status not in TRANSITIONS[name]:
        raise IllegalTransition(
            f"Cannot {name} a case that is {case.status.value}.",
            detail_zh=f"案件当前状态为“{status_name(case)}”，不能执行该操作。",
        )
    if name == "mediate" and case.kind is not CaseKind.complaint:
        raise IllegalTransition("Only complaints are mediated.", detail_zh="只有投诉适用调解。")
    if name == "extend" and (case.kind is not CaseKind.report or case.extended):
        raise IllegalTransition(
            "Only a report's verification period can be extended, once.",
            detail_zh="只有举报核查期限可以延长，且只能延长一次。",
        )
    before = _snapshot(case)
    previous = case.status
    event = CaseEvent(case_id=case.id, at=now, type=name, actor_id=actor.id, data={})
    if name == "accept":
        case.status = CaseStatus.accepted
        case.accepted_at = now
        if case.kind is CaseKind.complaint:
            case.handling_due = workdays.add_working_days(
                today, settings.complaint_mediation_working_days
            )
        event.type, event.public, event.body = "accepted", True, action.body
    elif name == "reject":
        _require(
            action.reason_code in REJECT_REASONS,
            f"reason_code must be one of {', '.join(REJECT_REASONS)}",
            "请选择不予受理的法定理由",
        )
        assert action.reason_code is not None
        case.status = CaseStatus.rejected
        case.reject_reason = action.reason_code
        case.closed_at = now
        reason = REJECT_REASONS[action.reason_code]
        event.type, event.public = "rejected", True
        event.body = reason + (f"。{action.body}" if action.body else "")
        event.data = {"reason_code": action.reason_code}
    elif name == "assign":
        _require(action.assignee_id is not None, "assignee_id is required", "请选择承办人")
        assignee = await session.get(User, action.assignee_id)
        _require(
            assignee is not None
            and assignee.is_active
            and (
                assignee.role is Role.admin
                or (
                    assignee.role is Role.regulator
                    and assignee.region_code is not None
                    and covers(assignee.region_code, case.region_code)
                )
            ),
            "The assignee must be an active regulator covering the case's region.",
            "承办人须为管辖该区域的监管人员",
        )
        assert assignee is not None
        case.assignee_id = assignee.id
        event.type, event.data = "assigned", {"assignee_id": str(assignee.id)}
    elif name == "note":
        _require(bool(action.body), "body is required", "请填写内容")
        event.type = "reply" if action.public else "note"
        event.public, event.body = action.public, action.body
    elif name == "mediate":
        case.status = CaseStatus.mediating
        event.type, event.public, event.body = "mediating", True, action.body
    elif name == "conclude":
        _require(action.finding is not None, "finding is required", "请选择核查结论")
        _require(bool(action.body), "body (the conclusion) is required", "请填写办理结果")
        case.status = CaseStatus.concluded
        case.finding = action.finding
        case.concluded_at = now
        event.type, event.public = "concluded", True
        assert action.finding is not None
        event.body = f"{FINDING_NAMES[action.finding]}。{action.body}"
        event.data = {
            "finding": action.finding.value,
            "mediation_result": action.mediation_result,
        }
    elif name == "extend":
        _require(bool(action.body), "body (the approved reason) is required", "请填写延期理由")
        assert case.handling_due is not None
        case.handling_due = workdays.add_working_days(
            case.handling_due, settings.report_extension_working_days
        )
        case.extended = True
        event.type, event.public, event.body = "extended", True, action.body
    elif name == "close":
        case.status = CaseStatus.closed
        case.closed_at = now
        event.type, event.public, event.body = "closed", True, action.body
    elif name == "reopen":
        _require(bool(action.body), "body (why) is required", "请填写重新办理的理由")
        if previous in (CaseStatus.rejected, CaseStatus.merged):
            case.status = CaseStatus.received
            case.reject_reason = None
            case.merged_into_id = None
            if case.kind is CaseKind.complaint:
                case.acceptance_due = workdays.add_working_days(
                    today, settings.complaint_acceptance_working_days
                )
            else:
                case.handling_due = workdays.add_working_days(
                    today, settings.report_verification_working_days
                )
        else:
            case.status = CaseStatus.accepted
            case.finding = None
            case.concluded_at = None
            case.handling_due = workdays.add_working_days(
                today,
                settings.complaint_mediation_working_days
                if case.kind is CaseKind.complaint
                else settings.report_verification_working_days,
            )
        case.closed_at = None
        event.type, event.public, event.body = "reopened", True, action.body
    elif name == "merge":
        _require(bool(action.duplicate_of), "duplicate_of is required", "请填写合并到的受理编号")
        target = await session.scalar(
            select(Case).where(col(Case.tracking_number) == action.duplicate_of)
        )
        _require(
            target is not None
            and target.id != case.id
            and target.kind is case.kind
            and target.status is not CaseStatus.merged,
            "duplicate_of must be another case of the same kind that is not merged itself",
            "合并目标须为同类、未被合并的其他案件",
        )
        assert target is not None
        authorize(actor, Action.case_handle, region_code=target.region_code)
        case.status = CaseStatus.merged
        case.merged_into_id = target.id
        case.closed_at = now
        event.type, event.public = "merged", True
        event.body = f"与 {target.tracking_number} 合并办理。{action.body or ''}".strip()
        event.data = {"merged_into": target.tracking_number}
    if case.status is not previous:
        event.from_status, event.to_status = previous.value, case.status.value
    case.overdue = is_overdue(case, today)
    case.updated_at = now
    session.add(event)
    await session.flush()
    await record(
        session,
        actor=actor,
        action=f"case.{name}",
        entity_type="case",
        entity_id=case.id,
        region_code=case.region_code,
        before=before,
        after={**_snapshot(case), "event": event.type, "public": event.public},
    )
    if event.public:
        await _notify(session, case, event)
    return await staff_case(session, settings, case.id, actor)


async def flag_overdue(session: AsyncSession, *, today: date) -> int:
    """Set ``overdue`` on open cases past their current deadline (and clear it where no longer
    true); write an internal event the first time a case becomes overdue. Returns newly flagged."""
    rows = await session.scalars(
        select(Case).where(col(Case.status).in_([s.value for s in OPEN_STATUSES]))
    )
    flagged = 0
    for case in rows:
        due = is_overdue(case, today)
        if due and not case.overdue:
            flagged += 1
            session.add(
                CaseEvent(
                    case_id=case.id, type="overdue", public=False, data={"on": today.isoformat()}
                )
            )
        case.overdue = due
    await session.flush()
    return flagged


async def cleanup_orphan_media(
    session: AsyncSession, settings: Settings, *, now: datetime | None = None
) -> dict[str, int]:
    """Delete photos never attached to a case within ``media_orphan_hours``, and any stored file
    older than an hour that has no row (an upload whose transaction did not commit)."""
    now = now or utcnow()
    storage = get_storage(settings)
    cutoff = now - timedelta(hours=settings.media_orphan_hours)
    stale = list(
        await session.scalars(
            select(Media).where(col(Media.case_id).is_(None), col(Media.created_at) < cutoff)
        )
    )
    for media in stale:
        for key in (media.display_key, media.thumbnail_key, media.original_key):
            await storage.delete(key)
        await session.delete(media)
    await session.flush()
    stray = 0
    keys = await storage.keys_older_than(now - timedelta(hours=1))
    ids: dict[str, list[str]] = {}
    for key in keys:
        stem = key.rsplit("/", 1)[-1].split(".", 1)[0]
        ids.setdefault(stem, []).append(key)
    known: set[str] = set()
    candidates: list[uuid.UUID] = []
    for stem in ids:
        try:
            candidates.append(uuid.UUID(stem))
        except ValueError:
            continue
    for chunk_start in range(0, len(candidates), 500):
        chunk = candidates[chunk_start : chunk_start + 500]
        known |= {
            str(i) for i in await session.scalars(select(Media.id).where(col(Media.id).in_(chunk)))
        }
    for stem, stem_keys in ids.items():
        if stem not in known:
            for key in stem_keys:
                await storage.delete(key)
                stray += 1
    await session.execute(
        text("DELETE FROM case_idempotency WHERE created_at < :cutoff"),
        {"cutoff": _db_time(session, now - timedelta(hours=settings.idempotency_ttl_hours))},
    )
    return {"orphans": len(stale), "stray_files": stray}


def _db_time(session: AsyncSession, moment: datetime) -> Any:
    # Raw SQL bypasses UTCDateTime: SQLite stores naive UTC.
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        return moment.replace(tzinfo=None)
    return moment


async def send_notification(
    session: AsyncSession, settings: Settings, payload: dict[str, Any]
) -> None:
    from api.complaints.notify import get_sender

    event = await session.get(CaseEvent, uuid.UUID(payload["event_id"]))
    case = await session.get(Case, uuid.UUID(payload["case_id"]))
    if event is None or case is None or event.notified_at is not None:
        return
    party = await session.scalar(select(CaseParty).where(col(CaseParty.case_id) == case.id))
    if party is not None and party.phone:
        await get_sender(settings).send(
            phone=party.phone, message=notification_text(case, event), reference=str(event.id)
        )
    event.notified_at = utcnow()
    await session.flush()


async def list_categories() -> Sequence[categories.Category]:
    return categories.CATEGORIES
