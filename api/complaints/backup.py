"""What a backup copies of complaints besides the database: the photo store (originals,
display copies and thumbnails, whatever ``PhotoStorage`` keeps them in), and the check a
restored deployment passes: every photo's original is there with the SHA-256 its row records."""

from __future__ import annotations

import hashlib

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from api.complaints.models import Media
from api.complaints.storage import PhotoStorage, get_storage
from portal.settings import Settings

MAX_PROBLEMS = 50


def stores(settings: Settings) -> dict[str, PhotoStorage]:
    return {"complaints.photos": get_storage(settings)}


async def check_restored(session: AsyncSession, settings: Settings) -> list[str]:
    storage = get_storage(settings)
    problems: list[str] = []
    after = None
    while len(problems) < MAX_PROBLEMS:
        query = select(Media.id, Media.original_key, Media.sha256)
        if after is not None:
            query = query.where(col(Media.id) > after)
        rows = (await session.execute(query.order_by(col(Media.id)).limit(500))).all()
        if not rows:
            break
        for media_id, key, expected in rows:
            if not await storage.exists(key):
                problems.append(f"photo {media_id}: {key} is missing")
                continue
            digest = hashlib.sha256()
            async for chunk in storage.stream(key):
                digest.update(chunk)
            if digest.hexdigest() != expected:
                problems.append(f"photo {media_id}: {key} does not match its SHA-256")
        after = rows[-1][0]
    return problems
