"""The photo store lists every stored key (what a backup copies), and only stored keys."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from api.complaints import storage
from api.complaints.storage import LocalPhotoStorage, sweep_stale_uploads
from portal.settings import Settings


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


def test_uploads_a_killed_process_left_spooled_are_swept_and_live_ones_kept(
    tmp_path: Path,
) -> None:
    """A node killed while it read an upload leaves its spooled file; a later upload on that
    node removes it (temp_dir sweeps now and then), but not a file another worker is writing."""
    stale, live, other = tmp_path / "upload-a1", tmp_path / "upload-b2", tmp_path / "keep"
    for path in (stale, live, other):
        path.write_bytes(b"\xff\xd8 half a photo")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    os.utime(other, (two_hours_ago, two_hours_ago))
    assert sweep_stale_uploads(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep", "upload-b2"]
    assert sweep_stale_uploads(tmp_path / "missing") == 0


def test_spooling_an_upload_sweeps_what_a_killed_process_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "_last_sweep", float("-inf"))
    (tmp_path / "tmp").mkdir()
    left = tmp_path / "tmp" / "upload-dead"
    left.write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    os.utime(left, (two_hours_ago, two_hours_ago))
    settings = cast(Settings, SimpleNamespace(storage_dir=str(tmp_path)))
    assert storage.temp_dir(settings) == tmp_path / "tmp"
    assert not left.exists()


def test_photos_on_disk_do_not_load_the_s3_client() -> None:
    """aioboto3 takes a few tenths of a second to import; a process that keeps photos on disk
    (every command, a bulk import reading the domains' facts) does not pay for it."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "import api.complaints.facts, api.complaints.health, api.complaints.media\n"
        "from api.complaints import storage\n"
        "from portal.settings import Settings\n"
        "storage.get_storage(Settings())\n"
        "print('aioboto3' in sys.modules)\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert loaded.stdout.strip() == "False", loaded.stderr
