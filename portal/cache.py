"""The one cache of answers computed from data that can change: the page cache's anonymous public
answers (portal/pagecache.py) and the credit list's totals and pages (credit/listing_cache.py).

Two stores with one interface:
- ``LocalCache``, in this process's memory: embedded mode (one server process, ``make run``,
  SQLite), development and tests; no Redis needed;
- ``RedisCache``, in Redis (``GONGZHI_CACHE_URL``; in production the rate limiter's Redis by
  default): every server process and node reads and fills the same entries, so what one node
  invalidates no node serves.

Invalidation is a **generation**: every entry is stored with the generation it was computed in,
and a transaction that changed public data (any table but the bookkeeping ones in
``BOOKKEEPING_TABLES``) bumps it after its commit and before its answer is sent
(``portal.db.Database.transaction``). A lookup reads the generation and the entry in one round
trip and treats an entry of an older generation as missing; an answer computed while a write
committed carries the generation read before it began, so it is never kept as current. The
entries' own few seconds (``GONGZHI_PAGE_CACHE_SECONDS``, ``GONGZHI_CREDIT_LIST_*_SECONDS``)
bound whatever a write made without going through a session (a raw SQL statement, the search
engine's index) could leave.

Keys carry ``GONGZHI_CACHE_PREFIX`` (by default ``gongzhi:<database name>``), so deployments sharing
one Redis never see each other's entries or generation.

A cache is optional: a Redis that refuses, fails or does not answer within
``CACHE_TIMEOUT_SECONDS`` makes the lookup a miss that cannot be stored (the answer is computed, as
without a cache), logged once (``cache_unavailable``) and counted
(``gongzhi_cache_unavailable_total``); it is then left alone for ``RETRY_SECONDS`` so that a
hanging Redis does not add its timeout to every request. Never a 500, never a wait past the
timeout.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections import OrderedDict
from typing import Annotated, Protocol

import structlog
from fastapi import Depends, Request
from prometheus_client import Counter

# Tables whose writes change no public answer: the outbox's own state (a worker updates it
# every second), the audit log, login state and idempotency records; and the complaints and
# reports citizens file (the case, its parties, events and photos), which only the complainant
# and handling staff ever see, on pages that are never cached. What a concluded case changes in
# public (a credit grade, a risk score, a notice) is written to that domain's own tables, which
# do invalidate. Without this, the steady flow of submissions in a busy hour emptied every cached
# sticker page and credit page several times a second (bench/load.py: 237 reads/s at 2 cases/s
# against 1,470 at 0.1). A write to any other table invalidates every cached answer.
BOOKKEEPING_TABLES = frozenset(
    {
        "outbox_event",
        "audit_entry",
        "revoked_token",
        "user_account",
        "case_idempotency",
        "case_tracking_counter",
        "complaint_case",
        "case_party",
        "case_event",
        "case_media",
    }
)
# Set in a request's scope by a read on the read replica (portal/db.py get_read_session): what the
# request answers may be from before a write the primary has committed, and moved the generation
# for, already, so neither the page cache nor the credit list keeps it as current.
READ_ON_REPLICA = "gongzhi.read_on_replica"
# One Redis call, connection included. Well under the ~2 s a public answer may wait for a cache
# (a page computed without it takes milliseconds).
CACHE_TIMEOUT_SECONDS = 0.5
# After a failure, Redis is not asked again for this long: every lookup is a miss meanwhile.
RETRY_SECONDS = 5.0
# The generation read when none could be: nothing computed then is stored.
UNKNOWN = -1

UNAVAILABLE = Counter(
    "gongzhi_cache_unavailable",
    "Cache operations that found the shared cache (Redis) down or not answering, by operation; "
    "the answer was computed without the cache.",
    ["operation"],
)
_log = structlog.get_logger("portal.cache")
_HEADER = struct.Struct(">q")  # the generation an entry was computed in, before its bytes


class Cache(Protocol):
    """What the page cache and the credit list need of a store."""

    shared: bool  # seen by every server process (Redis), or this process's own

    async def lookup(self, key: str) -> tuple[int, bytes | None]:
        """(the current generation, the entry of that generation or None); ``UNKNOWN`` and None
        when the store cannot answer."""
        ...

    async def store(self, key: str, value: bytes, seconds: float, generation: int) -> None:
        """Keep ``value`` for ``seconds``, computed in ``generation`` (as ``lookup`` gave it)."""
        ...

    async def changed(self) -> None:
        """Public data changed: no entry stored before this is served again."""
        ...

    async def reachable(self) -> bool: ...

    async def close(self) -> None: ...


class LocalCache:
    """This process's own entries: bounded (least recently used dropped first)."""

    shared = False

    def __init__(self, max_entries: int = 4096, max_bytes: int = 32 * 1024 * 1024) -> None:
        self.generation = 0
        self._entries: OrderedDict[str, tuple[float, int, bytes]] = OrderedDict()
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._size = 0

    async def lookup(self, key: str) -> tuple[int, bytes | None]:
        found = self._entries.get(key)
        if found is None:
            return self.generation, None
        expires, generation, value = found
        if generation != self.generation or time.monotonic() >= expires:
            self._drop(key)
            return self.generation, None
        self._entries.move_to_end(key)
        return self.generation, value

    async def store(self, key: str, value: bytes, seconds: float, generation: int) -> None:
        if seconds <= 0 or generation != self.generation:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = (time.monotonic() + seconds, generation, value)
        self._size += len(key) + len(value)
        while len(self._entries) > self._max_entries or self._size > self._max_bytes:
            old, (_, _, old_value) = self._entries.popitem(last=False)
            self._size -= len(old) + len(old_value)

    async def changed(self) -> None:
        self.generation += 1
        self._entries.clear()
        self._size = 0

    async def reachable(self) -> bool:
        return True

    async def close(self) -> None:
        self._entries.clear()
        self._size = 0

    def _drop(self, key: str) -> None:
        _, _, value = self._entries.pop(key)
        self._size -= len(key) + len(value)


class RedisCache:
    """Entries in Redis under ``prefix``, shared by every process of the deployment."""

    shared = True

    def __init__(self, url: str, prefix: str) -> None:
        # redis-py's asyncio client: 140 µs of CPU per MGET on this machine against coredis's
        # 190 µs (the limits package's default client), and a hit costs one.
        from redis.asyncio import Redis

        self._client = Redis.from_url(
            url,
            socket_connect_timeout=CACHE_TIMEOUT_SECONDS,
            socket_timeout=CACHE_TIMEOUT_SECONDS,
            retry_on_timeout=False,
            decode_responses=False,
        )
        self.prefix = prefix
        self._generation_key = f"{prefix}:generation"
        self._resting_until = 0.0  # after a failure: not asked again before this (monotonic)

    def _key(self, key: str) -> str:
        return f"{self.prefix}:{key}"

    def _resting(self) -> bool:
        return time.monotonic() < self._resting_until

    def _failed(self, operation: str, error: BaseException) -> None:
        UNAVAILABLE.labels(operation).inc()
        if not self._resting():
            _log.warning("cache_unavailable", operation=operation, error=repr(error))
        self._resting_until = time.monotonic() + RETRY_SECONDS

    async def lookup(self, key: str) -> tuple[int, bytes | None]:
        if self._resting():
            UNAVAILABLE.labels("lookup").inc()
            return UNKNOWN, None
        try:
            async with asyncio.timeout(CACHE_TIMEOUT_SECONDS):
                found = await self._client.mget([self._generation_key, self._key(key)])
            generation, entry = found
        except (Exception, TimeoutError) as error:  # a cache never fails the request
            self._failed("lookup", error)
            return UNKNOWN, None
        current = int(generation) if generation is not None else 0
        if not isinstance(entry, bytes) or len(entry) < _HEADER.size:
            return current, None
        if _HEADER.unpack_from(entry)[0] != current:
            return current, None
        return current, bytes(entry[_HEADER.size :])

    async def store(self, key: str, value: bytes, seconds: float, generation: int) -> None:
        milliseconds = int(seconds * 1000)
        if generation == UNKNOWN or milliseconds <= 0 or self._resting():
            return
        try:
            async with asyncio.timeout(CACHE_TIMEOUT_SECONDS):
                await self._client.set(
                    self._key(key), _HEADER.pack(generation) + value, px=milliseconds
                )
        except (Exception, TimeoutError) as error:
            self._failed("store", error)

    async def changed(self) -> None:
        # Tried even while resting: a write must reach the other nodes whenever it can.
        try:
            async with asyncio.timeout(CACHE_TIMEOUT_SECONDS):
                await self._client.incr(self._generation_key)
        except (Exception, TimeoutError) as error:
            self._failed("changed", error)

    async def reachable(self) -> bool:
        try:
            async with asyncio.timeout(CACHE_TIMEOUT_SECONDS):
                return bool(await self._client.ping())
        except (Exception, TimeoutError):
            return False

    async def close(self) -> None:
        await self._client.aclose()


def open_cache(url: str, prefix: str) -> Cache:
    """``memory://`` (this process) or ``redis://…`` / ``rediss://…`` (shared)."""
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisCache(url, prefix)
    if url.startswith("memory://"):
        return LocalCache()
    raise ValueError(f"GONGZHI_CACHE_URL: {url!r} is neither memory:// nor redis://…")


async def get_cache(request: Request) -> Cache:
    cache: Cache = request.app.state.cache
    return cache


CacheDep = Annotated[Cache, Depends(get_cache)]
