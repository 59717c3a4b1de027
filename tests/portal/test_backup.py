"""The backup and restore drill (issue 18), on SQLite and PostgreSQL: the demo deployment (cases
with photos, certificates, a signed credit ledger) is backed up with ``gongzhi backup``, restored
with ``gongzhi restore`` into a new empty database and an empty photo store, and every row, every
photo's bytes and the ledger come back; a non-empty target, a damaged backup, another signing key
and a backup past its bounds are refused with nothing written. The scaled-out mode's drill
(PostgreSQL, photos in the S3 store) runs last, with the same commands."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from api.complaints.storage import LocalPhotoStorage
from credit.ledger import signing_key, verify_stored
from portal.backup.errors import (
    BackupDamaged,
    BackupDestinationNotEmpty,
    BackupTooLarge,
    BackupToolFailed,
    RestoreTargetNotEmpty,
    SigningKeyMismatch,
)
from portal.backup.manifest import signing_message
from portal.backup.restore import check_backup, restore_backup
from portal.backup.service import create_backup
from portal.backup.settings import BackupSettings
from portal.db import Database
from portal.migrate import upgrade_async
from portal.settings import Settings
from portal.signing import load_signing_key
from tests.objectstore import ACCESS_KEY, BUCKET, SECRET_KEY, SeaweedServer
from tests.objectstore import s3_server as s3_server  # the fixture, asked for by name
from tests.support import (
    GONGZHI,
    TEST_SECRET,
    create_postgres_database,
    drop_postgres_database,
    make_settings,
    postgres_async_url,
)


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The ``gongzhi`` command as an operator runs it."""
    return subprocess.run(
        [GONGZHI, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
        check=False,
    )


@dataclass
class Deployment:
    settings: Settings
    root: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            "GONGZHI_DATABASE_URL": self.settings.database_url,
            "GONGZHI_STORAGE_DIR": str(self.settings.storage_dir),
            "GONGZHI_SIGNING_KEY_FILE": str(self.settings.signing_key_file),
            "GONGZHI_SECRET_KEY": TEST_SECRET,
        }

    @property
    def photos(self) -> Path:
        return Path(self.settings.storage_dir) / "photos"


async def _new_deployment(kind: str, root: Path) -> tuple[Deployment, str | None]:
    root.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        url, name = f"sqlite+aiosqlite:///{root / 'gongzhi.db'}", None
    else:
        name = await create_postgres_database()
        url = postgres_async_url(name)
    settings = make_settings(url, root / "storage", signing_key_file=root / "signing-key.pem")
    return Deployment(settings, root), name


@dataclass
class Source:
    deployment: Deployment
    backup: Path


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def source(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Source]:
    """The demo deployment, built and backed up with the commands an operator types."""
    root = tmp_path_factory.mktemp(f"source-{request.param}")
    deployment, name = await _new_deployment(request.param, root / "deployment")
    try:
        for command in (["db", "upgrade"], ["demo"], ["backup", str(root / "backup")]):
            result = run(*command, env=deployment.env)
            assert result.returncode == 0, result.stderr
        assert "backup written" in result.stdout
        yield Source(deployment, root / "backup")
    finally:
        if name:
            await drop_postgres_database(name)


@pytest.fixture
async def target(source: Source, tmp_path: Path) -> AsyncIterator[Deployment]:
    """A new, empty deployment of the same kind, holding the source's signing key file (kept
    apart from backups, put in place by the operator)."""
    kind = "sqlite" if source.deployment.settings.is_sqlite else "postgresql"
    deployment, name = await _new_deployment(kind, tmp_path / "target")
    shutil.copy(source.deployment.settings.signing_key_file, deployment.settings.signing_key_file)
    try:
        yield deployment
    finally:
        if name:
            await drop_postgres_database(name)


async def _rows(settings: Settings) -> dict[str, list[str]]:
    """Every row of every table, in a comparable form."""
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            query = (
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                if settings.is_sqlite
                else "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
            tables = sorted((await connection.execute(text(query))).scalars())
            return {
                table: sorted(
                    repr(tuple(row))
                    for row in await connection.execute(text(f'SELECT * FROM "{table}"'))
                )
                for table in tables
            }
    finally:
        await engine.dispose()


async def _scalars(settings: Settings, query: str) -> list[tuple[object, ...]]:
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(text(query))]
    finally:
        await engine.dispose()


def _files(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


async def _is_empty(deployment: Deployment) -> bool:
    photos = _files(deployment.photos) if deployment.photos.exists() else {}
    return not photos and not await _rows(deployment.settings)


def _stored_files(backup: Path) -> int:
    count: int = json.loads((backup / "manifest.json").read_text())["files"]["count"]
    return count


async def test_restore_brings_back_every_case_photo_certificate_and_ledger_event(
    source: Source, target: Deployment
) -> None:
    result = run("restore", str(source.backup), env=target.env)
    assert result.returncode == 0, result.stderr
    assert f"restored {_stored_files(source.backup)} files" in result.stdout

    before = await _rows(source.deployment.settings)
    after = await _rows(target.settings)
    assert after == before  # every row of every table, byte for byte
    for table in ("complaint_case", "case_media", "certificate", "credit_event"):
        assert before[table], f"the demo data has no {table}: the drill would prove nothing"

    # Every photo the cases refer to, with the SHA-256 recorded at intake, and every derivative.
    media = await _scalars(target.settings, "SELECT original_key, sha256 FROM case_media")
    photos = LocalPhotoStorage(target.photos)
    for key, sha256 in media:
        assert hashlib.sha256(await photos.read_bytes(str(key))).hexdigest() == sha256
    assert _files(target.photos) == _files(source.deployment.photos)

    # The credit ledger verifies end to end on the restored deployment, as a verifier would run it.
    verified = run("credit", "verify-ledger", env=target.env)
    assert verified.returncode == 0, verified.stderr
    events = len(before["credit_event"])
    assert f"ledger verified: {events} events" in verified.stdout
    database = Database.from_settings(target.settings)
    try:
        async with database.transaction() as session:
            verification = await verify_stored(session, signing_key(target.settings))
    finally:
        await database.dispose()
    assert verification.ok
    assert verification.checked == events

    # The restored deployment is at the migrations' head and keeps working.
    assert run("db", "upgrade", env=target.env).returncode == 0


async def test_restore_refuses_a_target_that_holds_data(source: Source, target: Deployment) -> None:
    await upgrade_async(target.settings.database_url)  # tables, reference data: not empty
    with pytest.raises(RestoreTargetNotEmpty, match="gongzhi db upgrade"):
        await restore_backup(target.settings, source.backup)
    assert not target.photos.exists() or not _files(target.photos)


async def test_restore_refuses_a_photo_store_that_holds_files(
    source: Source, target: Deployment
) -> None:
    await LocalPhotoStorage(target.photos).save_bytes("originals/aa/left-over", b"x")
    with pytest.raises(RestoreTargetNotEmpty):
        await restore_backup(target.settings, source.backup)
    assert not await _rows(target.settings)
    assert list(_files(target.photos)) == ["originals/aa/left-over"]


def _copy(backup: Path, into: Path) -> Path:
    copy = into / "backup"
    shutil.copytree(backup, copy)
    return copy


def _first_photo(backup: Path) -> Path:
    entry = json.loads((backup / "files.jsonl").read_text().splitlines()[-1])
    return backup / "files" / entry["store"] / entry["key"]


async def test_a_photo_that_differs_from_the_manifest_is_refused_before_anything_is_written(
    source: Source, target: Deployment, tmp_path: Path
) -> None:
    backup = _copy(source.backup, tmp_path)
    photo = _first_photo(backup)
    data = bytearray(photo.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, same size
    photo.write_bytes(bytes(data))
    refused = run("restore", str(backup), env=target.env)
    assert refused.returncode == 1
    assert "backup_damaged" in refused.stderr
    assert photo.name in refused.stderr
    assert await _is_empty(target)
    with pytest.raises(BackupDamaged):
        check_backup(target.settings, backup)


async def test_a_missing_file_or_manifest_is_refused(
    source: Source, target: Deployment, tmp_path: Path
) -> None:
    backup = _copy(source.backup, tmp_path)
    _first_photo(backup).unlink()
    with pytest.raises(BackupDamaged):
        await restore_backup(target.settings, backup)
    (backup / "manifest.json").unlink()
    with pytest.raises(BackupDamaged, match="not a complete backup"):
        await restore_backup(target.settings, backup)
    assert await _is_empty(target)


def _rewrite_dump(backup: Path) -> None:
    """Replace the dump by garbage and make the manifest agree with it (size and SHA-256)."""
    manifest = json.loads((backup / "manifest.json").read_text())
    garbage = b"not a database dump " * 1000
    (backup / manifest["database"]["file"]).write_bytes(garbage)
    manifest["database"].update(size=len(garbage), sha256=hashlib.sha256(garbage).hexdigest())
    (backup / "manifest.json").write_text(json.dumps(manifest))


async def test_a_manifest_changed_after_the_backup_fails_its_signature(
    source: Source, target: Deployment, tmp_path: Path
) -> None:
    backup = _copy(source.backup, tmp_path)
    _rewrite_dump(backup)  # every hash now agrees with the manifest
    check_backup(target.settings, backup)  # the hashes alone would pass
    with pytest.raises(BackupDamaged, match="signature"):
        await restore_backup(target.settings, backup)
    assert await _is_empty(target)


async def test_a_failure_after_photos_were_written_leaves_the_target_empty(
    source: Source, target: Deployment, tmp_path: Path
) -> None:
    """Nothing half-restored: a dump that fails to restore (here one rewritten and signed again
    by someone holding the key) comes after the photos were copied in, and they are removed."""
    backup = _copy(source.backup, tmp_path)
    _rewrite_dump(backup)
    key = load_signing_key(source.deployment.settings.signing_key_file)
    raw = (backup / "manifest.json").read_bytes()
    signature = {"key_id": key.key_id, "signature": key.sign(signing_message(raw))}
    (backup / "manifest.json.sig").write_text(json.dumps(signature))
    with pytest.raises((BackupDamaged, BackupToolFailed)):
        await restore_backup(target.settings, backup)
    assert target.photos.is_dir()  # the photos had gone in
    assert await _is_empty(target)


async def test_restore_needs_the_backed_up_signing_key(source: Source, target: Deployment) -> None:
    Path(target.settings.signing_key_file).unlink()
    with pytest.raises(SigningKeyMismatch):
        await restore_backup(target.settings, source.backup)
    assert not Path(target.settings.signing_key_file).exists()  # no key was made up
    assert await _is_empty(target)


async def test_a_signature_removed_from_the_backup_is_refused(
    source: Source, target: Deployment, tmp_path: Path
) -> None:
    """Stripping the key id and the signature does not make a backup restorable without them."""
    backup = _copy(source.backup, tmp_path)
    _rewrite_dump(backup)
    manifest = json.loads((backup / "manifest.json").read_text())
    manifest["signing_key_id"] = None
    (backup / "manifest.json").write_text(json.dumps(manifest))
    (backup / "manifest.json.sig").unlink()
    with pytest.raises(SigningKeyMismatch, match="unsigned"):
        await restore_backup(target.settings, backup)
    assert await _is_empty(target)


async def test_restore_is_bounded(source: Source, target: Deployment) -> None:
    bounds = target.settings.of(BackupSettings)
    stored = _stored_files(source.backup)
    bounds.backup_max_files = stored - 1
    with pytest.raises(BackupDamaged, match=f"more than {stored - 1} files"):
        await restore_backup(target.settings, source.backup)
    bounds.backup_max_files = 1000
    bounds.backup_max_file_bytes = 1024  # the photos are larger
    with pytest.raises(BackupTooLarge):
        await restore_backup(target.settings, source.backup)
    assert await _is_empty(target)


async def test_backup_writes_only_into_a_new_or_empty_directory(
    source: Source, tmp_path: Path
) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "manifest.json").write_text("{}")
    with pytest.raises(BackupDestinationNotEmpty):
        await create_backup(source.deployment.settings, tmp_path / "old")
    assert (tmp_path / "old" / "manifest.json").read_text() == "{}"


async def test_a_photo_deleted_between_listing_and_copying_is_left_out(tmp_path: Path) -> None:
    """The orphan sweep may delete an unattached upload while a backup runs: it is skipped, not
    a failed backup (the database snapshot, taken first, names no orphan)."""
    from portal.backup.service import _copy_one

    settings = make_settings("sqlite+aiosqlite:///:memory:", tmp_path / "storage")
    store = LocalPhotoStorage(tmp_path / "photos")
    await store.save_bytes("originals/aa/kept", b"kept")
    bounds = settings.of(BackupSettings)
    assert (
        await _copy_one(store, "complaints.photos", "originals/aa/gone", tmp_path, bounds) is None
    )
    assert not (tmp_path / "files" / "complaints.photos" / "originals" / "aa" / "gone").exists()
    kept = await _copy_one(store, "complaints.photos", "originals/aa/kept", tmp_path, bounds)
    assert kept is not None
    assert kept.sha256 == hashlib.sha256(b"kept").hexdigest()


async def test_a_locked_sqlite_target_stops_at_the_time_limit_and_stays_empty(
    source: Source, target: Deployment
) -> None:
    if not target.settings.is_sqlite:
        pytest.skip("the SQLite copy's own time limit; pg_restore runs under a process timeout")
    import sqlite3

    holder = sqlite3.connect(target.settings.database_url.split("///", 1)[1])
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the database: the copy cannot start
    try:
        target.settings.of(BackupSettings).backup_command_timeout_seconds = 1.0
        with pytest.raises(BackupToolFailed, match="longer than 1 s"):
            await restore_backup(target.settings, source.backup)
    finally:
        holder.rollback()
        holder.close()
    assert await _is_empty(target)


async def test_the_drill_on_postgresql_and_the_object_store(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The scaled-out mode's drill, with the commands an operator types: PostgreSQL and photos in
    the S3 store, backed up and restored into a new empty database and an empty key prefix. Every
    row and every object (byte for byte, with the SHA-256 recorded at intake) comes back, the
    ledger verifies, and the commands end cleanly (no client connection left open: aiohttp's
    "Unclosed client session" on stderr after every backup and restore)."""
    s3_server: SeaweedServer = request.getfixturevalue("s3_server")

    async def deployment(root: Path) -> tuple[Deployment, dict[str, str], str, str]:
        made, name = await _new_deployment("postgresql", root)
        assert name is not None
        prefix = f"{name}/"
        env = {
            **made.env,
            "GONGZHI_PHOTO_STORAGE": "s3",
            "GONGZHI_PHOTO_S3_ENDPOINT_URL": s3_server.url,
            "GONGZHI_PHOTO_S3_BUCKET": BUCKET,
            "GONGZHI_PHOTO_S3_PREFIX": prefix,
            "GONGZHI_PHOTO_S3_ACCESS_KEY_ID": ACCESS_KEY,
            "GONGZHI_PHOTO_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        }
        return made, env, name, prefix

    source, source_env, source_db, source_prefix = await deployment(tmp_path / "source")
    target, target_env, target_db, target_prefix = await deployment(tmp_path / "target")
    try:
        for command in (["db", "upgrade"], ["demo"], ["backup", str(tmp_path / "backup")]):
            result = run(*command, env=source_env)
            assert result.returncode == 0, result.stderr
        assert "Unclosed" not in result.stderr, result.stderr
        assert not list(source.photos.rglob("*.jpg")), "the photos went to the local disk"
        shutil.copy(source.settings.signing_key_file, target.settings.signing_key_file)

        restored = run("restore", str(tmp_path / "backup"), env=target_env)
        assert restored.returncode == 0, restored.stderr
        assert "Unclosed" not in restored.stderr, restored.stderr

        assert await _rows(target.settings) == await _rows(source.settings)
        objects = s3_server.objects(source_prefix)
        assert objects, "the demo data put no photo in the store: the drill would prove nothing"
        assert s3_server.objects(target_prefix).keys() == objects.keys()
        for key in objects:
            assert s3_server.read(target_prefix + key) == s3_server.read(source_prefix + key)
        media = await _scalars(target.settings, "SELECT original_key, sha256 FROM case_media")
        for key, sha256 in media:
            original = s3_server.read(f"{target_prefix}{key}")
            assert hashlib.sha256(original).hexdigest() == sha256
        verified = run("credit", "verify-ledger", env=target_env)
        assert verified.returncode == 0, verified.stderr
    finally:
        await drop_postgres_database(source_db)
        await drop_postgres_database(target_db)
