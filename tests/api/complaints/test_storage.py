"""The photo store lists every stored key (what a backup copies), and only stored keys."""

from __future__ import annotations

from pathlib import Path

from api.complaints.storage import LocalPhotoStorage


async def test_keys_lists_every_stored_file_and_no_write_in_progress(tmp_path: Path) -> None:
    storage = LocalPhotoStorage(tmp_path / "photos")
    assert [key async for key in storage.keys()] == []  # no directory yet: an empty store
    stored = ["originals/ab/one", "display/ab/one.jpg", "thumbnail/cd/two.jpg"]
    for key in stored:
        await storage.save_bytes(key, key.encode())
    # A save interrupted between writing and renaming leaves a .part file: not a stored key.
    (tmp_path / "photos" / "originals" / "ab" / "three.part").write_bytes(b"half")
    assert sorted([key async for key in storage.keys()]) == sorted(stored)
    await storage.delete("display/ab/one.jpg")
    assert "display/ab/one.jpg" not in [key async for key in storage.keys()]
