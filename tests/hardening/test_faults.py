"""Faults that really happen: the photo store full or unwritable."""

from __future__ import annotations

import errno
from pathlib import Path

import httpx
import pytest

from api.complaints.storage import LocalPhotoStorage
from portal.db import Database
from portal.settings import Settings
from tests.api.complaints import images
from tests.hardening.test_upload_attacks import listing, media_rows
from tests.support import assert_problem


async def test_photo_store_full_is_507_and_leaves_nothing(
    client: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The disk fills up while the derivatives are written: the kernel's ENOSPC, raised from the
    storage's own write (after the display copy is already on disk)."""
    real_write = LocalPhotoStorage._save_bytes
    calls: list[str] = []

    def write_then_fill_up(self: LocalPhotoStorage, key: str, data: bytes) -> None:
        calls.append(key)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, key, data)

    monkeypatch.setattr(LocalPhotoStorage, "_save_bytes", write_then_fill_up)
    before, rows = listing(settings), await media_rows(database)
    response = await client.post("/api/v1/media", files={"file": ("a.jpg", images.jpeg())})
    assert_problem(response, 507, "storage_full")
    assert len(calls) == 2  # the display copy was written, then removed again
    assert listing(settings) == before
    assert await media_rows(database) == rows


@pytest.mark.parametrize("blocked", ["photos/thumbnail", "photos/originals", "tmp"])
async def test_photo_store_unwritable_is_503_and_leaves_nothing(
    client: httpx.AsyncClient, database: Database, settings: Settings, blocked: str
) -> None:
    """A plain file where the store needs a directory (tests run as root, so chmod would not
    stop a write): every write below it fails with a real OSError from the kernel."""
    target = Path(settings.storage_dir) / blocked
    saved = target.with_name(target.name + ".saved")
    if target.exists():
        target.rename(saved)
    target.write_bytes(b"not a directory")
    try:
        before, rows = listing(settings), await media_rows(database)
        response = await client.post("/api/v1/media", files={"file": ("a.jpg", images.jpeg())})
        assert_problem(response, 503, "storage_unavailable")
        assert listing(settings) == before
        assert await media_rows(database) == rows
    finally:
        target.unlink()
        if saved.exists():
            saved.rename(target)
    # Once the store is writable again, uploads work: nothing was left in a broken state.
    response = await client.post("/api/v1/media", files={"file": ("a.jpg", images.jpeg())})
    assert response.status_code == 201, response.text
