"""Case submissions per second, each with two photos, through the real application.

One submission = two ``POST /api/v1/media`` (phone photos, 1600×1200 JPEG by default: what apps
send after the client-side resize FixMyStreet uses) + one ``POST /api/v1/cases`` with an
Idempotency-Key. Run sequentially and with a few concurrent clients, on a fresh SQLite database
(or ``--database-url`` for PostgreSQL). The baseline, measured in the same run, is the bare
Pillow work for the same two photos (decode, resize to 1600 and 320, encode): the ratio shows
what everything else (HTTP, streaming, hashing, fsync, database, deadlines) costs on top.

    .venv/bin/python bench/cases.py [--cases 40] [--concurrency 4] [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def photo(seed: int, size: tuple[int, int]) -> bytes:
    from PIL import Image, ImageFilter

    from tests.api.complaints.images import phone_exif

    noise = Image.effect_noise(size, 30 + seed % 7).convert("RGB").filter(ImageFilter.SMOOTH)
    buffer = io.BytesIO()
    noise.save(buffer, "JPEG", quality=85, exif=phone_exif(orientation=1 + seed % 2 * 5).tobytes())
    return buffer.getvalue()


def pillow_baseline(photos: list[bytes]) -> float:
    from PIL import Image

    started = time.perf_counter()
    for data in photos:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            for box in ((1600, 1600), (320, 320)):
                copy = image.copy()
                copy.thumbnail(box, Image.Resampling.LANCZOS)
                copy.save(io.BytesIO(), "JPEG", quality=82)
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--width", type=int, default=1600)
    parser.add_argument("--height", type=int, default=1200)
    parser.add_argument(
        "--postgres",
        help="a PostgreSQL server URL (postgresql://user@host:port/db): a scratch database is "
        "created there for the run and dropped afterwards",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-cases-"))
    scratch = None
    if args.postgres:
        import asyncpg

        scratch = f"gongzhi_bench_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(args.postgres)
        await admin.execute(f'CREATE DATABASE "{scratch}"')
        await admin.close()
        server = args.postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        url = f"{server}/{scratch}"
    else:
        url = f"sqlite+aiosqlite:///{work / 'bench.db'}"
    try:
        await run(args, url, work)
    finally:
        if scratch is not None:
            admin = await asyncpg.connect(args.postgres)
            await admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
            await admin.close()


async def run(args: argparse.Namespace, url: str, work: Path) -> None:
    import httpx
    import structlog
    from asgi_lifespan import LifespanManager

    from portal.app import create_app
    from portal.migrate import upgrade_async
    from portal.settings import Environment, Settings
    from tests.api.complaints.support import report_body

    await upgrade_async(url)
    settings = Settings(
        env=Environment.test,
        database_url=url,
        storage_dir=work / "storage",
        secret_key="bench-secret-key-bench-secret-key-bench",
        run_worker_in_process=False,
        media_rate_limit_client="1000000/minute",
        case_rate_limit_client="1000000/minute",
        log_json=True,
    )
    app = create_app(settings)
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    logging.disable(logging.INFO)
    photos = [photo(i, (args.width, args.height)) for i in range(8)]
    body = report_body()

    async def submit(client: httpx.AsyncClient, n: int) -> None:
        ids = []
        for k in range(2):
            data = photos[(2 * n + k) % len(photos)]
            response = await client.post(
                "/api/v1/media", files={"file": ("p.jpg", data, "image/jpeg")}
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        response = await client.post(
            "/api/v1/cases",
            json={**body, "media": ids},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 201, response.text

    baseline = statistics.median(pillow_baseline(photos[:2]) for _ in range(5))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            await submit(client, 0)  # warm up
            started = time.perf_counter()
            for n in range(args.cases):
                await submit(client, n)
            sequential = time.perf_counter() - started

            queue = list(range(args.cases))

            async def worker() -> None:
                while queue:
                    await submit(client, queue.pop())

            started = time.perf_counter()
            await asyncio.gather(*[worker() for _ in range(args.concurrency)])
            concurrent = time.perf_counter() - started

    per_case = sequential / args.cases
    backend = url.split(":", 1)[0]
    print(
        f"{backend}, photos {args.width}x{args.height} ({len(photos[0]) / 1e3:.0f} KB): "
        f"{args.cases / sequential:.1f} cases/s sequential ({per_case * 1000:.0f} ms each), "
        f"{args.cases / concurrent:.1f} cases/s with {args.concurrency} concurrent clients; "
        f"bare Pillow for the same two photos {baseline * 1000:.0f} ms, "
        f"ratio case/bare-Pillow = {per_case / baseline:.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
