"""Photo intake: every accepted format, every rejection, clean derivatives, exact originals; on
the local disk and on an S3 server."""

from __future__ import annotations

import hashlib
import io

import httpx
import pytest
from PIL import Image

from api.complaints.settings import ComplaintsSettings
from portal.accounts.models import Role
from portal.settings import Settings
from tests.api.complaints import images
from tests.api.complaints.support import report_body
from tests.objectstore import stored
from tests.support import assert_problem

# Every test here runs on the local disk and on a real S3 server (tests/objectstore.py).
pytestmark = pytest.mark.usefixtures("photo_storage")


async def fetch(client: httpx.AsyncClient, url: str) -> httpx.Response:
    return await client.get(url.replace("http://testserver", ""))


def assert_clean_jpeg(data: bytes) -> Image.Image:
    """A derivative: a JPEG with no metadata at all (no EXIF, XMP, ICC, comment)."""
    assert data[:3] == b"\xff\xd8\xff"
    markers = images.jpeg_segments(data)
    # APP0 (JFIF) is allowed; APP1 (EXIF/XMP), APP2 (ICC), APP13 (IPTC), COM are not.
    assert not set(markers) & {0xE1, 0xE2, 0xED, 0xFE}, [hex(m) for m in markers]
    image = Image.open(io.BytesIO(data))
    assert len(image.getexif()) == 0
    assert "icc_profile" not in image.info
    assert "xmp" not in image.info
    return image


async def test_rotated_jpeg_comes_out_upright_without_metadata(
    client: httpx.AsyncClient, upload, settings: Settings
) -> None:
    original = images.jpeg((400, 300), orientation=6)
    response = await upload(original, filename="IMG_0001.HEIC", content_type="image/heic")
    assert response.status_code == 201, response.text
    body = response.json()
    # Recognised by its bytes, not by the lying name and type.
    assert body["content_type"] == "image/jpeg"
    assert body["sha256"] == hashlib.sha256(original).hexdigest()
    assert body["size"] == len(original)
    # Orientation 6: stored 400×300 landscape, shown 300×400 portrait.
    assert (body["width"], body["height"]) == (300, 400)
    assert body["taken_at"] == "2026-11-20T02:30:00Z"
    suggested = body["suggested_location"]
    assert suggested["coord_system"] == "wgs84"
    assert suggested["lat"] == pytest.approx(images.GPS_LAT, abs=1e-4)
    assert suggested["lng"] == pytest.approx(images.GPS_LNG, abs=1e-4)

    for variant, edge in (("display", 400), ("thumbnail", 320)):
        derived = await fetch(client, body["urls"][variant])
        assert derived.status_code == 200
        assert derived.headers["content-type"] == "image/jpeg"
        image = assert_clean_jpeg(derived.content)
        assert image.height > image.width
        assert max(image.size) <= edge
        # Left half was red: turned clockwise, red is now on top.
        top = image.getpixel((image.width // 2, image.height // 8))
        bottom = image.getpixel((image.width // 2, image.height * 7 // 8))
        assert top[0] > 150, top
        assert top[2] < 100, top
        assert bottom[2] > 150, bottom
        assert bottom[0] < 100, bottom
    assert b"SN-CAMERA-4242" not in derived.content
    assert b"Apple" not in derived.content


@pytest.mark.parametrize(
    ("make", "content_type"),
    [
        (images.png, "image/png"),
        (images.webp, "image/webp"),
        (images.heic, "image/heic"),
    ],
)
async def test_png_webp_and_heic_are_accepted(
    client: httpx.AsyncClient, upload, make, content_type
) -> None:
    data = make()
    response = await upload(data, filename="upload.bin", content_type="application/octet-stream")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["content_type"] == content_type
    assert (body["width"], body["height"]) == (320, 240)
    display = await fetch(client, body["urls"]["display"])
    image = assert_clean_jpeg(display.content)
    assert image.size == (320, 240)
    left, right = image.getpixel((40, 120)), image.getpixel((280, 120))
    assert left[0] > 150
    assert right[2] > 150
    if content_type != "image/png":  # the PNG has no EXIF; WebP and HEIC carried GPS
        assert body["suggested_location"] is not None


async def test_large_photo_is_scaled_to_both_derivative_sizes(
    client: httpx.AsyncClient, upload
) -> None:
    response = await upload(images.jpeg((4000, 3000), gps=False, quality=70))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["width"], body["height"]) == (4000, 3000)
    assert body["suggested_location"] is None
    display = Image.open(io.BytesIO((await fetch(client, body["urls"]["display"])).content))
    thumb = Image.open(io.BytesIO((await fetch(client, body["urls"]["thumbnail"])).content))
    assert display.size == (1600, 1200)
    assert thumb.size == (320, 240)


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"%PDF-1.7 not a photo at all" * 10, 415, "unsupported_media_type"),
        (images.gif(), 415, "unsupported_media_type"),
        (b"", 415, "unsupported_media_type"),
        (images.png_header_claiming(20000, 20000), 422, "image_too_large"),  # 400 MP
        (images.png_header_claiming(12000, 10000), 422, "image_too_large"),  # 120 MP > 110 MP
        (images.noisy_jpeg((800, 600))[:20000], 422, "image_unreadable"),  # truncated
        (images.png()[:60], 422, "image_unreadable"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 200, 422, "image_unreadable"),
    ],
    ids=[
        "pdf",
        "gif",
        "empty",
        "bomb-400mp",
        "over-limit-120mp",
        "truncated-jpeg",
        "cut-png",
        "junk-jpeg",
    ],
)
async def test_rejections_leave_nothing_behind(
    client: httpx.AsyncClient, upload, settings: Settings, data: bytes, status: int, code: str
) -> None:
    before = await stored(settings)
    response = await upload(data)
    assert_problem(response, status, code)
    assert await stored(settings) == before


async def test_over_20_mb_is_413(client: httpx.AsyncClient, upload, settings: Settings) -> None:
    before = await stored(settings)
    response = await upload(images.jpeg() + b"\x00" * (20 * 1024 * 1024))
    assert_problem(response, 413, "payload_too_large")
    assert await stored(settings) == before


async def test_missing_file_field_and_non_multipart(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/media", files={"photo": ("a.jpg", images.jpeg())})
    assert_problem(response, 422, "file_required")
    response = await client.post("/api/v1/media", json={"file": "x"})
    assert_problem(response, 400, "malformed_multipart")


async def test_signed_links_refuse_tampering_and_expiry(
    client: httpx.AsyncClient, upload, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = (await upload(images.jpeg(gps=False))).json()
    url = body["urls"]["display"]
    tampered = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    assert_problem(await fetch(client, tampered), 403, "link_invalid")
    other_variant = url.replace("/display?", "/thumbnail?")
    assert_problem(await fetch(client, other_variant), 403, "link_invalid")
    monkeypatch.setattr(settings.of(ComplaintsSettings), "media_url_ttl_seconds", -10)
    import uuid

    from api.complaints.media import signed_urls

    expired = signed_urls(settings, uuid.UUID(body["id"])).display
    assert_problem(await fetch(client, expired), 403, "link_invalid")


async def test_originals_are_byte_exact_and_staff_only(
    client: httpx.AsyncClient, upload, make_user, auth_headers
) -> None:
    original = images.jpeg(orientation=3)
    media = (await upload(original)).json()
    path = f"/api/v1/staff/media/{media['id']}/original"
    regulator = await make_user(Role.regulator, region="610400")
    # Not attached to a case yet: there is no handling regulator, so nobody reads it.
    assert_problem(await client.get(path, headers=await auth_headers(regulator)), 403)

    created = await client.post("/api/v1/cases", json=report_body(media=[media["id"]]))
    assert created.status_code == 201, created.text

    assert_problem(await client.get(path), 401)
    citizen = await make_user(Role.citizen)
    assert_problem(await client.get(path, headers=await auth_headers(citizen)), 403)
    xian = await make_user(Role.regulator, region="610100")
    assert_problem(
        await client.get(path, headers=await auth_headers(xian)), 403, "region_forbidden"
    )

    response = await client.get(path, headers=await auth_headers(regulator))
    assert response.status_code == 200
    assert response.content == original
    assert response.headers["x-content-sha256"] == hashlib.sha256(original).hexdigest()
    assert response.headers["content-type"] == "image/jpeg"
