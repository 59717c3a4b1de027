"""Where photo files live. ``PhotoStorage`` is the interface; ``LocalPhotoStorage`` keeps files
under ``GONGZHI_STORAGE_DIR/photos`` (the default). An S3-compatible implementation plugs in here
without touching the service: nothing else in the domain touches the file system directly."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Protocol

import anyio

from api.complaints.errors import storage_error
from portal import clock
from portal.settings import Settings

CHUNK = 256 * 1024


def _date_by_portal_clock(path: Path) -> None:
    """A stored file is dated by the portal's clock, like the rows that refer to it, so the orphan
    sweep (``keys_older_than``, a cutoff on that clock) compares like with like."""
    moment = clock.timestamp()
    os.utime(path, (moment, moment))


class PhotoStorage(Protocol):
    async def save_file(self, key: str, source: Path) -> None:
        """Move ``source`` (a temporary file on the same machine) to ``key``, durably."""

    async def save_bytes(self, key: str, data: bytes) -> None: ...

    async def read_bytes(self, key: str) -> bytes: ...

    def stream(self, key: str) -> AsyncIterator[bytes]: ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None:
        """Remove ``key``; a missing key is not an error (deletes are retried)."""

    async def keys_older_than(self, cutoff: datetime) -> list[str]:
        """Every stored key last written before ``cutoff`` (for the orphan sweep)."""

    def keys(self) -> AsyncIterator[str]:
        """Every stored key, in no particular order, a few at a time (a backup lists the whole
        store with it, so a store of millions of photos is never one list in memory)."""


class LocalPhotoStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"invalid storage key {key!r}")
        return self.root / key

    @staticmethod
    def _fsync_dir(path: Path) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _save_file(self, key: str, source: Path) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(source, "rb") as fh:
            os.fsync(fh.fileno())
        try:
            os.replace(source, target)
        except OSError:  # another file system: copy, then drop the source
            shutil.copyfile(source, target)
            source.unlink(missing_ok=True)
        _date_by_portal_clock(target)
        self._fsync_dir(target.parent)

    def _save_bytes(self, key: str, data: bytes) -> None:
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        with open(partial, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, target)
        _date_by_portal_clock(target)
        self._fsync_dir(target.parent)

    async def save_file(self, key: str, source: Path) -> None:
        await anyio.to_thread.run_sync(self._save_file, key, source)

    async def save_bytes(self, key: str, data: bytes) -> None:
        await anyio.to_thread.run_sync(self._save_bytes, key, data)

    async def read_bytes(self, key: str) -> bytes:
        return await anyio.Path(self._path(key)).read_bytes()

    async def stream(self, key: str) -> AsyncIterator[bytes]:
        async with await anyio.open_file(self._path(key), "rb") as fh:
            while chunk := await fh.read(CHUNK):
                yield chunk

    async def exists(self, key: str) -> bool:
        return await anyio.Path(self._path(key)).is_file()

    async def delete(self, key: str) -> None:
        await anyio.Path(self._path(key)).unlink(missing_ok=True)

    async def keys_older_than(self, cutoff: datetime) -> list[str]:
        def scan() -> list[str]:
            found: list[str] = []
            if not self.root.is_dir():
                return found
            limit = cutoff.timestamp()
            for path in self.root.rglob("*"):
                if path.is_file() and path.stat().st_mtime < limit:
                    found.append(path.relative_to(self.root).as_posix())
            return found

        return await anyio.to_thread.run_sync(scan)

    async def keys(self) -> AsyncIterator[str]:
        def listing(directory: Path) -> tuple[list[str], list[Path]]:
            files: list[str] = []
            subdirectories: list[Path] = []
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        subdirectories.append(Path(entry.path))
                    # A ".part" file is a write in progress (_save_bytes), not a stored key.
                    elif entry.is_file(follow_symlinks=False) and not entry.name.endswith(".part"):
                        files.append(Path(entry.path).relative_to(self.root).as_posix())
            return files, subdirectories

        if not await anyio.Path(self.root).is_dir():
            return
        # One directory per thread hop: the key shards (originals/ab/…) keep each one small.
        pending = [self.root]
        while pending:
            files, subdirectories = await anyio.to_thread.run_sync(listing, pending.pop())
            for key in files:
                yield key
            pending.extend(subdirectories)


_storages: dict[Path, LocalPhotoStorage] = {}


def get_storage(settings: Settings) -> PhotoStorage:
    root = Path(settings.storage_dir) / "photos"
    if root not in _storages:
        _storages[root] = LocalPhotoStorage(root)
    return _storages[root]


def temp_dir(settings: Settings) -> Path:
    """Uploads are spooled here: inside the storage directory, so the final move is a rename."""
    path = Path(settings.storage_dir) / "tmp"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc) from exc
    return path
