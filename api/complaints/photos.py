"""Phone photos in, evidence and clean derivatives out.

- The format is recognised from the file's first bytes, then opened by Pillow restricted to that
  one format (so no exotic decoder ever sees the input). Extension and declared type are ignored.
- ``Image.MAX_IMAGE_PIXELS`` comes from the settings and the bomb warning is an error, so a huge
  header is refused before any pixel is decoded.
- Decoding is bounded by a memory budget: JPEG is decoded at the reduced size ``draft`` gives; the
  other formats have no reduced decode in Pillow, so one whose full decode would take more than
  the budget is refused before any pixel is decoded (a 38-byte lossless WebP of 10,480² pixels
  would otherwise take 1.6 GB; issue 11 #13).
- JPEG is decoded at reduced scale (``draft``, aspect-correct box) – see
  research/performance_and_ecosystem.md §3 – and ``exif_transpose`` runs on the small image.
- Derivatives are re-encoded JPEGs with an empty ``info``: no EXIF (GPS, camera serial), no XMP,
  no ICC profile, no comment.

The functions here are synchronous and CPU-bound: the service runs them in a worker thread.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pillow_heif
from PIL import Image, ImageOps, UnidentifiedImageError

from api.complaints.errors import ImageTooLarge, ImageUnreadable, UnsupportedMediaType
from portal.clock import SHANGHAI

pillow_heif.register_heif_opener()

DISPLAY_EDGE = 1600
THUMBNAIL_EDGE = 320
JPEG_QUALITY = 82
HEAD_BYTES = 64

CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heic",
}
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1"}
_HEIF_BRANDS |= {b"msf1", b"heif"}
_AVIF_BRANDS = {b"avif", b"avis"}

# Peak bytes allocated per decoded pixel, measured with ru_maxrss on 12 MP photos (Pillow 11,
# pillow-heif): Pillow keeps RGB as 4 bytes a pixel, and the WebP and HEIF decoders hand over
# their own buffer, which is copied.
DECODE_BYTES_PER_PIXEL = {"JPEG": 6, "PNG": 8, "WEBP": 17, "HEIF": 10}


def sniff(head: bytes) -> str | None:
    """The Pillow format name for the first bytes of a file, or None when not accepted."""
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if len(head) >= 16 and head[4:8] == b"ftyp":
        box_size = int.from_bytes(head[:4], "big")
        major = head[8:12]
        compatible = {head[i : i + 4] for i in range(16, min(box_size, len(head)) - 3, 4)}
        if major in _AVIF_BRANDS:
            return None
        if major in _HEIF_BRANDS or compatible & (_HEIF_BRANDS - {b"mif1", b"msf1"}):
            return "HEIF"
        if major in {b"mif1", b"msf1"} and not compatible & _AVIF_BRANDS:
            return "HEIF"
    return None


@dataclass
class ProcessedPhoto:
    width: int  # upright
    height: int
    taken_at: datetime | None
    gps: tuple[float, float] | None  # WGS-84 latitude, longitude from EXIF
    display: bytes
    thumbnail: bytes


def _ratio(value: Any) -> float:
    return float(value)


def _gps(exif: Image.Exif) -> tuple[float, float] | None:
    try:
        gps = exif.get_ifd(0x8825)
        if not gps or 2 not in gps or 4 not in gps:
            return None

        def degrees(parts: Any) -> float:
            d, m, s = (_ratio(p) for p in parts)
            return d + m / 60 + s / 3600

        lat = degrees(gps[2]) * (-1 if str(gps.get(1, "N")).upper().startswith("S") else 1)
        lng = degrees(gps[4]) * (-1 if str(gps.get(3, "E")).upper().startswith("W") else 1)
    except (TypeError, ValueError, ZeroDivisionError, KeyError, AttributeError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or (lat == 0 and lng == 0):
        return None
    return round(lat, 7), round(lng, 7)


def _taken_at(exif: Image.Exif) -> datetime | None:
    try:
        sub = exif.get_ifd(0x8769)
        raw = sub.get(0x9003) or exif.get(0x0132)  # DateTimeOriginal, else DateTime
        if not raw:
            return None
        moment = datetime.strptime(str(raw).strip("\x00 ").strip(), "%Y:%m:%d %H:%M:%S")
        offset = sub.get(0x9011)  # OffsetTimeOriginal, e.g. "+08:00"
        if offset:
            return datetime.fromisoformat(moment.isoformat() + str(offset).strip()).astimezone(UTC)
        # Phones without an offset record local time; this is a Chinese portal.
        return moment.replace(tzinfo=SHANGHAI).astimezone(UTC)
    except (ValueError, TypeError, KeyError, AttributeError):
        return None


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        image = image.point(lambda v: v / 256).convert("L")
    return image.convert("RGB")


def _jpeg(image: Image.Image) -> bytes:
    image.info = {}  # nothing of the source's metadata may ride along
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=JPEG_QUALITY)
    return buffer.getvalue()


def process(path: Path, fmt: str, *, max_pixels: int, budget_bytes: int) -> ProcessedPhoto:
    """Validate, orient and derive. Raises ImageTooLarge / ImageUnreadable /
    UnsupportedMediaType; never anything else for bad input."""
    if fmt not in CONTENT_TYPES:
        raise UnsupportedMediaType()
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return _process(path, fmt, max_pixels, budget_bytes)
    except (ImageTooLarge, ImageUnreadable, UnsupportedMediaType):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(
            f"The image has more than {max_pixels} pixels.",
            detail_zh=f"图片超过 {max_pixels} 像素的上限。",
        ) from None
    except UnidentifiedImageError:
        raise ImageUnreadable() from None
    except MemoryError:
        raise ImageTooLarge() from None
    except Exception as exc:  # any decoder failure on hostile input is the input's fault
        raise ImageUnreadable(f"The image could not be decoded ({type(exc).__name__}).") from None


def _check_budget(image: Image.Image, fmt: str, budget_bytes: int) -> None:
    """Refuse, before decoding, an image whose decode (at the size it will be decoded at) would
    allocate more than the budget."""
    decoded_width, decoded_height = image.size  # after draft() for JPEG
    cost = decoded_width * decoded_height * DECODE_BYTES_PER_PIXEL[fmt]
    if cost > budget_bytes:
        mib = cost // (1024 * 1024)
        raise ImageTooLarge(
            f"Decoding this {fmt} image would take about {mib} MiB; "
            f"the limit is {budget_bytes // (1024 * 1024)} MiB. Send a smaller image or a JPEG.",
            detail_zh=f"解码该图片约需 {mib} MiB 内存，超过上限，请上传更小的图片或 JPEG 格式。",
        )


def _process(path: Path, fmt: str, max_pixels: int, budget_bytes: int) -> ProcessedPhoto:
    with Image.open(path, formats=[fmt]) as image:
        width, height = image.size
        if width < 1 or height < 1:
            raise ImageUnreadable()
        if width * height > max_pixels:
            raise ImageTooLarge(
                f"The image has {width}×{height} pixels, more than {max_pixels}.",
                detail_zh=f"图片为 {width}×{height} 像素，超过 {max_pixels} 像素的上限。",
            )
        exif = image.getexif()
        taken_at = _taken_at(exif)
        gps = _gps(exif)
        if fmt == "JPEG":
            # Aspect-correct box: draft picks the largest DCT scale at least this big in both
            # dimensions, so a square box would not reduce a 4:3 photo at all.
            scale = DISPLAY_EDGE / max(width, height)
            if scale < 1:
                image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
        _check_budget(image, fmt, budget_bytes)
        image.load()  # decodes every scan: a truncated file fails here, not later
        image.thumbnail((DISPLAY_EDGE, DISPLAY_EDGE), Image.Resampling.LANCZOS)
        upright = ImageOps.exif_transpose(image)  # on the small image: far less memory
        display = _rgb(upright)
    # Upright size of the original: orientations 5–8 swap the axes.
    if exif.get(0x0112) in (5, 6, 7, 8) and fmt != "HEIF":
        width, height = height, width
    thumbnail = display.copy()
    thumbnail.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE), Image.Resampling.LANCZOS)
    return ProcessedPhoto(
        width=width,
        height=height,
        taken_at=taken_at,
        gps=gps,
        display=_jpeg(display),
        thumbnail=_jpeg(thumbnail),
    )
