"""Create a backup of this deployment, check one, restore one into an empty deployment.

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
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import structlog

from portal import clock, domains
from portal.backup import dumps
from portal.backup.errors import (
    BackupDamaged,
    BackupDestinationNotEmpty,
    BackupIncompatible,
    BackupTooLarge,
    RestoreCheckFailed,
    RestoreTargetNotEmpty,
    SigningKeyMismatch,
)
from portal.backup.manifest import (
    CHUNK,
    DATABASE_FILES,
    FILES_DIR,
    FILES_LIST,
    FORMAT,
    KEY,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    SIGNATURE,
    VERSION,
    DatabaseDump,
    FilesList,
    Manifest,
    ManifestSignature,
    StoredFile,
    file_digest,
    parse_manifest,
    read_bounded,
    read_files_list,
    read_manifest,
    read_signature,
    signing_message,
)
from portal.backup.settings import BackupSettings
from portal.db import Database
from portal.settings import Settings
from portal.signing import load_signing_key, verify_signature

log = structlog.get_logger(__name__)

SPOOL = "restore-spool"  # under GONGZHI_STORAGE_DIR: a file moves into a local store by rename


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


@dataclass
class RestoreReport:
    manifest: Manifest
    files: int = 0
    problems: list[str] = field(default_factory=list)


def file_stores(settings: Settings) -> dict[str, FileStore]:
    stores: dict[str, FileStore] = {}
    for _, module in domains.modules("backup"):
        if hasattr(module, "stores"):
            stores.update(module.stores(settings))
    return dict(sorted(stores.items()))


def _signing_key_id(settings: Settings) -> str | None:
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
        signing_key_id=_signing_key_id(settings),
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


# --- check ----------------------------------------------------------------------------------


def check_backup(settings: Settings, directory: Path) -> Manifest:
    """Read the manifest and verify the dump and every file against it (size and SHA-256),
    writing nothing. Raises BackupDamaged at the first difference."""
    bounds = settings.of(BackupSettings)
    manifest = read_manifest(directory)
    database = manifest.database
    _expect(
        directory / database.file,
        database.size,
        database.sha256,
        max_bytes=bounds.backup_max_database_bytes,
    )
    listing = manifest.files
    _expect(directory / listing.file, listing.size, listing.sha256, max_bytes=listing.size)
    count = 0
    total = 0
    per_store: dict[str, int] = {}
    for entry in read_files_list(directory / listing.file, max_files=bounds.backup_max_files):
        if entry.size > bounds.backup_max_file_bytes:
            raise BackupTooLarge(
                f"{entry.store}/{entry.key} exceeds GONGZHI_BACKUP_MAX_FILE_BYTES.",
                detail_zh=f"{entry.store}/{entry.key} 超过 GONGZHI_BACKUP_MAX_FILE_BYTES。",
            )
        _expect(_stored_path(directory, entry), entry.size, entry.sha256, max_bytes=entry.size)
        count += 1
        total += entry.size
        per_store[entry.store] = per_store.get(entry.store, 0) + 1
    if (count, total) != (listing.count, listing.bytes) or any(
        per_store.get(name, 0) != number for name, number in listing.stores.items()
    ):
        raise BackupDamaged(
            f"files.jsonl lists {count} files ({total} bytes); the manifest says "
            f"{listing.count} ({listing.bytes} bytes).",
            detail_zh=f"files.jsonl 列出 {count} 个文件（{total} 字节），清单记载 "
            f"{listing.count} 个（{listing.bytes} 字节）。",
        )
    return manifest


def _stored_path(directory: Path, entry: StoredFile) -> Path:
    return directory / FILES_DIR / entry.store / entry.key


def _expect(path: Path, size: int, sha256: str, *, max_bytes: int) -> None:
    try:
        actual_size, actual = file_digest(path, max_bytes=max_bytes)
    except OSError as exc:
        raise BackupDamaged(
            f"{path} cannot be read ({exc.strerror}).",
            detail_zh=f"无法读取 {path}（{exc.strerror}）。",
        ) from exc
    if actual_size != size or actual != sha256:
        raise BackupDamaged(
            f"{path} does not match the manifest (SHA-256 {actual[:16]}…, {actual_size} bytes; "
            f"expected {sha256[:16]}…, {size} bytes).",
            detail_zh=f"{path} 与备份清单不符（SHA-256 {actual[:16]}…，{actual_size} 字节；"
            f"应为 {sha256[:16]}…，{size} 字节）。",
        )


# --- restore --------------------------------------------------------------------------------


async def restore_backup(settings: Settings, directory: Path) -> RestoreReport:
    """Restore ``directory`` into this deployment, which must be empty (no tables, no stored
    files) and hold the backed-up signing key. Everything is checked before anything is
    written; the files go in first, then the database in one transaction; if either fails,
    the files written are removed again, so the deployment is left empty, not half-restored."""
    bounds = settings.of(BackupSettings)
    manifest = check_backup(settings, directory)
    dialect = dumps.dialect_of(settings.database_url)
    if manifest.database.dialect != dialect:
        raise BackupIncompatible(
            f"The backup is of a {manifest.database.dialect} database; this deployment uses "
            f"{dialect}.",
            detail_zh=f"备份来自 {manifest.database.dialect} 数据库，本部署使用 {dialect}。",
        )
    stores = file_stores(settings)
    unknown = sorted(set(manifest.files.stores) - set(stores))
    if unknown:
        raise BackupIncompatible(
            f"The backup has stores this deployment does not know: {', '.join(unknown)}.",
            detail_zh=f"备份中有本部署没有的存储：{'、'.join(unknown)}。",
        )
    _check_signing_key(settings, manifest)
    check_signature(settings, directory, manifest)
    await _check_empty(settings.database_url, stores)

    report = RestoreReport(manifest=manifest)
    spool = Path(settings.storage_dir) / SPOOL
    spool.mkdir(parents=True, exist_ok=True)
    try:
        for entry in read_files_list(directory / FILES_LIST, max_files=bounds.backup_max_files):
            with _spooled(spool, _stored_path(directory, entry), entry) as source:
                await stores[entry.store].save_file(entry.key, source)
            report.files += 1
        await dumps.restore(
            directory / manifest.database.file,
            settings.database_url,
            dumped_with=manifest.database.tool,
            limit_seconds=bounds.backup_command_timeout_seconds,
        )
    except BaseException:
        await _remove_restored(directory, stores, bounds)
        raise
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    report.problems = await _check_restored(settings, manifest)
    if report.problems:
        raise RestoreCheckFailed(
            "; ".join(report.problems[:20]), detail_zh="；".join(report.problems[:20])
        )
    return report


def _check_signing_key(settings: Settings, manifest: Manifest) -> None:
    if manifest.signing_key_id is None:
        return
    current = _signing_key_id(settings)
    if current != manifest.signing_key_id:
        where = settings.signing_key_file
        found = f"holds key {current}" if current else "does not exist"
        raise SigningKeyMismatch(
            f"The backup was signed with key {manifest.signing_key_id}; {where} {found}. Put the "
            "backed-up deployment's signing key file there first (it is kept apart from backups).",
            detail_zh=f"备份使用的签名密钥为 {manifest.signing_key_id}，而 {where} "
            f"{'中的密钥为 ' + current if current else '不存在'}。请先放回原部署的签名密钥文件"
            "（密钥不随备份保存）。",
        )


def check_signature(settings: Settings, directory: Path, manifest: Manifest) -> bool:
    """Verify the manifest's signature with this deployment's key; False when it cannot be
    checked here (unsigned: the backed-up deployment had no key; or this deployment holds
    another key, which a restore refuses anyway). BackupDamaged when it does not verify."""
    if manifest.signing_key_id is None or _signing_key_id(settings) != manifest.signing_key_id:
        return False
    key = load_signing_key(settings.signing_key_file)
    signature = read_signature(directory)
    raw = read_bounded(directory / MANIFEST, MAX_MANIFEST_BYTES)
    if (
        signature.key_id != key.key_id
        or parse_manifest(directory / MANIFEST, raw) != manifest
        or not verify_signature(key.public_key, signature.signature, signing_message(raw))
    ):
        raise BackupDamaged(
            f"The signature of {MANIFEST} does not verify with key {key.key_id}: the manifest "
            "was changed after the backup.",
            detail_zh=f"{MANIFEST} 的签名无法用密钥 {key.key_id} 验证：备份清单在备份后被改动。",
        )
    return True


async def _check_empty(url: str, stores: dict[str, FileStore]) -> None:
    tables = await dumps.tables(url)
    if tables:
        raise RestoreTargetNotEmpty(
            f"The target database already has {len(tables)} tables ({', '.join(tables[:5])}…). "
            "Restore into a new, empty database (do not run `gongzhi db upgrade` on it first).",
            detail_zh=f"目标数据库中已有 {len(tables)} 张表。请恢复到新建的空数据库"
            "（恢复前不要运行 gongzhi db upgrade）。",
        )
    for name, store in stores.items():
        async for key in store.keys():
            raise RestoreTargetNotEmpty(
                f"The store {name} already holds files (e.g. {key}). Restore into an empty store.",
                detail_zh=f"存储 {name} 中已有文件（如 {key}），请恢复到空的存储。",
            )


@contextmanager
def _spooled(spool: Path, path: Path, entry: StoredFile) -> Iterator[Path]:
    """A copy of the backed-up file for the store to move in, checked again as it is copied
    (the backup may have changed since it was checked)."""
    fd, name = tempfile.mkstemp(dir=spool)
    copy = Path(name)
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out, open(path, "rb") as source:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > entry.size:
                    break
                digest.update(chunk)
                out.write(chunk)
        if size != entry.size or digest.hexdigest() != entry.sha256:
            raise BackupDamaged(
                f"{path} changed during the restore.", detail_zh=f"{path} 在恢复过程中被改动。"
            )
        yield copy
    finally:
        copy.unlink(missing_ok=True)


async def _remove_restored(
    directory: Path, stores: dict[str, FileStore], bounds: BackupSettings
) -> None:
    """The stores were empty: removing every key of the backup empties them again. Best effort
    (a store that went down cannot be emptied now): the failure that got here is the one raised,
    and the keys left behind are logged, so the next restore's emptiness check names them."""
    try:
        for entry in read_files_list(directory / FILES_LIST, max_files=bounds.backup_max_files):
            await stores[entry.store].delete(entry.key)
    except Exception as exc:
        log.error("restore_cleanup_failed", error=repr(exc))


async def _check_restored(settings: Settings, manifest: Manifest) -> list[str]:
    problems: list[str] = []
    counts = await dumps.row_counts(settings.database_url)
    for table, rows in manifest.database.tables.items():
        if counts.get(table) != rows:
            problems.append(f"table {table}: {counts.get(table)} rows, backup has {rows}")
    database = Database.from_settings(settings)
    try:
        for domain, module in domains.modules("backup"):
            if hasattr(module, "check_restored"):
                async with database.transaction() as session:
                    found = await module.check_restored(session, settings)
                problems.extend(f"{domain}: {problem}" for problem in found)
    finally:
        await database.dispose()
    return problems


def summary(manifest: Manifest) -> str:
    """What the CLI prints about a backup, one line."""
    stores = ", ".join(f"{name} {count}" for name, count in manifest.files.stores.items())
    return (
        f"{manifest.database.dialect} {'/'.join(manifest.database.revisions)}, "
        f"{sum(manifest.database.tables.values())} rows in {len(manifest.database.tables)} tables; "
        f"files: {stores or 'none'} ({manifest.files.bytes} bytes); "
        f"signing key {manifest.signing_key_id or 'none'}; taken {manifest.created_at.isoformat()}"
    )
