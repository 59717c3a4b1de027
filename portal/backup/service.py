"""Create a backup of this deployment (restore.py checks one and restores it).

The files come from each domain's stores: a domain that keeps files provides a ``backup`` module
(portal/domains.py) with ``stores(settings) -> dict[str, FileStore]`` (the complaint photos are
``complaints.photos``, whatever ``PhotoStorage`` holds them: local disk or an object store), and
may provide ``async def check_restored(session, settings) -> list[str]``, the problems it finds in
a restored deployment (a photo whose bytes no longer match its SHA-256, a ledger that does not
verify). The shell imports no domain; it only asks them.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from portal import clock, domains
from portal.backup import dumps
from portal.backup.errors import (
    BackupDestinationNotEmpty,
    BackupIncompatible,
    BackupTooLarge,
)
from portal.backup.manifest import (
    DATABASE_FILES,
    FILES_DIR,
    FILES_LIST,
    FORMAT,
    KEY,
    MANIFEST,
    SIGNATURE,
    VERSION,
    DatabaseDump,
    FilesList,
    Manifest,
    ManifestSignature,
    StoredFile,
    file_digest,
    signing_message,
)
from portal.backup.settings import BackupSettings
from portal.settings import Settings
from portal.signing import load_signing_key


class FileStore(Protocol):
    """What a backup needs of a store: the methods of ``PhotoStorage`` it uses."""

    def keys(self) -> AsyncIterator[str]: ...

    def stream(self, key: str) -> AsyncIterator[bytes]: ...

    async def save_file(self, key: str, source: Path) -> None: ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None: ...


@dataclass
class BackupReport:
    directory: Path
    manifest: Manifest


def file_stores(settings: Settings) -> dict[str, FileStore]:
    stores: dict[str, FileStore] = {}
    for _, module in domains.modules("backup"):
        if hasattr(module, "stores"):
            stores.update(module.stores(settings))
    return dict(sorted(stores.items()))


async def close_file_stores(settings: Settings) -> None:
    """Close the stores' connections (an object store's client pool) once a command is done with
    them: left to the garbage collector, each ends the command with a warning on stderr."""
    for store in file_stores(settings).values():
        close = getattr(store, "aclose", None)
        if close is not None:
            await close()


def signing_key_id(settings: Settings) -> str | None:
    """This deployment's key id, without creating a key file where there is none."""
    if not Path(settings.signing_key_file).is_file():
        return None
    return load_signing_key(settings.signing_key_file).key_id


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- backup ---------------------------------------------------------------------------------


async def create_backup(settings: Settings, directory: Path) -> BackupReport:
    """Write a backup of the database and of every store into ``directory`` (new or empty).
    The database first: a photo is stored before the row that refers to it commits, so every
    photo the snapshot refers to is already in the store when the stores are listed."""
    bounds = settings.of(BackupSettings)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise BackupDestinationNotEmpty(
            f"{directory} exists and is not an empty directory.",
            detail_zh=f"{directory} 已存在且不是空目录。",
        )
    directory.mkdir(parents=True, exist_ok=True)
    try:
        return await _write_backup(settings, directory, bounds)
    except BaseException:
        # Never leave a directory that looks like a backup in progress: it is emptied again.
        for child in directory.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise


async def _write_backup(
    settings: Settings, directory: Path, bounds: BackupSettings
) -> BackupReport:
    created_at = clock.now()
    dialect = dumps.dialect_of(settings.database_url)
    dump_path = directory / DATABASE_FILES[dialect]
    snapshot = await dumps.dump(
        settings.database_url, dump_path, limit_seconds=bounds.backup_command_timeout_seconds
    )
    size, digest = file_digest(dump_path, max_bytes=bounds.backup_max_database_bytes)
    if size > bounds.backup_max_database_bytes:
        raise BackupTooLarge(
            f"The database dump exceeds GONGZHI_BACKUP_MAX_DATABASE_BYTES "
            f"({bounds.backup_max_database_bytes}).",
            detail_zh=f"数据库导出超过 GONGZHI_BACKUP_MAX_DATABASE_BYTES（{bounds.backup_max_database_bytes}）。",
        )
    files = await _copy_stores(settings, directory, bounds)
    manifest = Manifest(
        format=FORMAT,
        version=VERSION,
        created_at=created_at,
        signing_key_id=signing_key_id(settings),
        database=DatabaseDump(
            dialect="sqlite" if dialect == "sqlite" else "postgresql",
            file=dump_path.name,
            size=size,
            sha256=digest,
            revisions=snapshot.revisions,
            tables=snapshot.tables,
            tool=snapshot.tool,
            server_version=snapshot.server_version,
        ),
        files=files,
    )
    # Written last and renamed into place: a directory without manifest.json is no backup.
    raw = (manifest.model_dump_json(indent=2) + "\n").encode("utf-8")
    if manifest.signing_key_id is not None:
        # Signed, so a dump and a manifest rewritten to match each other are still refused.
        key = load_signing_key(settings.signing_key_file)
        signature = ManifestSignature(key_id=key.key_id, signature=key.sign(signing_message(raw)))
        (directory / SIGNATURE).write_text(signature.model_dump_json() + "\n", encoding="utf-8")
        _fsync(directory / SIGNATURE)
    partial = directory / (MANIFEST + ".part")
    partial.write_bytes(raw)
    _fsync(partial)
    partial.replace(directory / MANIFEST)
    _fsync(directory)
    return BackupReport(directory=directory, manifest=manifest)


async def _copy_stores(settings: Settings, directory: Path, bounds: BackupSettings) -> FilesList:
    listing = directory / FILES_LIST
    per_store: dict[str, int] = {}
    count = 0
    total = 0
    with open(listing, "w", encoding="utf-8") as out:
        for name, store in file_stores(settings).items():
            per_store[name] = 0
            async for key in store.keys():
                count += 1
                if count > bounds.backup_max_files:
                    raise BackupTooLarge(
                        f"The stores hold more than GONGZHI_BACKUP_MAX_FILES "
                        f"({bounds.backup_max_files}) files.",
                        detail_zh=f"存储中的文件超过 GONGZHI_BACKUP_MAX_FILES（{bounds.backup_max_files}）个。",
                    )
                entry = await _copy_one(store, name, key, directory, bounds)
                if entry is None:
                    continue
                out.write(entry.model_dump_json() + "\n")
                per_store[name] += 1
                total += entry.size
        out.flush()
        os.fsync(out.fileno())
    size, digest = file_digest(listing, max_bytes=1 << 62)
    return FilesList(
        file=FILES_LIST, size=size, sha256=digest, count=count, bytes=total, stores=per_store
    )


async def _copy_one(
    store: FileStore, name: str, key: str, directory: Path, bounds: BackupSettings
) -> StoredFile | None:
    """The file copied into the backup, or None if it was deleted after the store was listed
    (the orphan sweep removes photos no case names; the snapshot names none of those)."""
    if not re.fullmatch(KEY, key):
        raise BackupIncompatible(
            f"The store {name} holds a key a backup cannot name as a path: {key[:200]!r}.",
            detail_zh=f"存储 {name} 中有无法作为路径保存的键：{key[:200]!r}。",
        )
    target = directory / FILES_DIR / name / key
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    try:
        with open(target, "wb") as out:
            async for chunk in store.stream(key):
                size += len(chunk)
                if size > bounds.backup_max_file_bytes:
                    raise BackupTooLarge(
                        f"{name}/{key} exceeds GONGZHI_BACKUP_MAX_FILE_BYTES "
                        f"({bounds.backup_max_file_bytes}).",
                        detail_zh=f"{name}/{key} 超过 GONGZHI_BACKUP_MAX_FILE_BYTES（{bounds.backup_max_file_bytes}）。",
                    )
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except Exception:
        if await store.exists(key):
            raise
        target.unlink(missing_ok=True)
        return None
    return StoredFile(store=name, key=key, size=size, sha256=digest.hexdigest())


def summary(manifest: Manifest) -> str:
    """What the CLI prints about a backup, one line."""
    stores = ", ".join(f"{name} {count}" for name, count in manifest.files.stores.items())
    return (
        f"{manifest.database.dialect} {'/'.join(manifest.database.revisions)}, "
        f"{sum(manifest.database.tables.values())} rows in {len(manifest.database.tables)} tables; "
        f"files: {stores or 'none'} ({manifest.files.bytes} bytes); "
        f"signing key {manifest.signing_key_id or 'none'}; taken {manifest.created_at.isoformat()}"
    )
