"""Upload attack corpus against POST /api/v1/media, generated here (no binary fixtures).

Every hostile file gets a clear 4xx problem+json with a stable code and leaves nothing on disk
(storage directory listing before/after) or in the database (``case_media`` rows). Files that are
legitimate images despite a payload (polyglots, huge EXIF, hostile names) get a 201 whose
derivatives are re-encoded JPEGs with no trailing payload and no metadata.
"""

from __future__ import annotations

import asyncio
import io
import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from api.complaints.models import Media
from portal.db import Database
from portal.settings import Settings
from search.engine import embedded_path
from tests.api.complaints import images
from tests.api.complaints.test_media import assert_clean_jpeg, fetch
from tests.support import assert_problem

SCRIPT = b"<script>alert(document.domain)</script>"


def listing(settings: Settings) -> set[Path]:
    """The files under the storage directory, less the embedded search index the app keeps
    there too (search/engine.py), which its lifespan may be creating while a test runs."""
    root = Path(settings.storage_dir)
    index = embedded_path(settings).name
    return {p for p in root.rglob("*") if p.is_file() and not p.name.startswith(index)}


async def media_rows(database: Database) -> int:
    async with database.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(Media))).scalar_one())


# --- the corpus -------------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A 10-gigapixel PNG in a few hundred bytes: the IHDR claims it, one row of data follows."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    idat = zlib.compress(b"\x00" * (width + 1), 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


def jpeg_bomb() -> bytes:
    """A small real JPEG whose SOF header is rewritten to claim 65500×65500 pixels."""
    data = bytearray(images.jpeg((64, 48), gps=False))
    i = 2
    while i < len(data):
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[i + 5 : i + 9] = struct.pack(">HH", 65500, 65500)
            return bytes(data)
        i += 2 + length
    raise AssertionError("no SOF marker")


def png_html_polyglot() -> bytes:
    """A valid PNG that a browser sniffing for HTML would render: HTML in a tEXt chunk and after
    IEND."""
    buffer = io.BytesIO()
    images.two_tone((120, 90)).save(buffer, "PNG")
    png = buffer.getvalue()
    iend = png.rindex(b"IEND") - 4
    text = _png_chunk(b"tEXt", b"Comment\x00<html><body>" + SCRIPT + b"</body></html>")
    return png[:iend] + text + png[iend:] + b"<html>" + SCRIPT + b"</html>"


def jpeg_zip_polyglot() -> bytes:
    """A JPEG with a ZIP archive appended (a 'GIFAR'-style file)."""
    archive = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("payload.html", "<html>" + SCRIPT.decode() + "</html>")
    return images.jpeg((120, 90), gps=False) + archive.getvalue()


def huge_exif_jpeg() -> bytes:
    """A JPEG carrying an EXIF segment at the 64 KB limit and 200 more APP1 segments (~13 MB)."""
    exif = images.phone_exif()
    exif[0x010E] = "A" * 60_000  # ImageDescription
    buffer = io.BytesIO()
    images.two_tone((120, 90)).save(buffer, "JPEG", exif=exif.tobytes())
    data = buffer.getvalue()
    extra = b"\xff\xe1" + struct.pack(">H", 65535) + b"Exif\x00\x00" + b"\x00" * (65535 - 8)
    return data[:2] + extra * 200 + data[2:]


def truncated_jpeg() -> bytes:
    data = images.noisy_jpeg((200, 150))
    return data[: len(data) // 2]


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
    + SCRIPT
    + b"</svg>"
)

REJECTED = {
    "png-bomb": (png_bomb, 422, "image_too_large"),
    "jpeg-bomb": (jpeg_bomb, 422, "image_too_large"),
    "svg-with-script": (lambda: SVG, 415, "unsupported_media_type"),
    "text-named-jpg": (lambda: b"just some text, honest\n" * 10, 415, "unsupported_media_type"),
    "html-named-jpg": (lambda: b"<html>" + SCRIPT + b"</html>", 415, "unsupported_media_type"),
    "zero-bytes": (lambda: b"", 415, "unsupported_media_type"),
    "jpeg-magic-only": (lambda: b"\xff\xd8\xff", 422, "image_unreadable"),
    "truncated-jpeg": (truncated_jpeg, 422, "image_unreadable"),
}

ACCEPTED = {
    "png-html-polyglot": png_html_polyglot,
    "jpeg-zip-polyglot": jpeg_zip_polyglot,
    "huge-exif": huge_exif_jpeg,
}


def multipart(filename: bytes, data: bytes, content_type: bytes = b"image/jpeg") -> tuple:
    """A hand-made body, so the file name's bytes reach the server exactly as given."""
    boundary = uuid.uuid4().hex.encode()
    body = (
        b"--" + boundary + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        b"Content-Type: " + content_type + b"\r\n\r\n" + data + b"\r\n--" + boundary + b"--\r\n"
    )
    return body, {"Content-Type": "multipart/form-data; boundary=" + boundary.decode()}


# --- the tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(REJECTED))
async def test_hostile_file_is_refused_and_leaves_nothing(
    client: httpx.AsyncClient, database: Database, settings: Settings, name: str
) -> None:
    make, status, code = REJECTED[name]
    before, rows = listing(settings), await media_rows(database)
    response = await client.post(
        "/api/v1/media", files={"file": (f"{name}.jpg", make(), "image/jpeg")}
    )
    assert_problem(response, status, code)
    assert listing(settings) == before
    assert await media_rows(database) == rows


async def _assert_clean_derivatives(
    client: httpx.AsyncClient, response: httpx.Response, payload_markers: list[bytes]
) -> None:
    assert response.status_code == 201, response.text
    urls = response.json()["urls"]
    for variant in ("display", "thumbnail"):
        got = await fetch(client, urls[variant])
        assert got.status_code == 200
        assert got.headers["content-type"] == "image/jpeg"
        assert got.headers.get("x-content-type-options") == "nosniff"
        data = got.content
        assert_clean_jpeg(data)
        assert data.endswith(b"\xff\xd9"), "trailing bytes after the JPEG end marker"
        assert data.count(b"\xff\xd9") >= 1
        for marker in payload_markers:
            assert marker not in data, (variant, marker)


@pytest.mark.parametrize("name", list(ACCEPTED))
async def test_polyglot_and_metadata_laden_images_are_reencoded_clean(
    client: httpx.AsyncClient, database: Database, settings: Settings, name: str
) -> None:
    before, rows = listing(settings), await media_rows(database)
    response = await client.post(
        "/api/v1/media", files={"file": (f"{name}.jpg", ACCEPTED[name](), "image/jpeg")}
    )
    await _assert_clean_derivatives(
        client, response, [b"<script", b"<html", b"PK\x03\x04", b"AAAAAAAA", b"iPhone"]
    )
    media_id = response.json()["id"]
    added = {p.relative_to(settings.storage_dir).as_posix() for p in listing(settings) - before}
    shard = uuid.UUID(media_id).hex[:2]
    assert added == {
        f"photos/originals/{shard}/{media_id}",
        f"photos/display/{shard}/{media_id}.jpg",
        f"photos/thumbnail/{shard}/{media_id}.jpg",
    }
    assert await media_rows(database) == rows + 1


@pytest.mark.parametrize(
    "filename",
    [
        b"../../../../etc/passwd.jpg",
        b"..\\..\\windows\\win.ini.jpg",
        b"/var/storage/photos/originals/00/x.jpg",
        b"photo\x00.php.jpg",
        b"pho\r\nX-Injected: 1\r\nto.jpg",
        b"\x1b[31mred\x07.jpg",
        "照片\u202egpj.exe".encode(),
        b"%2e%2e%2f%2e%2e%2fescape.jpg",
    ],
    ids=["dotdot", "backslash", "absolute", "nul", "crlf", "ansi", "rtl-override", "urlencoded"],
)
async def test_hostile_file_names_never_reach_the_file_system(
    client: httpx.AsyncClient, database: Database, settings: Settings, filename: bytes
) -> None:
    root = Path(settings.storage_dir).resolve()
    outside = {p for p in root.parent.rglob("*") if not p.resolve().is_relative_to(root)}
    before, rows = listing(settings), await media_rows(database)
    body, headers = multipart(filename, images.jpeg((80, 60), gps=False))
    response = await client.post("/api/v1/media", content=body, headers=headers)
    if b"\r\n" in filename:  # breaks the part's header itself: a malformed body
        assert_problem(response, 400, "malformed_multipart")
        assert listing(settings) == before
        assert await media_rows(database) == rows
        return
    # The name is ignored: the photo is stored under its id, nothing is written elsewhere.
    assert response.status_code == 201, response.text
    assert filename.decode("utf-8", "replace") not in response.text
    added = listing(settings) - before
    assert len(added) == 3
    for path in added:
        assert path.resolve().is_relative_to(root / "photos")
        assert response.json()["id"] in path.name
    assert {p for p in root.parent.rglob("*") if not p.resolve().is_relative_to(root)} == outside
    assert await media_rows(database) == rows + 1


async def test_forty_megabyte_body_is_413_and_leaves_nothing(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    before, rows = listing(settings), await media_rows(database)
    body, headers = multipart(b"big.jpg", images.jpeg((80, 60)) + b"\x00" * (40 * 1024 * 1024))
    response = await client.post("/api/v1/media", content=body, headers=headers)
    assert_problem(response, 413, "payload_too_large")
    assert listing(settings) == before
    assert await media_rows(database) == rows


async def test_slow_upload_of_a_bomb_is_refused_and_leaves_nothing(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    """The body arrives in small chunks with pauses (bounded: 12 × 50 ms); the spooled part is
    removed all the same."""
    body, headers = multipart(b"slow.png", png_bomb())
    before, rows = listing(settings), await media_rows(database)

    async def dribble() -> AsyncIterator[bytes]:
        step = max(1, len(body) // 12)
        for i in range(0, len(body), step):
            yield body[i : i + step]
            await asyncio.sleep(0.05)

    response = await client.post("/api/v1/media", content=dribble(), headers=headers)
    assert_problem(response, 422, "image_too_large")
    assert listing(settings) == before
    assert await media_rows(database) == rows


async def test_slow_upload_cut_off_midway_leaves_nothing(
    client: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    """A client that stops sending before the closing boundary: 400, and the partial spool file
    is gone."""
    body, headers = multipart(b"cut.jpg", images.noisy_jpeg((300, 200)))
    before, rows = listing(settings), await media_rows(database)

    async def dribble_then_stop() -> AsyncIterator[bytes]:
        for i in range(0, len(body) // 2, 4096):
            yield body[i : i + 4096]
            await asyncio.sleep(0.01)

    response = await client.post("/api/v1/media", content=dribble_then_stop(), headers=headers)
    assert_problem(response, 400, "malformed_multipart")
    assert listing(settings) == before
    assert await media_rows(database) == rows


def test_corpus_is_what_it_claims() -> None:
    """The generated files really are what the tests call them (a test that cannot fail is
    worthless): the bombs declare their sizes, the polyglots open as images and carry payloads."""
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
    try:
        assert Image.open(io.BytesIO(png_bomb())).size == (100_000, 100_000)
        assert Image.open(io.BytesIO(jpeg_bomb())).size == (65500, 65500)
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    for make in ACCEPTED.values():
        data = make()
        Image.open(io.BytesIO(data)).load()
    assert SCRIPT in png_html_polyglot()
    assert b"PK\x03\x04" in jpeg_zip_polyglot()
    assert len(huge_exif_jpeg()) > 13_000_000
