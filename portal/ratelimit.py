"""Rate limiting on the ``limits`` package, shared by every domain.

The storage is ``GONGZHI_RATE_LIMIT_STORAGE``: ``memory://`` (one process; the default in
development and tests) or a store that several server processes share (``redis://host:6379``, the
default in production; ``memcached://…``). Limits are strings
such as ``"10/15 minutes"`` or ``"5/minute;30/hour"``. ``RateLimited`` renders as 429
problem+json with ``Retry-After``. A shared store that is down or does not answer within
``STORE_TIMEOUT_SECONDS`` is ``RateLimiterUnavailable`` (503 with ``Retry-After``), never a 500 and
never a request let through uncounted.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import Request
from limits import RateLimitItem, parse, parse_many
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from limits.storage import StorageTypes, storage_from_string

from portal.errors import RateLimited, RateLimiterUnavailable
from portal.settings import trusted_networks

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# One call to a shared store (Redis), its client's retry included: a store that does not answer
# in this time is down. The client's own default is to wait without end, holding the request until
# the proxy gives up; its connect and command timeouts are half of this, so one retry fits.
STORE_TIMEOUT_SECONDS = 2.0


class RateLimiter:
    def __init__(self, storage_uri: str, prefix: str = "gongzhi") -> None:
        self._uri = storage_uri if storage_uri.startswith("async+") else "async+" + storage_uri
        # Every counter's key starts with the deployment's prefix (GONGZHI_CACHE_PREFIX), so two
        # deployments sharing one Redis count apart, and reset() empties only this one's.
        self._prefix = f"{prefix}:limits"
        self._in_memory = self._uri.startswith("async+memory")
        # Moving windows are exact in memory; shared stores use the cheaper sliding counter.
        self._strategy = (
            MovingWindowRateLimiter if self._in_memory else SlidingWindowCounterRateLimiter
        )
        self._storage = self._open()
        self._limiter = self._strategy(self._storage)

    def _open(self) -> StorageTypes:
        options: dict[str, float | str] = {}
        if self._uri.startswith(("async+redis", "async+rediss", "async+valkey")):
            options = {
                "connect_timeout": STORE_TIMEOUT_SECONDS / 2,
                "stream_timeout": STORE_TIMEOUT_SECONDS / 2,
                "key_prefix": self._prefix,
            }
        return storage_from_string(self._uri, wrap_exceptions=True, **options)

    @asynccontextmanager
    async def _answered(self) -> AsyncIterator[None]:
        try:
            async with asyncio.timeout(STORE_TIMEOUT_SECONDS):
                yield
        except (StorageError, TimeoutError) as exc:
            raise RateLimiterUnavailable(
                "The rate-limit store does not answer; retry in a few seconds.",
                detail_zh="限流服务暂时没有响应，请几秒后重试。",
                headers={"Retry-After": "5"},
            ) from exc

    async def allowed(self, limit: str | RateLimitItem, *keys: str) -> bool:
        """Whether one more hit would be within the limit (does not count a hit)."""
        async with self._answered():
            return await self._limiter.test(_item(limit), *keys)

    async def hit(self, limit: str | RateLimitItem, *keys: str) -> bool:
        """Count one hit; False if the limit was already reached."""
        async with self._answered():
            return await self._limiter.hit(_item(limit), *keys)

    async def clear(self, limit: str | RateLimitItem, *keys: str) -> None:
        async with self._answered():
            await self._limiter.clear(_item(limit), *keys)

    async def count(self, limit: str | RateLimitItem, *keys: str) -> int:
        """Hits counted in the limit's current window."""
        item = _item(limit)
        async with self._answered():
            stats = await self._limiter.get_window_stats(item, *keys)
        return item.amount - stats.remaining

    async def reachable(self) -> bool:
        """Whether the storage answers (readiness: a shared store may be down)."""
        try:
            async with asyncio.timeout(STORE_TIMEOUT_SECONDS):
                return bool(await self._storage.check())  # type: ignore[misc]  # async storage
        except (StorageError, TimeoutError):
            return False

    async def reset(self) -> None:
        """Forget every counter (tests, and an operator lifting a lock-out).

        In memory, a new store replaces the old one rather than emptying it: limits' memory
        store expires entries in a background task that reads a key after awaiting its lock, and
        a ``reset()`` in between made that task fail with a KeyError (limits 5.8)."""
        if self._in_memory:
            self._storage = self._open()
            self._limiter = self._strategy(self._storage)
            return
        async with self._answered():
            await self._storage.reset()  # type: ignore[misc]

    async def retry_after(self, limit: str | RateLimitItem, *keys: str) -> int:
        async with self._answered():
            stats = await self._limiter.get_window_stats(_item(limit), *keys)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def enforce(self, limits: str | RateLimitItem, *keys: str) -> None:
        """Count a hit against each limit (``"5/minute;30/hour"``) or raise ``RateLimited``."""
        items = parse_many(limits) if isinstance(limits, str) else [limits]
        for item in items:
            if not await self.hit(item, *keys):
                seconds = await self.retry_after(item, *keys)
                raise RateLimited(
                    f"At most {item}; retry in {seconds} seconds.",
                    detail_zh=f"请求过于频繁（上限 {item}），请 {seconds} 秒后再试。",
                    headers={"Retry-After": str(seconds)},
                    retry_after=seconds,
                )


def _item(limit: str | RateLimitItem) -> RateLimitItem:
    return parse(limit) if isinstance(limit, str) else limit


def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


def client_ip(request: Request) -> str:
    """The address every per-client limit counts by: the peer, unless the peer is one of
    ``GONGZHI_TRUSTED_PROXIES`` (empty by default), in which case the nearest address in
    ``X-Forwarded-For`` that is not itself a trusted proxy. ``gongzhi serve`` gives uvicorn the
    same list, and applying the rule to an address uvicorn already resolved changes nothing."""
    peer = request.client.host if request.client else "unknown"
    trusted = trusted_networks(request.app.state.settings.trusted_proxies)
    return forwarded_client(peer, request.headers.get("x-forwarded-for"), trusted)


def forwarded_client(peer: str, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    if not _is_trusted(peer, trusted) or not forwarded_for:
        return peer
    # Each proxy appends the address it received from: walk back from the nearest hop and stop at
    # the first one no trusted proxy vouches for. Entries left of it are the client's own words.
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _is_trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
