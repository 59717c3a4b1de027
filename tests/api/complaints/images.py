"""Real test images made with Pillow (and pillow-heif's encoder): no binary fixtures."""

from __future__ import annotations

import io
import struct
import zlib

import pillow_heif
from PIL import Image

pillow_heif.register_heif_opener()

RED = (220, 20, 20)
BLUE = (20, 20, 220)


def two_tone(size: tuple[int, int] = (400, 300), mode: str = "RGB") -> Image.Image:
    """Left half red, right half blue: shows which way an image was turned."""
    image = Image.new(mode, size, BLUE if mode == "RGB" else (*BLUE, 255))
    left = Image.new(mode, (size[0] // 2, size[1]), RED if mode == "RGB" else (*RED, 255))
    image.paste(left, (0, 0))
    return image


GPS_LAT = 34.335833  # 咸阳 秦都区, WGS-84
GPS_LNG = 108.708333


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round(((value - degrees) * 60 - minutes) * 60, 4)
    return (float(degrees), float(minutes), seconds)


def phone_exif(orientation: int = 1, gps: bool = True) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Apple"  # Make
    exif[0x0110] = "iPhone 15 Pro"  # Model
    exif[0x0112] = orientation
    exif[0x0131] = "17.1"  # Software
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2026:11:20 10:30:00"  # DateTimeOriginal
    sub[0x9011] = "+08:00"  # OffsetTimeOriginal
    sub[0xA431] = "SN-CAMERA-4242"  # BodySerialNumber
    if gps:
        exif[0x8825] = {
            1: "N",
            2: _dms(GPS_LAT),
            3: "E",
            4: _dms(GPS_LNG),
        }
    return exif


def jpeg(
    size: tuple[int, int] = (400, 300), *, orientation: int = 1, gps: bool = True, quality: int = 90
) -> bytes:
    buffer = io.BytesIO()
    two_tone(size).save(
        buffer,
        "JPEG",
        quality=quality,
        exif=phone_exif(orientation, gps).tobytes(),
        icc_profile=b"\x00" * 128,
    )
    return buffer.getvalue()


def noisy_jpeg(size: tuple[int, int]) -> bytes:
    import os

    image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def png(size: tuple[int, int] = (320, 240)) -> bytes:
    buffer = io.BytesIO()
    two_tone(size, "RGBA").save(buffer, "PNG")
    return buffer.getvalue()


def webp(size: tuple[int, int] = (320, 240)) -> bytes:
    buffer = io.BytesIO()
    two_tone(size).save(buffer, "WEBP", quality=80, exif=phone_exif(1).tobytes())
    return buffer.getvalue()


def heic(size: tuple[int, int] = (320, 240)) -> bytes:
    buffer = io.BytesIO()
    two_tone(size).save(buffer, "HEIF", quality=60, exif=phone_exif(1).tobytes())
    return buffer.getvalue()


def gif(size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    two_tone(size).save(buffer, "GIF")
    return buffer.getvalue()


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge image (a decompression bomb's calling card)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_segments(data: bytes) -> list[int]:
    """The marker bytes of a JPEG's header segments (APPn, COM, DQT, …) up to the scan."""
    markers = []
    pos = 2
    while pos < len(data) - 4:
        assert data[pos] == 0xFF, "not at a marker"
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: header is over
            break
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        markers.append(marker)
        pos += 2 + length
    return markers
