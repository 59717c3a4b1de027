"""The manifest of a backup and the one line per stored file, with the bounds a reader applies
before trusting either (a restore reads a directory that may have been damaged or edited)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from portal.backup.errors import BackupDamaged, BackupIncompatible

FORMAT = "gongzhi-backup"
VERSION = 1
MANIFEST = "manifest.json"
# The manifest's Ed25519 signature by the portal's key: {"key_id", "signature"}. The prefix keeps
# it from ever being taken for a ledger or sticker signature made with the same key.
SIGNATURE = "manifest.json.sig"
SIGNING_PREFIX = b"gongzhi backup manifest v1\n"
MAX_SIGNATURE_BYTES = 1024
FILES_LIST = "files.jsonl"
FILES_DIR = "files"
DATABASE_FILES = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
CHUNK = 1024 * 1024
# manifest.json holds a header and one count per table: a few kilobytes.
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_LINE_BYTES = 4096

SHA256 = r"^[0-9a-f]{64}$"
# A store's keys become paths under files/<store>/: plain segments only, no "..", no absolute path.
STORE_NAME = r"^[a-z][a-z0-9_.-]{0,63}$"
KEY = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}(/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}){0,15}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseDump(_Strict):
    dialect: Literal["sqlite", "postgresql"]
    file: str = Field(max_length=64)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=SHA256)
    revisions: list[str] = Field(max_length=32)  # alembic_version of the snapshot
    # Rows per table in the snapshot: the restore counts again and compares.
    tables: dict[str, int] = Field(max_length=1000)
    tool: str = Field(
        default="", max_length=200
    )  # "pg_dump (PostgreSQL) 15.20" or sqlite's version
    server_version: str = Field(default="", max_length=200)


class FilesList(_Strict):
    file: str = Field(max_length=64)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=SHA256)
    count: int = Field(ge=0)
    bytes: int = Field(ge=0)
    stores: dict[str, int] = Field(max_length=100)  # files per store


class Manifest(_Strict):
    format: Literal["gongzhi-backup"]
    version: int = Field(ge=1)
    created_at: datetime
    signing_key_id: str | None = Field(default=None, max_length=64)
    database: DatabaseDump
    files: FilesList


class StoredFile(_Strict):
    store: str = Field(pattern=STORE_NAME)
    key: str = Field(max_length=1000, pattern=KEY)
    size: int = Field(ge=0)
    sha256: str = Field(pattern=SHA256)


class ManifestSignature(_Strict):
    key_id: str = Field(max_length=64)
    signature: str = Field(max_length=200)


def signing_message(raw_manifest: bytes) -> bytes:
    return SIGNING_PREFIX + hashlib.sha256(raw_manifest).hexdigest().encode("ascii")


def read_bounded(path: Path, limit: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise BackupDamaged(
            f"{path} cannot be read ({exc.strerror}): not a complete backup.",
            detail_zh=f"无法读取 {path}（{exc.strerror}），不是完整的备份。",
        ) from exc
    if len(raw) > limit:
        raise BackupDamaged(
            f"{path} is larger than {limit} bytes.", detail_zh=f"{path} 超过 {limit} 字节。"
        )
    return raw


def read_signature(directory: Path) -> ManifestSignature:
    path = directory / SIGNATURE
    try:
        return ManifestSignature.model_validate_json(read_bounded(path, MAX_SIGNATURE_BYTES))
    except ValidationError as exc:
        raise BackupDamaged(
            f"{path} is not a manifest signature: {_first_error(exc)}",
            detail_zh=f"{path} 不是备份清单的签名：{_first_error(exc)}",
        ) from exc


def read_manifest(directory: Path) -> Manifest:
    return parse_manifest(
        directory / MANIFEST, read_bounded(directory / MANIFEST, MAX_MANIFEST_BYTES)
    )


def parse_manifest(path: Path, raw: bytes) -> Manifest:
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError as exc:
        raise BackupDamaged(
            f"{path} is not a Gongzhi backup manifest: {_first_error(exc)}",
            detail_zh=f"{path} 不是共治备份清单：{_first_error(exc)}",
        ) from exc
    if manifest.version > VERSION:
        raise BackupIncompatible(
            f"Backup format version {manifest.version}; this Gongzhi reads up to {VERSION}.",
            detail_zh=f"备份格式版本为 {manifest.version}，本程序只能读取 {VERSION} 及以下版本。",
        )
    expected = DATABASE_FILES[manifest.database.dialect]
    if manifest.database.file != expected or manifest.files.file != FILES_LIST:
        raise BackupDamaged(
            "The manifest names unexpected files.", detail_zh="备份清单中的文件名不符合格式。"
        )
    return manifest


def read_files_list(path: Path, *, max_files: int) -> Iterator[StoredFile]:
    """Each line of files.jsonl, validated; a line too long or too many lines stop the read."""
    with open(path, "rb") as handle:
        for number, line in enumerate(iter(lambda: handle.readline(MAX_LINE_BYTES + 1), b""), 1):
            if number > max_files:
                raise BackupDamaged(
                    f"{path} lists more than {max_files} files.",
                    detail_zh=f"{path} 列出的文件超过 {max_files} 个。",
                )
            if len(line) > MAX_LINE_BYTES or not line.endswith(b"\n"):
                raise BackupDamaged(
                    f"{path} line {number} is too long or unterminated.",
                    detail_zh=f"{path} 第 {number} 行过长或不完整。",
                )
            try:
                yield StoredFile.model_validate_json(line)
            except ValidationError as exc:
                raise BackupDamaged(
                    f"{path} line {number}: {_first_error(exc)}",
                    detail_zh=f"{path} 第 {number} 行：{_first_error(exc)}",
                ) from exc


def file_digest(path: Path, *, max_bytes: int) -> tuple[int, str]:
    """Size and SHA-256 of a regular file (not a symlink), reading at most ``max_bytes + 1``."""
    digest = hashlib.sha256()
    size = 0
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        while chunk := handle.read(CHUNK):
            size += len(chunk)
            if size > max_bytes:
                break
            digest.update(chunk)
    return size, digest.hexdigest()


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
