"""Bounds of backup and restore (``GONGZHI_BACKUP_*``): what one backup may hold, so a restore of
a damaged or hostile directory stops at a known size instead of filling the disk or the memory."""

from __future__ import annotations

from pydantic import Field

from portal.settings import DomainSettings


class BackupSettings(DomainSettings):
    # Stored files in one backup (a province's photos over years: three per case).
    backup_max_files: int = Field(default=5_000_000, ge=1, le=100_000_000)
    # One stored file: photos are at most GONGZHI_MAX_UPLOAD_BYTES; other stores may keep more.
    backup_max_file_bytes: int = Field(default=1024**3, ge=1, le=64 * 1024**3)
    # The database dump.
    backup_max_database_bytes: int = Field(default=1024**4, ge=1, le=64 * 1024**4)
    # pg_dump / pg_restore and the SQLite copy are stopped after this long (a hung server or a
    # locked database must not hang the drill).
    backup_command_timeout_seconds: float = Field(default=6 * 3600.0, ge=1.0, le=7 * 24 * 3600.0)


SETTINGS = BackupSettings
