"""Cached answers shared by every node through Redis (portal/cache.py, issue 18): two app
instances on one database and one Redis stand for two nodes behind nginx. A revocation on one
node is never answered from a copy by the other; deployments sharing a Redis keep apart by their
prefix; a Redis that is down or hangs leaves the pages served, computed without the cache."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client import REGISTRY

from credit import listing_cache
from portal.accounts.models import User
from portal.app import create_app
from portal.cache import CACHE_TIMEOUT_SECONDS, UNKNOWN, RedisCache
from portal.ratelimit import RateLimiter
from portal.settings import Settings
from tests.api.certificates.support import Issue
from tests.support import free_port, service_missing

# Database 5: apart from the rate-limit tests (0) and the scaled-out deployment (3).
REDIS = "redis://127.0.0.1:6379/5"
SECONDS = 30.0  # far longer than the test: whatever changes a copy here is an invalidation


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    probe = RedisCache(REDIS, "probe")
    if not await probe.reachable():
        service_missing(f"Redis is not reachable at {REDIS}")
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    yield prefix
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()
    await probe.close()


@asynccontextmanager
async def node(settings: Settings, **changes: object) -> AsyncIterator[httpx.AsyncClient]:
    """One app node: its own process state, the test's database, the cache ``changes`` name."""
    app = create_app(settings.model_copy(update={"page_cache_seconds": SECONDS, **changes}))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
            yield web


async def test_a_revocation_on_one_node_invalidates_the_page_on_the_other(
    settings: Settings,
    redis_prefix: str,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    created = await issue(number="SC-1")
    path = f"/v/{created['instrument']['sticker_token']}"
    headers = await auth_headers(institution_user)
    shared = {"cache_url": REDIS, "cache_prefix": redis_prefix}
    async with node(settings, **shared) as first, node(settings, **shared) as second:
        scanned = await second.get(path)
        assert 'data-status="valid"' in scanned.text
        assert "age" not in scanned.headers
        # The first node serves the second's copy: one render for the deployment.
        copy = await first.get(path)
        assert copy.headers["age"] == "0"
        assert copy.text == scanned.text

        revoked = await first.post(
            "/api/v1/certificates/SC-1/revoke", json={"reason": "误发"}, headers=headers
        )
        assert revoked.status_code == 200, revoked.text
        # Answered after the revocation: no node shows the copy from before it.
        for web in (second, first):
            after = await web.get(path)
            assert 'data-status="revoked"' in after.text
        assert "age" in (await second.get(path)).headers  # cached again, now revoked


async def test_without_a_shared_cache_the_other_node_keeps_its_copy(
    settings: Settings,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    """What the shared cache fixes: per-process copies (memory://, embedded mode) are not told
    of a write on another process (production refuses them with more than one process)."""
    created = await issue(number="SC-2")
    path = f"/v/{created['instrument']['sticker_token']}"
    headers = await auth_headers(institution_user)
    local = {"cache_url": "memory://"}
    async with node(settings, **local) as first, node(settings, **local) as second:
        assert 'data-status="valid"' in (await second.get(path)).text
        revoked = await first.post(
            "/api/v1/certificates/SC-2/revoke", json={"reason": "误发"}, headers=headers
        )
        assert revoked.status_code == 200, revoked.text
        assert 'data-status="revoked"' in (await first.get(path)).text
        stale = await second.get(path)
        assert 'data-status="valid"' in stale.text
        assert "age" in stale.headers


async def test_a_write_in_embedded_mode_invalidates_its_own_copy(
    settings: Settings,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
) -> None:
    created = await issue(number="SC-3")
    path = f"/v/{created['instrument']['sticker_token']}"
    headers = await auth_headers(institution_user)
    async with node(settings, cache_url="memory://") as only:
        assert 'data-status="valid"' in (await only.get(path)).text
        assert "age" in (await only.get(path)).headers
        revoked = await only.post(
            "/api/v1/certificates/SC-3/revoke", json={"reason": "误发"}, headers=headers
        )
        assert revoked.status_code == 200, revoked.text
        assert 'data-status="revoked"' in (await only.get(path)).text


async def test_deployments_sharing_a_redis_keep_apart_by_prefix(
    settings: Settings, redis_prefix: str, issue: Issue
) -> None:
    created = await issue(number="SC-4")
    path = f"/v/{created['instrument']['sticker_token']}"
    async with (
        node(settings, cache_url=REDIS, cache_prefix=redis_prefix + "-a") as one,
        node(settings, cache_url=REDIS, cache_prefix=redis_prefix + "-b") as other,
    ):
        await one.get(path)
        assert "age" in (await one.get(path)).headers
        assert "age" not in (await other.get(path)).headers  # not the other deployment's copy

    # Entries and generations: a write in one deployment leaves the other's entries alone.
    a, b = RedisCache(REDIS, redis_prefix + "-a"), RedisCache(REDIS, redis_prefix + "-b")
    try:
        generation, _ = await a.lookup("credit-totals:x")
        await listing_cache.store(a, "credit-totals:x", 7, 30, generation)
        assert (await listing_cache.lookup(b, "credit-totals:x"))[1] is None
        await b.changed()
        assert (await listing_cache.lookup(a, "credit-totals:x"))[1] == 7
        # Another node of deployment a sees the total, until a write there.
        a2 = RedisCache(REDIS, redis_prefix + "-a")
        assert (await listing_cache.lookup(a2, "credit-totals:x"))[1] == 7
        await a2.changed()
        assert (await listing_cache.lookup(a, "credit-totals:x"))[1] is None
        await a2.close()
    finally:
        await a.close()
        await b.close()


async def test_rate_limit_counters_keep_apart_by_prefix(redis_prefix: str) -> None:
    one = RateLimiter(REDIS, redis_prefix + "-a")
    other = RateLimiter(REDIS, redis_prefix + "-b")
    assert await one.hit("1/minute", "client")
    assert not await one.allowed("1/minute", "client")
    assert await other.allowed("1/minute", "client")  # the other deployment counts apart
    await other.reset()  # an operator's reset there leaves this deployment's counters
    assert not await one.allowed("1/minute", "client")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections and never answers: a Redis that hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize("store", ["refused", "silent"])
async def test_a_cache_that_is_down_or_hangs_still_serves_the_page(
    settings: Settings,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    silent_port: int,
    store: str,
) -> None:
    """A cache is optional: the page is computed (200, never a 500) within the cache's timeout,
    a write still answers, and the failure is counted."""
    created = await issue(number=f"SC-5{store}")
    path = f"/v/{created['instrument']['sticker_token']}"
    headers = await auth_headers(institution_user)
    port = free_port() if store == "refused" else silent_port
    before = _unavailable()
    async with node(settings, cache_url=f"redis://127.0.0.1:{port}/0") as web:
        started = time.monotonic()
        page = await web.get(path)
        assert time.monotonic() - started < CACHE_TIMEOUT_SECONDS + 1.5
        assert page.status_code == 200
        assert 'data-status="valid"' in page.text
        # Left alone for a while after a failure: no wait on the next requests.
        started = time.monotonic()
        for _ in range(3):
            assert (await web.get(path)).status_code == 200
        assert time.monotonic() - started < CACHE_TIMEOUT_SECONDS
        revoked = await web.post(
            f"/api/v1/certificates/SC-5{store}/revoke", json={"reason": "误发"}, headers=headers
        )
        assert revoked.status_code == 200, revoked.text
        assert 'data-status="revoked"' in (await web.get(path)).text
    assert _unavailable() > before
    assert await RedisCache(f"redis://127.0.0.1:{port}/0", "x").lookup("k") == (UNKNOWN, None)


def _unavailable() -> float:
    found = REGISTRY.get_sample_value("gongzhi_cache_unavailable_total", {"operation": "lookup"})
    return found or 0.0
