"""Where photo files live. ``PhotoStorage`` is the interface; ``LocalPhotoStorage`` keeps files
under ``GONGZHI_STORAGE_DIR/photos`` (the default), ``S3PhotoStorage`` (s3_storage.py) in an
S3-compatible object store (``GONGZHI_PHOTO_STORAGE=s3``); ``get_storage`` picks by the settings.
Nothing else in the domain touches the file system or the store directly."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import anyio

from api.complaints.errors import MediaNotFound, storage_error
from api.complaints.settings import ComplaintsSettings
from portal import clock
from portal.settings import Settings

if TYPE_CHECKING:  # the S3 client (aioboto3) is imported only by a process that uses the store
    from api.complaints.s3_storage import S3PhotoStorage

CHUNK = 256 * 1024


def _date_by_portal_clock(path: Path) -> None:
    """A stored file is dated by the portal's clock, like the rows that refer to it, so the orphan
    sweep (``keys_older_than``, a cutoff on that clock) compares like with like."""
    moment = clock.timestamp()
    os.utime(path, (moment, moment))


class PhotoStorage(Protocol):
    async def save_file(self, key: str, source: Path, *, sha256: str | None = None) -> None:
        """Move ``source`` (a temporary file on the same machine) to ``key``, durably. ``sha256``
        (hex), when the caller knows it, lets a store that can verify the bytes do so."""

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

    async def save_file(self, key: str, source: Path, *, sha256: str | None = None) -> None:
        # A rename on one file system moves the very bytes that were hashed: nothing to verify.
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
_object_stores: dict[tuple[str, ...], S3PhotoStorage] = {}


def get_storage(settings: Settings) -> PhotoStorage:
    config = settings.of(ComplaintsSettings)
    if config.photo_storage == "s3":
        secret = config.photo_s3_secret_access_key.get_secret_value()
        ident = (
            config.photo_s3_endpoint_url,
            config.photo_s3_bucket,
            config.photo_s3_prefix,
            config.photo_s3_region,
            config.photo_s3_access_key_id,
            hashlib.sha256(secret.encode()).hexdigest(),
            str(config.photo_s3_timeout_seconds),
        )
        if ident not in _object_stores:
            # Imported here: aioboto3 takes about 0.4 s to import, paid otherwise by every
            # command and process that keeps photos on disk (a bulk import's facts included).
            from api.complaints.s3_storage import S3PhotoStorage

            _object_stores[ident] = S3PhotoStorage(
                endpoint_url=config.photo_s3_endpoint_url,
                bucket=config.photo_s3_bucket,
                prefix=config.photo_s3_prefix,
                region=config.photo_s3_region,
                access_key_id=config.photo_s3_access_key_id,
                secret_access_key=secret,
                timeout_seconds=config.photo_s3_timeout_seconds,
            )
        return _object_stores[ident]
    root = Path(settings.storage_dir) / "photos"
    if root not in _storages:
        _storages[root] = LocalPhotoStorage(root)
    return _storages[root]


async def close_storages() -> None:
    """Close the object stores' connection pools (the app's shutdown hook, startup.py)."""
    for store in _object_stores.values():
        await store.aclose()


async def opened(stream: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """``stream`` with its first chunk already read, for a response: a store that is down or a
    file that is gone fails here, as a 503 problem (or 404), before the response has started,
    rather than as a connection cut off after a 200."""
    try:
        first = await anext(stream, b"")
    except FileNotFoundError as exc:
        raise MediaNotFound() from exc
    except OSError as exc:
        raise storage_error(exc, reading=True) from exc

    async def rest() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in stream:
            yield chunk

    return rest()


STALE_UPLOAD_SECONDS = 900
SWEEP_EVERY_SECONDS = 600
_last_sweep = float("-inf")


def sweep_stale_uploads(directory: Path, *, older_than: float = STALE_UPLOAD_SECONDS) -> int:
    """Remove uploads spooled more than ``older_than`` seconds ago: a process killed while it
    read an upload (a node that died mid-request) never removed its file, and nothing else would.
    An upload in progress is written to every moment and is checked and stored within seconds.
    Returns how many."""
    cutoff = time.time() - older_than  # file times are the file system's clock, not portal.clock
    removed = 0
    for path in directory.glob("upload-*"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:  # gone already (another worker's sweep), or not ours to remove
            continue
    return removed


def temp_dir(settings: Settings) -> Path:
    """Uploads are spooled here: inside the storage directory, so the final move is a rename."""
    global _last_sweep
    path = Path(settings.storage_dir) / "tmp"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise storage_error(exc) from exc
    if time.monotonic() - _last_sweep > SWEEP_EVERY_SECONDS:  # at most every 10 minutes
        _last_sweep = time.monotonic()
        sweep_stale_uploads(path)
    return path
