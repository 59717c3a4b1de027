"""Load: the scaled-out deployment through nginx, with an app node killed mid-run (issue 18).

    .venv/bin/python bench/load.py [--duration 60] [--connections 12] [--cases-per-second 2]
        [--ratio-seconds 5] [--no-kill] [--keep DIR]

Starts deploy/scaleout.py's ``Deployment`` on loopback — nginx in front of two ``gongzhi serve``
nodes and one ``gongzhi worker``, PostgreSQL primary and streaming replica, Redis, SeaweedFS (S3)
and Meilisearch — plus the bare FastAPI baseline (bench/baseline_pages.py: constant JSON, and a
Jinja template of the sticker page's text) as two processes behind the same nginx at ``/bare/``.

1. **Ratios through nginx** (wrk -t1 -c64, each URL ``--ratio-seconds``, in the order
   baseline, app, app, baseline, twice): the JSON lookup against ``/bare/json`` and the sticker
   page against ``/bare/page``. requests/s, p50/p99 and app ÷ bare.
2. **Mixed load for ``--duration`` s**: one wrk per endpoint class (certificate lookup, sticker
   page, search, credit API, credit page), ``--connections`` each, with bench/load.lua picking a
   random path of the class; and beside them a Python process submitting cases at a fixed rate
   (two distinct 1600×1200 phone JPEGs through ``POST /api/v1/media``, then ``POST /api/v1/cases``
   with an Idempotency-Key; a failed submission is retried once with the same key, as the app
   does). Halfway through, node 1 is killed (SIGKILL of its process group).
3. **Checks** (exit status 1 if one fails): every case answered 201 (or replayed) is in PostgreSQL
   with exactly its two photos, and every photo original in the object store has the SHA-256 of
   what was uploaded; every failed request of the submitter was in flight on the killed node (it
   started before the kill and ended after it); the read mix lost no more requests than were in
   flight; and after the kill nginx sent no request to the dead node that a client saw fail.

Only the intake's per-address rate limits are raised (every request comes from one address);
everything else is the production default.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEARCHES = ["电子秤", "加油机", "计量法", "检定", "处罚", "计价器", "血压计", "短斤少两", "jlf"]
STICKER_PATH = "/v/DEMO-SCALE-VALID"


# --- the case submitter (its own process) ------------------------------------------------------


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


async def submit_cases(config: dict[str, Any]) -> dict[str, Any]:
    import httpx

    from tests.api.complaints.support import report_body

    photos = base_photos(4)
    rng = random.Random(7)
    requests: list[dict[str, Any]] = []  # every request: what, when, how it ended
    accepted: list[dict[str, Any]] = []
    retried = 0

    async def call(client: httpx.AsyncClient, what: str, **kw: Any) -> httpx.Response | None:
        started = time.time()
        try:
            response = await client.request(**kw)
        except httpx.HTTPError as exc:
            requests.append(
                {"what": what, "start": started, "end": time.time(), "error": type(exc).__name__}
            )
            return None
        ok = response.status_code in (200, 201)
        requests.append(
            {
                "what": what,
                "start": started,
                "end": time.time(),
                "status": response.status_code,
                **({} if ok else {"error": str(response.status_code)}),
            }
        )
        return response if ok else None

    async def upload(client: httpx.AsyncClient) -> dict[str, str] | None:
        data = unique(rng.choice(photos))
        for _ in range(2):  # one retry, as the phone app retries an upload
            response = await call(
                client,
                "POST /api/v1/media",
                method="POST",
                url="/api/v1/media",
                files={"file": ("photo.jpg", data, "image/jpeg")},
            )
            if response is not None:
                return {"id": response.json()["id"], "sha256": hashlib.sha256(data).hexdigest()}
            await asyncio.sleep(1)
        return None

    async def submit(client: httpx.AsyncClient) -> None:
        nonlocal retried
        media = [await upload(client), await upload(client)]
        if None in media:
            return
        key = str(uuid.uuid4())
        for attempt in range(2):  # the same Idempotency-Key: a replay, never a second case
            response = await call(
                client,
                "POST /api/v1/cases",
                method="POST",
                url="/api/v1/cases",
                json=report_body(media=[m["id"] for m in media if m]),
                headers={"Idempotency-Key": key},
            )
            if response is not None:
                retried += attempt
                accepted.append(
                    {"tracking_number": response.json()["tracking_number"], "media": media}
                )
                return
            await asyncio.sleep(1)

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    timeout = httpx.Timeout(30.0, connect=5.0)
    interval = 1 / config["rate"]
    tasks: list[asyncio.Task[None]] = []
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=config["url"], limits=limits, timeout=timeout) as client:
        next_at = started
        while next_at < started + config["duration"]:
            tasks.append(asyncio.create_task(submit(client)))
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        await asyncio.gather(*tasks)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "requests": requests,
        "accepted": accepted,
        "retried": retried,
        "submitted": len(tasks),
        "cpu": usage.ru_utime + usage.ru_stime,
    }


# --- wrk ----------------------------------------------------------------------------------------


def wrk_mix(base: str, paths_file: Path, seconds: float, connections: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds:.0f}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / "load.lua"),
            base,
            "--",
            str(paths_file),
        ],  # fmt: skip
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wrk_result(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = process.communicate(timeout=600)
    line = next((x for x in out.splitlines() if x.startswith('{"requests"')), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result: {out}")
    result: dict[str, Any] = json.loads(line)
    return result


# --- the run ------------------------------------------------------------------------------------


async def query(url: str, sql: str, *args: Any) -> list[Any]:
    import asyncpg

    connection = await asyncpg.connect(url, timeout=10)
    try:
        return list(await connection.fetch(sql, *args))
    finally:
        await connection.close()


def ratios(deployment: Any, number: str, seconds: int) -> list[str]:
    from bench.pages import wrk

    pairs = [
        ("lookup JSON", f"/api/v1/certificates/{number}", "/bare/json"),
        ("sticker page", STICKER_PATH, "/bare/page"),
    ]
    print(f"\n## Through nginx: app ÷ bare FastAPI (wrk -t1 -c64, {seconds} s per run)")
    print(f"{'URL':28} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'bare req/s':>10} {'ratio':>6}")
    lines = []
    for name, app_path, bare_path in pairs:

        def measure(path: str, run_seconds: int) -> dict[str, float]:
            return wrk(deployment.port, path, run_seconds, 64, 1)

        measure(app_path, 1)  # warm-up: caches, connections, the template
        measure(bare_path, 1)
        app, bare = [], []
        for _ in range(2):
            bare.append(measure(bare_path, seconds))
            app.append(measure(app_path, seconds))
            app.append(measure(app_path, seconds))
            bare.append(measure(bare_path, seconds))
        app_rps = sum(r["rps"] for r in app) / len(app)
        bare_rps = sum(r["rps"] for r in bare) / len(bare)
        failed = sum(r["non2xx"] + r["errors"] for r in app + bare)
        line = (
            f"{name:28} {app_rps:8.0f} {max(r['p50'] for r in app):7.1f} "
            f"{max(r['p99'] for r in app):7.1f} {bare_rps:10.0f} {app_rps / bare_rps:6.2f}"
            + (f"  ({failed:.0f} failed)" if failed else "")
        )
        print(line, flush=True)
        lines.append(line)
    return lines


def routed_after_kill(access_log: Path, killed: str, dead_at: float) -> dict[str, int]:
    """From nginx's JSON access log: requests begun after the kill whose last upstream was the
    dead node (a client saw that failure), and those nginx moved from it to the other node."""
    found = {"failed_on_dead_node": 0, "moved_to_live_node": 0, "after_kill": 0}
    for line in access_log.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if float(entry["msec"]) - float(entry.get("seconds") or 0) < dead_at + 0.05:
            continue  # begun before the kill: in flight on the node, or already answered
        found["after_kill"] += 1
        upstreams = [u.strip() for u in str(entry.get("upstream", "")).split(",")]
        if upstreams and upstreams[-1] == killed:
            found["failed_on_dead_node"] += 1
        elif killed in upstreams:
            found["moved_to_live_node"] += 1
    return found


def verify_cases(deployment: Any, accepted: list[dict[str, Any]]) -> list[str]:
    """Every accepted case is in PostgreSQL with exactly its photos, and each original in the
    object store (read with a client of its own) has the SHA-256 of what was uploaded."""
    problems: list[str] = []
    numbers = [a["tracking_number"] for a in accepted]
    rows = asyncio.run(
        query(
            deployment.database_url,
            "SELECT c.tracking_number, m.id, m.sha256, m.original_key FROM complaint_case c "
            "LEFT JOIN case_media m ON m.case_id = c.id WHERE c.tracking_number = ANY($1::text[])",
            numbers,
        )
    )
    stored: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        stored[row["tracking_number"]].append(row)
    prefix = deployment.env["GONGZHI_PHOTO_S3_PREFIX"]
    photos = 0
    for case in accepted:
        found = [r for r in stored.get(case["tracking_number"], []) if r["id"] is not None]
        if case["tracking_number"] not in stored:
            problems.append(f"{case['tracking_number']}: accepted but not in the database")
            continue
        expected = {m["id"]: m["sha256"] for m in case["media"]}
        if sorted(str(r["id"]) for r in found) != sorted(expected):
            problems.append(f"{case['tracking_number']}: {len(found)} photos, 2 uploaded")
            continue
        for r in found:
            body = deployment.s3.read(prefix + r["original_key"])
            if r["sha256"] != expected[str(r["id"])] or (
                hashlib.sha256(body).hexdigest() != expected[str(r["id"])]
            ):
                problems.append(f"{case['tracking_number']}: photo {r['id']} differs")
            photos += 1
    print(
        f"verified {len(accepted)} accepted cases and {photos} photo originals in the object "
        "store (SHA-256 of the bytes read back)"
    )
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=60, help="seconds of mixed load")
    parser.add_argument("--connections", type=int, default=12, help="per read endpoint class")
    parser.add_argument("--cases-per-second", type=float, default=2)
    parser.add_argument("--ratio-seconds", type=int, default=5)
    parser.add_argument("--no-kill", action="store_true", help="keep both nodes up")
    parser.add_argument("--keep", type=Path, help="keep the deployment's logs here")
    parser.add_argument(
        "--postgres",
        default=os.environ.get(
            "GONGZHI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--submit", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.submit is not None:  # the case submitter's own process
        config = json.loads(args.submit.read_text())
        Path(config["out"]).write_text(json.dumps(asyncio.run(submit_cases(config))))
        return 0
    if shutil.which("wrk") is None or shutil.which("nginx") is None:
        sys.exit("wrk or nginx is not installed (make system-deps)")

    from deploy.scaleout import Deployment

    work = Path(tempfile.mkdtemp(prefix="gongzhi-load-"))
    template_dir = work / "bare-template"
    template_dir.mkdir()
    (template_dir / "page.html").write_text("not yet")
    deployment = Deployment(
        work=work / "deployment",
        postgres=args.postgres,
        extra_env={
            "GONGZHI_CASE_RATE_LIMIT_CLIENT": "1000000/minute",
            "GONGZHI_MEDIA_RATE_LIMIT_CLIENT": "1000000/minute",
        },
        bare_app="bench.baseline_pages:app",
        bare_env={"BENCH_TEMPLATE_DIR": str(template_dir), "PYTHONPATH": str(ROOT)},
    )
    failures: list[str] = []
    try:
        started = time.monotonic()
        deployment.start()
        print(
            f"deployment up in {time.monotonic() - started:.0f} s: nginx {deployment.url}, "
            f"nodes {', '.join(n.address for n in deployment.app_nodes)}; "
            f"load {open('/proc/loadavg').read().split()[0]}"
        )
        import httpx

        sticker = httpx.get(f"{deployment.url}{STICKER_PATH}", timeout=30)
        (template_dir / "page.html").write_text(sticker.text.replace("{", "{{ '{' }}"))
        numbers = [
            r["number"]
            for r in asyncio.run(
                query(deployment.database_url, "SELECT DISTINCT number FROM certificate")
            )
        ]
        usccs = [
            r["uscc"]
            for r in asyncio.run(
                query(
                    deployment.database_url,
                    "SELECT DISTINCT uscc FROM credit_rating WHERE status = 'active'",
                )
            )
        ]
        tokens = [
            r["sticker_token"]
            for r in asyncio.run(
                query(deployment.database_url, "SELECT sticker_token FROM instrument")
            )
        ]
        if not numbers or not usccs:
            raise RuntimeError("the demo data has no certificates or no published grades")

        ratio_lines = ratios(deployment, numbers[0], args.ratio_seconds)

        classes = {
            "GET /api/v1/certificates/{number}": [
                f"/api/v1/certificates/{quote(n)}" for n in numbers
            ],
            "GET /v/{token} (sticker page)": [f"/v/{quote(t)}" for t in tokens],
            "GET /api/v1/search": [
                "/api/v1/search?" + urlencode({"q": q, **extra})
                for q in SEARCHES
                for extra in ({}, {"kind": "regulation"}, {"kind": "notice", "region": "610400"})
            ],
            "GET /api/v1/credit/enterprises/{uscc}": [
                f"/api/v1/credit/enterprises/{u}" for u in usccs
            ],
            "GET /credit/enterprises/{uscc} (page)": [f"/credit/enterprises/{u}" for u in usccs],
        }
        wrks = {}
        for index, (name, paths) in enumerate(classes.items()):
            paths_file = work / f"paths{index}.txt"
            paths_file.write_text("\n".join(paths) + "\n")
            wrks[name] = wrk_mix(deployment.url, paths_file, args.duration, args.connections)
        submit_config = {
            "url": deployment.url,
            "rate": args.cases_per_second,
            "duration": args.duration,
            "out": str(work / "submitted.json"),
        }
        (work / "submit.json").write_text(json.dumps(submit_config))
        submitter = subprocess.Popen(
            [sys.executable, __file__, "--submit", str(work / "submit.json")]
        )
        mix_started = time.time()
        print(
            f"\n## Mixed load through nginx: {args.duration:.0f} s, wrk -t1 "
            f"-c{args.connections} per read class ({len(classes)} classes), "
            f"{args.cases_per_second:g} cases/s with 2 photos each"
            + ("" if args.no_kill else "; node 1 killed halfway"),
            flush=True,
        )
        kill_at = dead_at = None
        if not args.no_kill:
            time.sleep(args.duration / 2)
            kill_at = time.time()
            deployment.kill_node(0)
            # The node is gone once the kernel has reaped it; until then its listening socket
            # still takes connections, and what it takes is in flight on the dying node.
            dead_at = time.time()
            print(
                f"node 1 ({deployment.app_nodes[0].address}) killed at "
                f"t+{kill_at - mix_started:.1f} s (gone {1000 * (dead_at - kill_at):.0f} ms later)",
                flush=True,
            )
        reads = {name: wrk_result(process) for name, process in wrks.items()}
        submitter.wait(timeout=args.duration + 300)
        if submitter.returncode:
            raise RuntimeError(f"the case submitter exited with {submitter.returncode}")
        submitted = json.loads((work / "submitted.json").read_text())
        elapsed = time.time() - mix_started

        print(
            f"{'endpoint':40} {'count':>7} {'failed':>7} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}"
        )
        for name, r in reads.items():
            failed = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
            seconds = r["duration_us"] / 1e6
            print(
                f"{name:40} {r['requests']:7d} {failed:7d} {r['requests'] / seconds:7.1f} "
                f"{r['p50_us'] / 1000:7.1f} {r['p99_us'] / 1000:7.1f}"
            )
            if failed > args.connections:  # more than could have been in flight on a node
                failures.append(f"{name}: {failed} failed requests")
        by_what: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for request in submitted["requests"]:
            by_what[request["what"]].append(request)
        for name, done in sorted(by_what.items()):
            seconds_each = sorted(r["end"] - r["start"] for r in done)
            failed = [r for r in done if "error" in r]
            print(
                f"{name:40} {len(done):7d} {len(failed):7d} {len(done) / elapsed:7.1f} "
                f"{seconds_each[len(seconds_each) // 2] * 1000:7.1f} "
                f"{seconds_each[min(len(seconds_each) - 1, int(0.99 * len(seconds_each)))] * 1000:7.1f}"
            )
        errors = [r for r in submitted["requests"] if "error" in r]
        in_flight = [
            r
            for r in errors
            if kill_at is not None
            and dead_at is not None
            and r["start"] <= dead_at + 0.05
            and r["end"] >= kill_at
        ]
        print(
            f"cases: {submitted['submitted']} submitted, {len(submitted['accepted'])} accepted "
            f"({submitted['retried']} after a retry with the same Idempotency-Key); "
            f"{len(errors)} failed requests, {len(in_flight)} of them in flight at the kill: "
            f"{sorted({r['error'] for r in errors})}"
        )
        if len(errors) != len(in_flight):
            failures.append(
                f"{len(errors) - len(in_flight)} submitter requests failed outside the kill"
            )
        if dead_at is not None:
            killed = deployment.app_nodes[0].address
            routed = routed_after_kill(deployment.work / "nginx" / "access.log", killed, dead_at)
            print(
                f"nginx after the kill: {routed['after_kill']} requests; "
                f"{routed['moved_to_live_node']} tried the dead node first and were answered by "
                f"the other; {routed['failed_on_dead_node']} ended on the dead node"
            )
            if routed["failed_on_dead_node"]:
                failures.append("nginx sent requests begun after the kill to the dead node")
        problems = verify_cases(deployment, submitted["accepted"])
        failures += problems[:20]
        print(
            f"load: {open('/proc/loadavg').read().split()[0]}; the case submitter used "
            f"{submitted['cpu']:.0f} CPU-seconds"
        )
        print("\n" + "\n".join(ratio_lines))
    finally:
        deployment.stop()
        if args.keep is not None:
            shutil.copytree(deployment.logs, args.keep, dirs_exist_ok=True)
            nginx_log = deployment.work / "nginx" / "access.log"
            if nginx_log.exists():
                shutil.copy(nginx_log, args.keep / "nginx-access.log")
        shutil.rmtree(work, ignore_errors=True)
    for failure in failures:
        print("FAILED:", failure)
    print("all checks passed" if not failures else f"{len(failures)} checks failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
