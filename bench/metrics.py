"""What the request metrics cost on the hot sticker path (portal/metrics.py).

    .venv/bin/python bench/metrics.py [--requests 300] [--rounds 20]

1. ``observe_request`` alone, per call: with the default registry (one process) and, in a child
   process, with ``PROMETHEUS_MULTIPROC_DIR`` set (values in memory-mapped files, as under
   ``gongzhi serve --workers N``).
2. The whole application in this process (a fresh SQLite database, no network, no HTTP client):
   anonymous sticker scans ``GET /v/{token}`` with unknown tokens (the hot path: the lookup and
   the rendered "not found" sticker page) called as ASGI, rounds alternating between the real
   ``observe_request`` and a no-op: the ratio of the medians and the median ratio of neighbouring
   rounds (short rounds, so both of a pair see about the same load from the rest of the machine).

Ratios measured in the same run: absolute figures move with the machine's other load.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OBSERVE = """
from portal.metrics import ROUTE, observe_request
scope = {"type": "http", "method": "GET", "path": "/v/abc", ROUTE: "/v/{token}"}
"""


def per_call_microseconds(number: int = 200_000) -> float:
    timer = timeit.Timer("observe_request(scope, 200, 0.0012)", setup=OBSERVE)
    return min(timer.repeat(repeat=5, number=number)) / number * 1e6


def multiprocess_microseconds() -> float:
    with tempfile.TemporaryDirectory() as directory:
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": directory}
        code = (
            "import sys; sys.path.insert(0, %r)\nfrom bench.metrics import per_call_microseconds\n"
        )
        code += "print(per_call_microseconds())"
        out = subprocess.run(
            [sys.executable, "-c", code % str(ROOT)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        return float(out.stdout.strip().splitlines()[-1])


async def sticker_rounds(requests: int, rounds: int) -> tuple[list[float], list[float]]:
    from asgi_lifespan import LifespanManager

    from portal import middleware
    from portal.app import create_app
    from portal.migrate import upgrade_async
    from portal.settings import Settings

    real = middleware.observe_request

    def nothing(scope: Any, status: int, seconds: float) -> None:
        pass

    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{directory}/bench.db"
        await upgrade_async(url)
        settings = Settings.build(
            env="test",
            database_url=url,
            storage_dir=Path(directory) / "storage",
            signing_key_file=Path(directory) / "signing-key.pem",
            secret_key="bench-secret-key-that-is-long-enough-for-jwt",
            run_worker_in_process=False,
            page_cache_seconds=0,  # every scan reaches the hot path, as distinct tokens do
        )
        app = create_app(settings)
        statuses: set[int] = set()

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.add(message["status"])

        async def scans(count: int) -> float:
            started = time.perf_counter()
            for _ in range(count):
                token = uuid.uuid4().hex
                scope = {
                    "type": "http",
                    "asgi": {"version": "3.0"},
                    "http_version": "1.1",
                    "method": "GET",
                    "scheme": "http",
                    "path": f"/v/{token}",
                    "raw_path": f"/v/{token}".encode(),
                    "root_path": "",
                    "query_string": b"",
                    "headers": [(b"host", b"testserver"), (b"user-agent", b"bench")],
                    "client": ("127.0.0.1", 40000),
                    "server": ("testserver", 80),
                }
                await app(scope, receive, send)
            return (time.perf_counter() - started) / count * 1e6

        with_metrics: list[float] = []
        without: list[float] = []
        async with LifespanManager(app):
            await scans(200)  # warm-up: templates, connections, first metrics children
            for _ in range(rounds):
                middleware.observe_request = real
                with_metrics.append(await scans(requests))
                middleware.observe_request = nothing
                without.append(await scans(requests))
        middleware.observe_request = real
        print(f"statuses seen: {sorted(statuses)}")
        return with_metrics, without


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300, help="scans per round")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("GONGZHI_LOG_JSON", "true")
    print(f"load average: {os.getloadavg()}")
    single = per_call_microseconds()
    shared = multiprocess_microseconds()
    print(f"observe_request, one process:            {single:6.2f} µs per request")
    print(f"observe_request, PROMETHEUS_MULTIPROC_DIR: {shared:6.2f} µs per request")
    with_metrics, without = asyncio.run(sticker_rounds(args.requests, args.rounds))
    on, off = statistics.median(with_metrics), statistics.median(without)
    print(f"sticker scan in-process, with metrics:    {on:7.1f} µs (median of rounds)")
    print(f"sticker scan in-process, without metrics: {off:7.1f} µs")
    # Pairs of neighbouring rounds see about the same load from the rest of the machine.
    pairs = statistics.median(a / b for a, b in zip(with_metrics, without, strict=True))
    print(f"ratio with/without: medians {on / off:.3f}, median of paired rounds {pairs:.3f}")
    print(f"observe_request alone / scan without metrics: {single / off:.1%} ({shared / off:.1%})")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
