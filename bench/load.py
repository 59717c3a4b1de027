"""Load: the production-style deployment under a mixed public workload (issue 7).

Starts, on loopback only and in a temporary directory:

- a scratch PostgreSQL database (created on the server named by ``--postgres``, dropped at the
  end; nothing in the ``postgres`` database is touched),
- Meilisearch on a free port with a master key (scripts/get-meilisearch.sh provides the binary),
- ``gongzhi serve --workers 2`` with GONGZHI_RUN_WORKER_IN_PROCESS=false and a separate
  ``gongzhi worker``, after ``gongzhi db upgrade``, ``gongzhi demo`` and ``gongzhi search reindex``.

Then a load generator in its own process (asyncio + one httpx pool of ``--connections``
connections) drives for ``--duration`` seconds a mix of public requests: certificate lookups
(``GET /api/v1/certificates/{number}``), searches (``GET /api/v1/search``), credit pages (the
enterprise API and its HTML page) and case submissions with two photos each (two
``POST /api/v1/media`` then ``POST /api/v1/cases`` with an Idempotency-Key). Every upload is a
distinct 1600×1200 phone JPEG (a unique COM segment), so its SHA-256 identifies it.

It prints per-endpoint counts, error counts, p50/p99 latency and throughput, then checks that
every case answered 201 is in the database with exactly its two photos, and that each stored
original has the SHA-256 of what was uploaded. Exit status 1 if any check fails.

Rate limits: the intake's per-address limits (GONGZHI_CASE_RATE_LIMIT_CLIENT,
GONGZHI_MEDIA_RATE_LIMIT_CLIENT) would rightly refuse a flood from one address, so the server
under test runs with them raised to 1000000/minute; everything else is the production default.

    .venv/bin/python bench/load.py [--duration 60] [--connections 256] [--workers 2]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import io
import json
import os
import random
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

SEARCHES = ["电子秤", "加油机", "计量法", "检定", "处罚", "计价器", "血压计", "短斤少两", "jlf"]
# Share of each operation in the mix (a case submission is three requests).
MIX = [("certificate", 40), ("search", 25), ("credit", 25), ("case", 10)]
CASE_BODY = {
    "kind": "report",
    "category": "unverified_instrument",
    "description": "电子秤没有检定标志，店主说从未送检。",
    "business": {"name": "咸阳市秦都区某菜店", "address": "咸阳市秦都区人民路"},
    "region_code": "610402",
    "extra": {"instrument_kind": "scale", "sticker_state": "missing"},
    "anonymous": True,
}


# --- the load generator (its own process) -------------------------------------------------------


def base_photos(count: int) -> list[bytes]:
    from PIL import Image, ImageFilter

    from tests.api.complaints.images import phone_exif

    found = []
    for seed in range(count):
        noise = Image.effect_noise((1600, 1200), 30 + seed).convert("RGB")
        buffer = io.BytesIO()
        noise.filter(ImageFilter.SMOOTH).save(
            buffer, "JPEG", quality=85, exif=phone_exif(orientation=1).tobytes()
        )
        found.append(buffer.getvalue())
    return found


def unique(photo: bytes) -> bytes:
    """The same picture with a unique JPEG comment (COM segment) right after SOI."""
    comment = uuid.uuid4().hex.encode()
    return photo[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + photo[2:]


async def drive(config: dict[str, Any]) -> dict[str, Any]:
    import httpx

    photos = base_photos(4)
    rng = random.Random(7)
    samples: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    accepted: list[dict[str, Any]] = []
    deadline = time.monotonic() + config["duration"]
    ops = [name for name, weight in config["mix"] for _ in range(weight)]

    async def call(
        client: httpx.AsyncClient, name: str, ok: tuple[int, ...], method: str, url: str, **kw: Any
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await client.request(method, url, **kw)
        except httpx.HTTPError as exc:
            samples[name].append(time.perf_counter() - started)
            errors[name][type(exc).__name__] += 1
            return None
        samples[name].append(time.perf_counter() - started)
        if response.status_code not in ok:
            errors[name][str(response.status_code)] += 1
            return None
        return response

    async def submit(client: httpx.AsyncClient) -> None:
        media = []
        for _ in range(2):
            data = unique(rng.choice(photos))
            response = await call(
                client,
                "POST /api/v1/media",
                (201,),
                "POST",
                "/api/v1/media",
                files={"file": ("photo.jpg", data, "image/jpeg")},
            )
            if response is None:
                return
            media.append({"id": response.json()["id"], "sha256": hashlib.sha256(data).hexdigest()})
        response = await call(
            client,
            "POST /api/v1/cases",
            (201,),
            "POST",
            "/api/v1/cases",
            json={**CASE_BODY, "media": [m["id"] for m in media]},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        if response is not None:
            accepted.append({"tracking_number": response.json()["tracking_number"], "media": media})

    async def user(client: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline:
            op = rng.choice(ops)
            if op == "certificate":
                number = rng.choice(config["certificates"])
                await call(
                    client,
                    "GET /api/v1/certificates/{number}",
                    (200,),
                    "GET",
                    f"/api/v1/certificates/{number}",
                )
            elif op == "search":
                await call(
                    client,
                    "GET /api/v1/search",
                    (200,),
                    "GET",
                    "/api/v1/search",
                    params={"q": rng.choice(SEARCHES)},
                )
            elif op == "credit":
                uscc = rng.choice(config["usccs"])
                if rng.random() < 0.5:
                    await call(
                        client,
                        "GET /api/v1/credit/enterprises/{uscc}",
                        (200,),
                        "GET",
                        f"/api/v1/credit/enterprises/{uscc}",
                    )
                else:
                    await call(
                        client,
                        "GET /credit/enterprises/{uscc} (HTML)",
                        (200,),
                        "GET",
                        f"/credit/enterprises/{uscc}",
                    )
            else:
                await submit(client)

    limits = httpx.Limits(
        max_connections=config["connections"], max_keepalive_connections=config["connections"]
    )
    timeout = httpx.Timeout(30.0, connect=10.0)
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=config["base_url"], limits=limits, timeout=timeout) as c:
        tasks = [asyncio.create_task(user(c)) for _ in range(config["connections"])]
        # Bounded: requests in flight at the deadline get their 30 s timeout, then are cancelled.
        _, pending = await asyncio.wait(tasks, timeout=config["duration"] + 45)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "generator_cpu": usage.ru_utime + usage.ru_stime,
        "elapsed": time.monotonic() - started,
        "samples": samples,
        "errors": {k: dict(v) for k, v in errors.items()},
        "accepted": accepted,
        "cancelled": len(pending),
    }


# --- the deployment -----------------------------------------------------------------------------


def free_port() -> int:
    from tests.search.meili import free_port as find

    return find()


async def admin(url: str, sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url, timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def fetch(url: str, sql: str, *args: Any) -> list[Any]:
    import asyncpg

    connection = await asyncpg.connect(url, timeout=10)
    try:
        return list(await connection.fetch(sql, *args))
    finally:
        await connection.close()


def run(cmd: list[str], env: dict[str, str], log: Path) -> None:
    with open(log, "ab") as out:
        subprocess.run(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, check=True, timeout=900)


def wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the server did not become ready")


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p * (len(ordered) - 1))))]


def report(result: dict[str, Any]) -> int:
    elapsed = result["elapsed"]
    total = sum(len(v) for v in result["samples"].values())
    failed = 0
    print(f"\n{'endpoint':44} {'count':>7} {'errors':>7} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for name in sorted(result["samples"]):
        values = result["samples"][name]
        errors = sum(result["errors"].get(name, {}).values())
        failed += errors
        print(
            f"{name:44} {len(values):7d} {errors:7d} {len(values) / elapsed:7.1f} "
            f"{percentile(values, 0.5) * 1000:8.0f} {percentile(values, 0.99) * 1000:8.0f}"
        )
    print(f"{'all':44} {total:7d} {failed:7d} {total / elapsed:7.1f}")
    for name, kinds in sorted(result["errors"].items()):
        print(f"  errors of {name}: {kinds}")
    print(
        f"  the load generator itself used {result['generator_cpu']:.0f} CPU-seconds "
        f"in {elapsed:.0f} s (it shares the 2 cores with the server)"
    )
    if result["cancelled"]:
        print(f"  {result['cancelled']} clients still busy after the grace period were cancelled")
    return failed


def server_log_summary(*logs: Path) -> None:
    """What the server and worker logged: answers by status class, errors and warnings."""
    statuses: dict[str, int] = defaultdict(int)
    levels: dict[str, int] = defaultdict(int)
    events: dict[str, int] = defaultdict(int)
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                levels["unstructured"] += 1
                continue
            if not isinstance(entry, dict):
                continue
            if entry.get("event") == "request" and "status" in entry:
                statuses[f"{int(entry['status']) // 100}xx"] += 1
            level = str(entry.get("level", ""))
            if level in ("warning", "error", "critical"):
                levels[level] += 1
                events[str(entry.get("event"))] += 1
    print(f"server log: answers {dict(statuses)}; {dict(levels) or 'no warnings or errors'}")
    for event_name, count in sorted(events.items(), key=lambda kv: -kv[1])[:5]:
        print(f"  {count} × {event_name}")


async def verify(db_url: str, storage: Path, accepted: list[dict[str, Any]]) -> list[str]:
    """Every accepted case is stored with exactly its two photos, byte-identical originals."""
    problems: list[str] = []
    numbers = [a["tracking_number"] for a in accepted]
    rows = await fetch(
        db_url,
        "SELECT c.tracking_number, m.id, m.sha256, m.original_key, m.position "
        "FROM complaint_case c LEFT JOIN case_media m ON m.case_id = c.id "
        "WHERE c.tracking_number = ANY($1::text[]) ORDER BY c.tracking_number, m.position",
        numbers,
    )
    stored: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        stored[row["tracking_number"]].append(row)
    photos = 0
    for case in accepted:
        found = [r for r in stored.get(case["tracking_number"], []) if r["id"] is not None]
        if case["tracking_number"] not in stored:
            problems.append(f"{case['tracking_number']}: accepted (201) but not in the database")
            continue
        if sorted(str(r["id"]) for r in found) != sorted(m["id"] for m in case["media"]):
            problems.append(f"{case['tracking_number']}: photos {len(found)} ≠ uploaded 2")
            continue
        expected = {m["id"]: m["sha256"] for m in case["media"]}
        for r in found:
            data = (storage / "photos" / r["original_key"]).read_bytes()
            if r["sha256"] != expected[str(r["id"])] or (
                hashlib.sha256(data).hexdigest() != expected[str(r["id"])]
            ):
                problems.append(f"{case['tracking_number']}: photo {r['id']} differs")
            photos += 1
    total = await fetch(db_url, "SELECT count(*) AS n FROM complaint_case")
    print(
        f"\nverified {len(accepted)} accepted cases and {photos} photo originals (SHA-256); "
        f"{total[0]['n'] - len(accepted)} further cases in the database (submissions whose answer "
        "the client did not get before its timeout, and the demo's)"
    )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "GONGZHI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="an administrative connection; the scratch database is created beside it",
    )
    parser.add_argument(
        "--mix",
        default=",".join(f"{name}={weight}" for name, weight in MIX),
        help="operation weights (a case is three requests)",
    )
    parser.add_argument("--keep", type=Path, help="copy the server and worker logs here")
    parser.add_argument("--drive", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.drive is not None:  # the load generator's process
        config = json.loads(args.drive.read_text())
        result = asyncio.run(drive(config))
        Path(config["out"]).write_text(json.dumps(result))
        return 0

    from tests.search.meili import MeiliServer, find_binary

    mix = [(n, int(w)) for n, w in (part.split("=") for part in args.mix.split(","))]
    if {n for n, _ in mix} - {n for n, _ in MIX} or not any(w > 0 for _, w in mix):
        parser.error(f"--mix: weights of {', '.join(n for n, _ in MIX)}")

    binary = find_binary()
    if binary is None:
        print("Meilisearch not found: run scripts/get-meilisearch.sh", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="gongzhi-load-"))
    name = f"gongzhi_load_{uuid.uuid4().hex[:10]}"
    base = args.postgres.rsplit("/", 1)[0]
    db_url = f"{base}/{name}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    meili: MeiliServer | None = None
    server: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    asyncio.run(admin(args.postgres, f'CREATE DATABASE "{name}"'))
    try:
        meili = MeiliServer(binary, work)
        meili.start()
        env = {
            **os.environ,
            "GONGZHI_ENV": "production",
            "GONGZHI_DATABASE_URL": db_url.replace("postgresql://", "postgresql+asyncpg://", 1),
            "GONGZHI_SECRET_KEY": secrets.token_urlsafe(48),
            "GONGZHI_DATA_KEYS": "k1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
            "GONGZHI_STORAGE_DIR": str(work / "storage"),
            "GONGZHI_SIGNING_KEY_FILE": str(work / "signing-key.pem"),
            "GONGZHI_SIGNING_KEYS_DIR": str(work / "keys"),
            "GONGZHI_SEARCH_BACKEND": "meilisearch",
            "GONGZHI_MEILI_URL": meili.url,
            "GONGZHI_MEILI_KEY": meili.key,
            "GONGZHI_MEILI_INDEX": "load",
            "GONGZHI_BASE_URL": url,
            "GONGZHI_RUN_WORKER_IN_PROCESS": "false",
            "GONGZHI_LOG_JSON": "true",
            # The only departures from production defaults: one address sends everything.
            "GONGZHI_CASE_RATE_LIMIT_CLIENT": "1000000/minute",
            "GONGZHI_MEDIA_RATE_LIMIT_CLIENT": "1000000/minute",
        }
        env.pop("GONGZHI_REQUIRE_SERVICES", None)
        log = work / "server.log"
        print(f"scratch database {name}, Meilisearch {meili.url}, server {url}, logs {log}")
        started = time.monotonic()
        setup_log = work / "setup.log"
        run([str(BIN / "gongzhi"), "db", "upgrade"], env, setup_log)
        run([str(BIN / "gongzhi"), "demo"], env, setup_log)
        run([str(BIN / "gongzhi"), "search", "reindex"], env, setup_log)
        print(f"schema, demo data and index ready in {time.monotonic() - started:.0f} s")
        with open(work / "worker.log", "ab") as out:
            worker = subprocess.Popen(
                [str(BIN / "gongzhi"), "worker"], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        with open(log, "ab") as out:
            server = subprocess.Popen(
                [
                    str(BIN / "gongzhi"),
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                ],  # fmt: skip
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_ready(url, server)

        certificates = [
            r["number"]
            for r in asyncio.run(fetch(db_url, "SELECT DISTINCT number FROM certificate"))
        ]
        usccs = [
            r["uscc"]
            for r in asyncio.run(
                fetch(db_url, "SELECT DISTINCT uscc FROM credit_rating WHERE status = 'active'")
            )
        ]
        if not certificates or not usccs:
            raise RuntimeError("the demo data has no certificates or no published grades")
        result_path = work / "result.json"
        config = {
            "mix": mix,
            "base_url": url,
            "duration": args.duration,
            "connections": args.connections,
            "certificates": certificates,
            "usccs": usccs,
            "out": str(result_path),
        }
        (work / "drive.json").write_text(json.dumps(config))
        print(
            f"driving {args.connections} connections for {args.duration:.0f} s "
            f"({len(certificates)} certificates, {len(usccs)} graded enterprises, "
            f"{args.workers} server processes, 1 worker; mix {args.mix}) …",
            flush=True,
        )
        subprocess.run(
            [sys.executable, __file__, "--drive", str(work / "drive.json")],
            check=True,
            timeout=args.duration + 300,
        )
        result = json.loads(result_path.read_text())
        errors = report(result)
        server_log_summary(log, work / "worker.log")
        problems = asyncio.run(verify(db_url, work / "storage", result["accepted"]))
        for problem in problems[:20]:
            print("  PROBLEM", problem)
        cases = len(result["accepted"])
        print(
            f"{cases} cases accepted ({cases / result['elapsed']:.1f}/s), {errors} request errors; "
            f"{'all intact' if not problems else f'{len(problems)} problems'}"
        )
        # Refused or timed-out requests are reported above; a lost or damaged case fails the run.
        return 1 if problems else 0
    finally:
        stop(server)
        stop(worker)
        if meili is not None:
            meili.stop()
        asyncio.run(admin(args.postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        if args.keep is not None:
            args.keep.mkdir(parents=True, exist_ok=True)
            for kept in ("setup.log", "server.log", "worker.log"):
                if (work / kept).exists():
                    shutil.copy(work / kept, args.keep / kept)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
