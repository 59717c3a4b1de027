"""Photos in an S3-compatible store (GONGZHI_PHOTO_STORAGE=s3) against a real S3 server on
loopback (SeaweedFS, tests/objectstore.py): byte-exact originals checked by SHA-256 on the store's
side, metadata-free derivatives, the store down (503, nothing written), the orphan sweep."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from api.complaints.media import cleanup_orphan_media, media_keys
from api.complaints.models import Media
from api.complaints.s3_storage import S3PhotoStorage
from api.complaints.settings import ComplaintsSettings
from api.complaints.storage import close_storages, get_storage
from portal import clock
from portal.db import Database
from portal.settings import Settings
from tests.api.complaints import images
from tests.api.complaints.support import report_body
from tests.api.complaints.test_media import assert_clean_jpeg, fetch
from tests.objectstore import (
    ACCESS_KEY,
    BUCKET,
    SECRET_KEY,
    SeaweedServer,
    start_server,
    stored,
    use_s3,
)
from tests.support import assert_problem, free_port, served_portal

on_s3 = pytest.mark.parametrize("photo_storage", ["s3"], indirect=True)


async def media_rows(database: Database) -> int:
    async with database.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(Media))).scalar_one())


def b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


@on_s3
async def test_original_is_stored_byte_exact_with_its_sha256(
    client: httpx.AsyncClient,
    upload,
    settings: Settings,
    s3_server: SeaweedServer,
    photo_storage: str,
) -> None:
    original = images.jpeg(orientation=6)
    body = (await upload(original)).json()
    keys = media_keys(uuid.UUID(body["id"]))
    assert set(s3_server.objects(photo_storage)) == set(keys.values())
    # The store itself holds the SHA-256 it verified on the way in: the upload's own.
    head = s3_server.head(photo_storage + keys["original"])
    assert (
        head["ChecksumSHA256"] == b64(hashlib.sha256(original).hexdigest()) == b64(body["sha256"])
    )
    assert head["ContentLength"] == len(original)
    storage = get_storage(settings)
    assert isinstance(storage, S3PhotoStorage)
    assert await storage.read_bytes(keys["original"]) == original
    # Derivatives carry no metadata, in the store as through the signed link.
    for variant in ("display", "thumbnail"):
        kept = await storage.read_bytes(keys[variant])
        assert_clean_jpeg(kept)
        served = await fetch(client, body["urls"][variant])
        assert served.status_code == 200
        assert served.content == kept
    assert b"SN-CAMERA-4242" not in await storage.read_bytes(keys["display"])


@on_s3
async def test_the_store_refuses_bytes_that_do_not_match_their_sha256(
    settings: Settings, s3_server: SeaweedServer, photo_storage: str, tmp_path: Path
) -> None:
    storage = get_storage(settings)
    data = images.jpeg()
    source = tmp_path / "upload"
    source.write_bytes(data)
    wrong = hashlib.sha256(data + b"one byte more").hexdigest()
    with pytest.raises(OSError, match="object store write failed"):
        await storage.save_file("originals/aa/refused", source, sha256=wrong)
    assert not await storage.exists("originals/aa/refused")
    assert source.exists()  # not moved: the caller still has it
    await storage.save_file("originals/aa/kept", source, sha256=hashlib.sha256(data).hexdigest())
    assert not source.exists()  # moved
    assert await storage.read_bytes("originals/aa/kept") == data
    assert set(s3_server.objects(photo_storage)) == {"originals/aa/kept"}


@on_s3
async def test_store_down_is_503_and_nothing_written(
    client: httpx.AsyncClient,
    upload,
    settings: Settings,
    database: Database,
    s3_server: SeaweedServer,
    photo_storage: str,
) -> None:
    earlier = (await upload(images.jpeg(gps=False))).json()
    before, rows = s3_server.objects(photo_storage), await media_rows(database)
    # Nothing listens there: the store is down, as a client sees it (connection refused).
    use_s3(settings, f"http://127.0.0.1:{free_port()}", photo_storage)
    spooled = set((Path(settings.storage_dir) / "tmp").glob("*"))
    response = await upload(images.jpeg())
    assert_problem(response, 503, "storage_unavailable")
    assert await media_rows(database) == rows
    assert set((Path(settings.storage_dir) / "tmp").glob("*")) == spooled
    # A photo already stored cannot be read either: a 503 problem, not a 200 cut short.
    assert_problem(await fetch(client, earlier["urls"]["display"]), 503, "storage_unavailable")
    use_s3(settings, s3_server.url, photo_storage)
    assert s3_server.objects(photo_storage) == before
    assert (await upload(images.jpeg())).status_code == 201  # back up: uploads work again


async def test_store_dying_mid_upload_leaves_no_row_and_the_sweep_removes_the_rest(
    client: httpx.AsyncClient,
    upload,
    settings: Settings,
    database: Database,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A store of its own, killed (SIGKILL) after the derivatives were written and before the
    original: the request is a 503 and adds no row; the derivatives it could not delete (the
    store was gone) are strays the orphan sweep removes once the store is back."""
    server = start_server(tmp_path / "seaweedfs")
    config = settings.of(ComplaintsSettings)
    saved = config.model_dump()
    prefix = "dying/"
    use_s3(settings, server.url, prefix)
    real_put = S3PhotoStorage._put
    derivatives_written: list[str] = []
    both_written = asyncio.Event()

    async def die_before_original(self: S3PhotoStorage, key: str, *args: object) -> None:
        if key.startswith("originals/"):  # the writes run at once: wait for the other two
            await asyncio.wait_for(both_written.wait(), timeout=30)
            server.kill()
        await real_put(self, key, *args)  # type: ignore[arg-type]
        if not key.startswith("originals/"):
            derivatives_written.append(key)
            if len(derivatives_written) == 2:
                both_written.set()

    monkeypatch.setattr(S3PhotoStorage, "_put", die_before_original)
    try:
        rows = await media_rows(database)
        response = await upload(images.jpeg())
        assert_problem(response, 503, "storage_unavailable")
        assert await media_rows(database) == rows
        server.start()  # same ports, same data: the store is back
        await close_storages()  # connections to the killed process are dead
        left = set(server.objects(prefix))
        assert {key.split("/")[0] for key in left} == {"display", "thumbnail"}
        async with database.transaction() as session:
            result = await cleanup_orphan_media(
                session, settings=settings, now=clock.now() + timedelta(hours=2)
            )
        assert result == {"orphans": 0, "stray_files": 2}
        assert server.objects(prefix) == {}
    finally:
        await close_storages()
        for name, value in saved.items():
            if name.startswith("photo_"):
                setattr(config, name, value)
        server.kill()


@on_s3
async def test_orphan_sweep_removes_only_orphans(
    client: httpx.AsyncClient,
    upload,
    settings: Settings,
    database: Database,
    s3_server: SeaweedServer,
    photo_storage: str,
) -> None:
    kept = (await upload(images.jpeg(gps=False))).json()["id"]
    orphan = (await upload(images.jpeg(gps=False))).json()["id"]
    assert (await client.post("/api/v1/cases", json=report_body(media=[kept]))).status_code == 201
    storage = get_storage(settings)
    stray = "display/ff/ffffffff-0000-4000-8000-000000000000.jpg"
    await storage.save_bytes(stray, b"left by an upload whose transaction did not commit")
    await storage.save_bytes("notes/readme.txt", b"no photo's file: a stray as well")

    async def sweep(hours: float) -> dict[str, int]:
        async with database.transaction() as session:
            now = clock.now() + timedelta(hours=hours)
            return await cleanup_orphan_media(session, settings=settings, now=now)

    # The stray is minutes old: it may belong to an upload still in its transaction.
    assert await sweep(0) == {"orphans": 0, "stray_files": 0}
    assert stray in s3_server.objects(photo_storage)
    assert await sweep(2) == {"orphans": 0, "stray_files": 2}
    everything = {*media_keys(uuid.UUID(kept)).values(), *media_keys(uuid.UUID(orphan)).values()}
    assert set(s3_server.objects(photo_storage)) == everything
    hours = settings.of(ComplaintsSettings).media_orphan_hours + 1
    assert await sweep(hours) == {"orphans": 1, "stray_files": 0}
    left = set(s3_server.objects(photo_storage))
    assert left == set(media_keys(uuid.UUID(kept)).values())
    assert not any(orphan in key for key in left)
    assert {k for k in await stored(settings) if k.startswith("key:")} == {f"key:{k}" for k in left}


@on_s3
async def test_readiness_reports_the_object_store(
    client: httpx.AsyncClient, settings: Settings, s3_server: SeaweedServer, photo_storage: str
) -> None:
    response = await client.get("/readyz")
    assert response.json()["checks"]["photo_store"] == {"ok": True}
    use_s3(settings, f"http://127.0.0.1:{free_port()}", photo_storage)
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["photo_store"] == {"ok": False}
    use_s3(settings, s3_server.url, photo_storage)


@on_s3
async def test_presigned_redirect_lets_the_store_serve_derivatives(
    client: httpx.AsyncClient, upload, settings: Settings, photo_storage: str
) -> None:
    """GONGZHI_PHOTO_S3_PRESIGNED_REDIRECT: the portal's link checks its own signature, then
    sends the client to the store, which serves the bytes under its own signature and expiry."""
    body = (await upload(images.jpeg())).json()
    keys = media_keys(uuid.UUID(body["id"]))
    stored_display = await get_storage(settings).read_bytes(keys["display"])
    config = settings.of(ComplaintsSettings)
    config.photo_s3_presigned_redirect = True
    try:
        response = await fetch(client, body["urls"]["display"])
        assert response.status_code == 307
        location = response.headers["location"]
        assert location.startswith(config.photo_s3_endpoint_url + "/")
        async with httpx.AsyncClient() as outside:  # a real HTTP client, to the store itself
            served = await outside.get(location)
            assert served.status_code == 200
            assert served.headers["content-type"] == "image/jpeg"
            assert served.content == stored_display
            assert_clean_jpeg(served.content)
            tampered = location.replace(keys["display"], keys["original"])
            assert (await outside.get(tampered)).status_code == 403
        # The portal's own check still comes first: a tampered link never reaches the store.
        assert_problem(await fetch(client, body["urls"]["display"][:-4] + "0000"), 403)
    finally:
        config.photo_s3_presigned_redirect = False


def test_s3_needs_an_endpoint_and_a_bucket() -> None:
    with pytest.raises(ValidationError, match="GONGZHI_PHOTO_S3_ENDPOINT_URL"):
        ComplaintsSettings(photo_storage="s3", photo_s3_bucket="photos")
    with pytest.raises(ValidationError, match="GONGZHI_PHOTO_S3_BUCKET"):
        ComplaintsSettings(photo_storage="s3", photo_s3_endpoint_url="http://127.0.0.1:9")


def test_a_served_portal_keeps_photos_in_the_store(
    s3_server: SeaweedServer, tmp_path: Path
) -> None:
    """`gongzhi serve` with two worker processes configured by environment variables alone:
    an upload through one lands in the bucket, and its link is served from the store."""
    env = {
        "GONGZHI_PHOTO_STORAGE": "s3",
        "GONGZHI_PHOTO_S3_ENDPOINT_URL": s3_server.url,
        "GONGZHI_PHOTO_S3_BUCKET": BUCKET,
        "GONGZHI_PHOTO_S3_PREFIX": "served/",
        "GONGZHI_PHOTO_S3_ACCESS_KEY_ID": ACCESS_KEY,
        "GONGZHI_PHOTO_S3_SECRET_ACCESS_KEY": SECRET_KEY,
        "GONGZHI_RATE_LIMIT_STORAGE": "redis://127.0.0.1:6379",
    }
    original = images.jpeg()
    with served_portal(tmp_path, env=env, workers=2) as base:
        created = httpx.post(
            f"{base}/api/v1/media", files={"file": ("a.jpg", original)}, timeout=30
        )
        assert created.status_code == 201, created.text
        body = created.json()
        for variant in ("display", "thumbnail"):
            served = httpx.get(body["urls"][variant], timeout=30)
            assert served.status_code == 200
            assert_clean_jpeg(served.content)
        ready = httpx.get(f"{base}/readyz", timeout=30).json()
        assert ready["checks"]["photo_store"] == {"ok": True}
    keys = media_keys(uuid.UUID(body["id"]))
    assert set(s3_server.objects("served/")) == set(keys.values())
    assert s3_server.head("served/" + keys["original"])["ChecksumSHA256"] == b64(body["sha256"])
    assert not list((tmp_path / "storage").rglob("photos/*"))  # nothing on the node's disk


@on_s3
async def test_keys_lists_every_object_under_its_own_prefix_only(
    settings: Settings, s3_server: SeaweedServer, photo_storage: str
) -> None:
    """What a backup copies (portal/backup/): every stored key of this deployment, and none of
    another deployment sharing the bucket under another prefix."""
    storage = get_storage(settings)
    assert [key async for key in storage.keys()] == []
    neighbour = S3PhotoStorage(
        endpoint_url=s3_server.url,
        bucket=BUCKET,
        prefix=photo_storage.rstrip("/") + "-neighbour/",
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
    )
    try:
        await neighbour.save_bytes("originals/ab/theirs", b"theirs")
        mine = ["originals/ab/one", "display/ab/one.jpg", "thumbnail/cd/two.jpg"]
        for key in mine:
            await storage.save_bytes(key, key.encode())
        assert sorted([key async for key in storage.keys()]) == sorted(mine)
        await storage.delete("display/ab/one.jpg")
        assert sorted([key async for key in storage.keys()]) == sorted(
            ["originals/ab/one", "thumbnail/cd/two.jpg"]
        )
    finally:
        await neighbour.delete("originals/ab/theirs")
        await neighbour.aclose()


@on_s3
async def test_keys_of_a_store_that_is_down_is_an_io_error(
    settings: Settings, photo_storage: str
) -> None:
    """A backup that cannot list the store fails (an OSError, as a failing disk), never a backup
    that silently has no photos."""
    dead = S3PhotoStorage(
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        bucket=BUCKET,
        prefix=photo_storage,
        access_key_id=ACCESS_KEY,
        secret_access_key=SECRET_KEY,
        timeout_seconds=1,
    )
    try:
        with pytest.raises(OSError):
            [key async for key in dead.keys()]
    finally:
        await dead.aclose()
