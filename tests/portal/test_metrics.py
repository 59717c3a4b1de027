"""Prometheus metrics (portal/metrics.py): scraped with prometheus-client's own text parser, after
real requests. Requests are counted per route template (the hot path's too, never the raw path),
the scrape needs the bearer token, and under ``gongzhi serve --workers 2`` one scrape adds up
both workers."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlmodel import col
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from portal import clock, facts
from portal.db import Database
from portal.metrics import ROUTE, UNMATCHED
from portal.outbox import service as outbox
from portal.outbox.models import OutboxEvent
from portal.pagecache import PageCache
from portal.ratelimit import RateLimiter
from portal.settings import Settings
from tests.support import assert_problem, served_portal, service_missing

TOKEN = "metrics-test-token-" + "x" * 24
BEARER = {"Authorization": f"Bearer {TOKEN}"}
REDIS_URL = "redis://127.0.0.1:6379"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


@pytest.fixture
def exposed(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[RateLimiter]:
    monkeypatch.setattr(app.state.settings, "metrics_token", TOKEN)
    original = app.state.rate_limiter
    app.state.rate_limiter = RateLimiter("memory://")  # fresh counters for the login limit
    yield app.state.rate_limiter
    app.state.rate_limiter = original


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics", headers=BEARER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


@pytest.mark.usefixtures("exposed")
async def test_requests_are_counted_by_route_template(client: httpx.AsyncClient) -> None:
    before = await scrape(client)
    tokens = [uuid.uuid4().hex for _ in range(3)]
    for token in tokens:  # anonymous sticker scans: the hot path, which bypasses routing
        await client.get(f"/v/{token}")
    await client.get(f"/api/v1/certificates/NO-{tokens[0]}")  # the hot path's other route
    await client.get("/healthz")
    await client.get(f"/no/such/page/{tokens[1]}")
    after = await scrape(client)

    counted = "gongzhi_http_requests_total"
    for route, requests in [
        ("/v/{token}", 3),
        ("/api/v1/certificates/{number}", 1),
        ("/healthz", 1),
        (UNMATCHED, 1),
    ]:
        moved = value(after, counted, method="GET", route=route) - value(
            before, counted, method="GET", route=route
        )
        assert moved == requests, route
    healthz = {"method": "GET", "route": "/healthz", "status": "200"}
    assert value(after, counted, **healthz) - value(before, counted, **healthz) == 1
    assert (
        value(after, "gongzhi_http_request_duration_seconds_count", route="/v/{token}")
        - value(before, "gongzhi_http_request_duration_seconds_count", route="/v/{token}")
        == 3
    )
    # Never the raw path: no label holds a token.
    labels = {v for (_, ls) in after for _, v in ls}
    assert not any(token in label for token in tokens for label in labels)
    # The outbox, read at scrape time; nothing is waiting in a fresh test database.
    assert value(after, "gongzhi_outbox_pending") == 0
    assert value(after, "gongzhi_outbox_oldest_due_age_seconds") == 0
    assert ("gongzhi_db_pool_connections_in_use", frozenset()) in after


@pytest.mark.usefixtures("exposed")
async def test_login_failures_and_rate_limit_refusals_are_counted(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.state.settings, "login_failures_per_ip", "2/15 minutes")
    before = await scrape(client)
    login = {"username": f"nobody-{uuid.uuid4().hex[:8]}@example.cn", "password": "wrong-pass"}
    for _ in range(2):
        wrong = await client.post("/api/v1/auth/jwt/login", data=login)
        assert_problem(wrong, 400, "login_bad_credentials")
    assert_problem(await client.post("/api/v1/auth/jwt/login", data=login), 429, "login_locked")
    after = await scrape(client)
    assert (
        value(after, "gongzhi_login_failures_total") - value(before, "gongzhi_login_failures_total")
        == 2
    )
    refusals = "gongzhi_rate_limit_refusals_total"
    assert (
        value(after, refusals, code="login_locked") - value(before, refusals, code="login_locked")
        == 1
    )


@pytest.mark.usefixtures("exposed")
async def test_the_search_index_lag_is_scraped(
    client: httpx.AsyncClient, database: Database
) -> None:
    """How far the search index is behind the database: the changes announced with
    ``enqueue_index`` that the worker has not yet applied to the engine, and how long the oldest
    of them has waited (the handler returns once the engine has applied its task, so a processed
    event is searchable). Other outbox topics do not count."""
    before = await scrape(client)
    assert value(before, "gongzhi_search_index_pending") == 0
    assert value(before, "gongzhi_search_index_lag_seconds") == 0
    async with database.transaction() as session:
        await facts.enqueue_index(session, "article", [uuid.uuid4()])
        await outbox.enqueue(session, "some.other.topic", {})
    async with database.transaction() as session:
        await session.execute(
            update(OutboxEvent)
            .where(col(OutboxEvent.topic) == facts.INDEX_TOPIC)
            .values(created_at=clock.now() - timedelta(seconds=90))
        )
    after = await scrape(client)
    assert value(after, "gongzhi_search_index_pending") == 1
    assert 90 <= value(after, "gongzhi_search_index_lag_seconds") < 150
    assert value(after, "gongzhi_search_index_failed") == 0
    assert value(after, "gongzhi_outbox_pending") == 2


async def test_a_scrape_without_the_token_is_refused(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not configured: there is no /metrics at all.
    assert_problem(await client.get("/metrics", headers=BEARER), 404, "not_found")
    monkeypatch.setattr(app.state.settings, "metrics_token", TOKEN)
    assert_problem(await client.get("/metrics"), 401, "not_authenticated")
    wrong = {"Authorization": f"Bearer {TOKEN}-not"}
    refused = await client.get("/metrics", headers=wrong)
    assert_problem(refused, 401, "not_authenticated")
    assert "gongzhi_" not in refused.text
    assert (await client.get("/metrics", headers=BEARER)).status_code == 200


async def test_a_page_cache_hit_keeps_the_route_template() -> None:
    """A cached answer skips routing; the cache remembers which route made it."""
    seen: list[str | None] = []

    async def page(scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = Route("/p/{name}", endpoint=lambda request: None)
        headers = [(b"cache-control", b"public, max-age=60")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok"})

    cache = PageCache(page, seconds=5)

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    async def send(message: object) -> None:
        pass

    for _ in range(2):
        scope = {"type": "http", "method": "GET", "path": "/p/a", "headers": []}
        await cache(scope, receive, send)
        seen.append(scope.get(ROUTE))
    assert seen == [None, "/p/{name}"]  # the first went through the route itself


def test_two_workers_are_added_up_in_one_scrape(tmp_path: Path) -> None:
    """``gongzhi serve --workers 2``: requests served by either worker appear in a scrape,
    whichever worker answers it."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError as exc:
        service_missing(f"Redis is not reachable at {REDIS_URL}: {exc!r}")
    shared = tmp_path / "prometheus"
    env = {
        "GONGZHI_METRICS_TOKEN": TOKEN,
        "GONGZHI_RATE_LIMIT_STORAGE": REDIS_URL,
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
    }
    with served_portal(tmp_path, env=env, workers=2) as base:
        sent = 0

        def scan(_: int) -> int:
            return httpx.get(f"{base}/v/{uuid.uuid4().hex}", timeout=30).status_code

        # Until both workers have answered some (the kernel hands connections to either).
        with ThreadPoolExecutor(max_workers=8) as pool:
            while sent < 400:
                statuses = list(pool.map(scan, range(40)))
                assert all(status == 404 for status in statuses)
                sent += len(statuses)
                if len(_per_worker(shared)) >= 2:
                    break
        per_worker = _per_worker(shared)
        assert len(per_worker) == 2, per_worker
        assert sum(per_worker.values()) == sent
        for _ in range(4):  # each scrape is answered by either worker: all see the sum
            response = httpx.get(f"{base}/metrics", headers=BEARER, timeout=30)
            assert response.status_code == 200
            samples = parse(response.text)
            assert value(samples, "gongzhi_http_requests_total", route="/v/{token}") == sent


def _per_worker(shared: Path) -> dict[str, float]:
    """Sticker scans counted by each worker, read from its own file."""
    counts = {}
    for file in shared.glob("counter_*.db"):
        alone = file.parent / f"alone-{file.stem}"
        alone.mkdir(exist_ok=True)
        shutil.copy(file, alone / file.name)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(alone))  # type: ignore[no-untyped-call]
        samples = {
            (s.name, frozenset(s.labels.items())): s.value
            for family in registry.collect()
            for s in family.samples
        }
        scans = value(samples, "gongzhi_http_requests_total", route="/v/{token}")
        shutil.rmtree(alone)
        if scans:
            counts[file.stem] = scans
    return counts


def test_serve_shares_metrics_between_workers_in_a_fresh_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from portal import cli

    stale = tmp_path / "counter_1.db"
    stale.write_bytes(b"left by a previous run")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    cli._share_metrics()
    assert not stale.exists()
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    cli._share_metrics()
    made = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    assert made.is_dir()
    assert made.name.startswith("gongzhi-metrics-")
    made.rmdir()


def test_production_refuses_a_weak_metrics_token() -> None:
    def production(token: str) -> Settings:
        return Settings(
            env="production",
            secret_key="KQB-ypy0Jas2-uTScdfmiLrG4TdQXuh1GolnQLeLFUI",
            data_keys="k1:" + "A" * 43 + "=",
            metrics_token=token,
        )

    for weak in ("short-token", "metrics" * 6):
        with pytest.raises(ValueError, match="GONGZHI_METRICS_TOKEN"):
            production(weak)
    assert production("").metrics_token == ""  # no /metrics at all
    assert production("Zr1-pq8Lw0sXv3Ty6Nb9Mk2Jh5Gf4Dd7Ss").metrics_token


@pytest.mark.usefixtures("exposed")
async def test_crafted_methods_and_paths_add_no_label_values(client: httpx.AsyncClient) -> None:
    """Label values an outsider could choose would grow the series without bound: made-up
    methods, paths under a mount, a wrong method on a known route, a token in a Bearer header."""
    before = await scrape(client)
    marker = uuid.uuid4().hex
    for method in (f"X{marker[:10].upper()}", "PROPFIND", "get"):
        await client.request(method, f"/healthz?{marker}")
    await client.get(f"/static/{marker}.css")
    await client.delete(f"/healthz/{marker}")
    await client.put("/healthz")
    await client.get("/metrics", headers={"Authorization": f"Bearer {marker}"})
    after = await scrape(client)
    labels = {v for (_, ls) in after for _, v in ls}
    assert not any(marker in label or marker[:10].upper() in label for label in labels)
    methods = {v for (n, ls) in after for k, v in ls if k == "method"}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert (
        value(after, "gongzhi_http_requests_total", method="other")
        - value(before, "gongzhi_http_requests_total", method="other")
        >= 2
    )


def test_serve_removes_the_metrics_directory_it_made(tmp_path: Path) -> None:
    """Without PROMETHEUS_MULTIPROC_DIR, ``gongzhi serve --workers 2`` makes a directory of its
    own for the workers' files; it is removed when the server stops, not left in the temporary
    directory after every start."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError as exc:
        service_missing(f"Redis is not reachable at {REDIS_URL}: {exc!r}")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {"GONGZHI_RATE_LIMIT_STORAGE": REDIS_URL, "TMPDIR": str(scratch)}
    (tmp_path / "portal").mkdir()
    with served_portal(tmp_path / "portal", env=env, workers=2):
        assert [p.name for p in scratch.glob("gongzhi-metrics-*")], "no directory made"
    assert list(scratch.glob("gongzhi-metrics-*")) == []
