"""Photos: intake of an upload, signed links to its derivatives, the original for the handling
regulator, and the sweep of photos never attached to a case."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from datetime import datetime, timedelta

import anyio
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from api.complaints import photos
from api.complaints.errors import (
    LinkExpired,
    MediaNotFound,
    UnsupportedMediaType,
    storage_error,
)
from api.complaints.models import Case, Media
from api.complaints.schemas import MediaRead, SignedUrls, SuggestedLocation
from api.complaints.settings import ComplaintsSettings
from api.complaints.storage import get_storage
from api.complaints.uploads import SpooledFile
from portal.accounts.models import Role, User
from portal.accounts.permissions import Action, authorize
from portal.audit.service import record
from portal.db import new_id, utcnow
from portal.errors import Forbidden
from portal.metrics import PHOTO_BYTES, PHOTO_SECONDS
from portal.settings import Settings

MEDIA_VARIANTS = ("display", "thumbnail")

_decode_slots: dict[int, asyncio.Semaphore] = {}


def _signature(settings: Settings, media_id: uuid.UUID, variant: str, expires: int) -> str:
    message = f"{media_id}:{variant}:{expires}".encode()
    return hmac.new(settings.secret_key.encode(), message, hashlib.sha256).hexdigest()


def signed_urls(
    settings: Settings, media_id: uuid.UUID, *, now: datetime | None = None
) -> SignedUrls:
    now = now or utcnow()
    ttl = settings.of(ComplaintsSettings).media_url_ttl_seconds
    expires_at = now + timedelta(seconds=ttl)
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
    session: AsyncSession, upload: SpooledFile, *, settings: Settings, uploader: User | None
) -> MediaRead:
    """Validate and process an uploaded photo, store the original and its derivatives, add the
    row. On any failure the files written so far are removed again."""
    started = time.perf_counter()
    fmt = photos.sniff(upload.head)
    if fmt is None:
        raise UnsupportedMediaType(
            "The file is not a JPEG, PNG, WebP or HEIC/HEIF image.",
            detail_zh="文件不是 JPEG、PNG、WebP 或 HEIC/HEIF 图片。",
        )
    config = settings.of(ComplaintsSettings)
    async with _slots(config.media_max_concurrent_decodes):
        processed = await anyio.to_thread.run_sync(
            lambda: photos.process(
                upload.path,
                fmt,
                max_pixels=config.media_max_pixels,
                budget_bytes=config.media_decode_budget_bytes,
            )
        )
    media_id = new_id()
    keys = media_keys(media_id)
    storage = get_storage(settings)
    try:
        # The three writes at once: with an object store each is a round trip. All of them end
        # (return_exceptions) before a failure is raised, so the clean-up below races no write.
        results = await asyncio.gather(
            storage.save_bytes(keys["display"], processed.display),
            storage.save_bytes(keys["thumbnail"], processed.thumbnail),
            storage.save_file(keys["original"], upload.path, sha256=upload.sha256),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
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
        for key in keys.values():  # deleting a key never written is not an error
            try:
                await storage.delete(key)
            except OSError:  # the orphan sweep removes it later
                pass
        if isinstance(exc, OSError):
            raise storage_error(exc) from exc
        raise
    PHOTO_BYTES.observe(upload.size)  # photos taken in; refused ones are 4xx in the request metrics
    PHOTO_SECONDS.observe(time.perf_counter() - started)
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


async def presigned_derivative(
    settings: Settings, photo: Media, variant: str, *, expires: int
) -> str | None:
    """Where the store serves a derivative itself (GONGZHI_PHOTO_S3_PRESIGNED_REDIRECT), valid
    no longer than the portal's own link was; None: the app streams it."""
    config = settings.of(ComplaintsSettings)
    if not (config.photo_s3_presigned_redirect and config.photo_storage == "s3"):
        return None
    from api.complaints.s3_storage import S3PhotoStorage  # only where photos are in the store

    storage = get_storage(settings)
    if not isinstance(storage, S3PhotoStorage):
        return None
    remaining = max(1, min(expires - int(utcnow().timestamp()), 7 * 24 * 3600))
    key = photo.display_key if variant == "display" else photo.thumbnail_key
    return await storage.presigned_url(key, expires_in=remaining, content_type="image/jpeg")


async def get_media(session: AsyncSession, media_id: uuid.UUID) -> Media:
    media = await session.get(Media, media_id)
    if media is None:
        raise MediaNotFound()
    return media


async def original_for_staff(session: AsyncSession, media_id: uuid.UUID, *, actor: User) -> Media:
    """The byte-exact original is evidence and still carries the camera's EXIF, GPS included: the
    complainant's whereabouts as much as the business's. It is for the regulator handling the
    case only, like the parties' details; an administrator, who sees the parties masked, gets the
    derivatives (no metadata) but not the original, and a photo not attached to a case has no
    handling regulator yet. Every read is audited."""
    if actor.role is not Role.regulator:
        raise Forbidden(
            "Originals are for the regulator handling the case.",
            detail_zh="照片原件仅限承办案件的监管人员查看。",
        )
    media = await get_media(session, media_id)
    case = await session.get(Case, media.case_id) if media.case_id else None
    if case is None:
        raise Forbidden("The photo is not attached to a case.", detail_zh="照片尚未关联案件。")
    authorize(actor, Action.case_handle, region_code=case.region_code)
    await record(
        session,
        actor=actor,
        action="case.media.original.view",
        entity_type="case_media",
        entity_id=media.id,
        region_code=case.region_code,
        after={"sha256": media.sha256, "case": case.tracking_number},
    )
    return media


async def cleanup_orphan_media(
    session: AsyncSession, *, settings: Settings, now: datetime | None = None
) -> dict[str, int]:
    """Delete photos never attached to a case within ``media_orphan_hours``, and any stored file
    older than an hour that has no row (an upload whose transaction did not commit)."""
    now = now or utcnow()
    storage = get_storage(settings)
    cutoff = now - timedelta(hours=settings.of(ComplaintsSettings).media_orphan_hours)
    stale = list(
        await session.scalars(
            select(Media).where(
                col(Media.case_id).is_(None),
                col(Media.held_by).is_(None),
                col(Media.created_at) < cutoff,
            )
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
    return {"orphans": len(stale), "stray_files": stray}


async def photos_of(session: AsyncSession, case: Case) -> list[Media]:
    """The photos of a case and of its linked case (a complaint and report filed together)."""
    ids = [case.id] + ([case.linked_case_id] if case.linked_case_id else [])
    rows = await session.scalars(
        select(Media).where(col(Media.case_id).in_(ids)).order_by(col(Media.position))
    )
    return list(rows)
