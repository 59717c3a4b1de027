"""Check a backup against its manifest and signature, and restore it into an empty deployment:
everything checked before anything is written, nothing left half-restored."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from portal import domains
from portal.backup import dumps
from portal.backup.errors import (
    BackupDamaged,
    BackupIncompatible,
    BackupTooLarge,
    RestoreCheckFailed,
    RestoreTargetNotEmpty,
    SigningKeyMismatch,
)
from portal.backup.manifest import (
    CHUNK,
    FILES_DIR,
    FILES_LIST,
    MANIFEST,
    MAX_MANIFEST_BYTES,
    Manifest,
    StoredFile,
    file_digest,
    parse_manifest,
    read_bounded,
    read_files_list,
    read_manifest,
    read_signature,
    signing_message,
)
from portal.backup.service import FileStore, file_stores, signing_key_id
from portal.backup.settings import BackupSettings
from portal.db import Database
from portal.settings import Settings
from portal.signing import load_signing_key, verify_signature

log = structlog.get_logger(__name__)

SPOOL = "restore-spool"  # under GONGZHI_STORAGE_DIR: a file moves into a local store by rename


@dataclass
class RestoreReport:
    manifest: Manifest
    files: int = 0
    problems: list[str] = field(default_factory=list)


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
    manifest = await asyncio.to_thread(check_backup, settings, directory)
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
    current = signing_key_id(settings)
    if manifest.signing_key_id is None:
        if current is not None:
            # A signed backup with its key id and signature removed looks exactly like this.
            raise SigningKeyMismatch(
                f"The backup is unsigned (its deployment had no signing key) but "
                f"{settings.signing_key_file} holds key {current}. Restore an unsigned backup "
                "only into a deployment without a signing key file.",
                detail_zh=f"该备份未签名（原部署没有签名密钥），而 {settings.signing_key_file} "
                f"中有密钥 {current}。未签名的备份只能恢复到没有签名密钥文件的部署。",
            )
        return
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
    if manifest.signing_key_id is None or signing_key_id(settings) != manifest.signing_key_id:
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
