"""Resetting the in-memory rate limiter while its store is expiring entries (tests reset it
between tests; an operator lifts a lock-out): nothing fails in the background."""

from __future__ import annotations

import asyncio

from portal.ratelimit import RateLimiter


async def test_reset_while_the_store_expires_entries_leaves_no_failed_task() -> None:
    limiter = RateLimiter("memory://")
    for n in range(50):
        await limiter.hit("5/minute", f"client-{n}")
    store = limiter._storage  # the store whose background expiry is running now
    await asyncio.sleep(0)  # the expiry task starts walking the keys, awaiting between them
    await limiter.reset()
    for _ in range(100):
        if store.timer is not None and store.timer.done():
            break
        await asyncio.sleep(0.01)
    assert store.timer is not None and store.timer.done()  # noqa: PT018
    assert store.timer.exception() is None
    # and the limiter counts afresh
    assert await limiter.count("5/minute", "client-1") == 0
    assert await limiter.hit("1/minute", "client-1")
    assert not await limiter.hit("1/minute", "client-1")
