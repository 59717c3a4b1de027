"""A few seconds of shared cache for what anyone may see: the reverse-proxy cache inside the app.

A page or API that answers an anonymous request with ``Cache-Control: public, max-age=N``
(``portal.web.public_page``, the certificate lookup's ``cached_json``) has already said that a
browser or a CDN may keep it for N seconds. When a news story or a sticker campaign sends the same
URL thousands of times a minute and no CDN stands in front, each worker keeps that answer for
``GONGZHI_PAGE_CACHE_SECONDS`` (5 by default, never longer than the response's own max-age) and
serves it without running the page again.

What is stored and served, and why it cannot leak a personal page:
- only GET requests with no ``Cookie``, no ``Authorization`` and no conditional or ``Range`` header are
  served from the cache or stored (a logged-in user or a conditional request goes to the app,
  which answers them as before, 304 included);
- only responses that say ``public`` in ``Cache-Control`` (a personal page says
  ``private, no-store``), with status 200 or 404, no ``Set-Cookie``, and a body under
  ``MAX_BODY`` bytes;
- the key is the exact path and query string with the ``Host`` and ``X-Forwarded-Host`` /
  ``-Proto`` headers (a page may write absolute links from them: a request with a forged host
  must not leave its links in the copy others get) and ``Origin`` (the CORS headers follow it);
  a response whose ``Vary`` names any other request header is not kept; the headers are the app's own (the request id and
  security headers are added around this cache, per response); an ``Age`` header says how old a
  served copy is, as HTTP caches do (RFC 9111 §5.1).

One URL, one run: when many requests for the same URL arrive together (the moment a copy
expires, or the first scans after a start), one of them runs the page and the others wait for its
answer (at most ``WAIT_SECONDS``) instead of all running it at once; an expired copy is served to
them meanwhile if it is still fresh by the response's own ``max-age`` (RFC 9111 §4.2: a copy
younger than its max-age may be served without asking the origin). On 64 connections asking for
the credit list at 100,000 grades, every expiry had set 64 renders and counts going at once.
A URL whose answer could not be kept (private, a cookie set, too large) is remembered as such for
the same few seconds, so its requests go straight to the app instead of queueing behind each other.

Bounded: at most ``max_entries`` answers and ``max_bytes`` of keys, headers and bodies together
(least recently used dropped first): distinct query strings cost nothing to make, and 2048
answers of up to 256 KiB each would be half a gigabyte per worker.

Where the answers live is ``portal/cache.py``'s choice (``GONGZHI_CACHE_URL``): in this process
(embedded mode, one server process; the entries above) or in Redis, shared by every process and
node (scaled out: one node's answer serves the others, and a write on any node invalidates every
node's copy before its own answer is sent). Either way a committed write to public data moves the
cache's generation and no answer of an older generation is served again, nor the answer of a
request that began before the write. A Redis that is down or does not answer is a miss: the page
is run as without a cache (``gongzhi_cache_unavailable_total``), never a 500 or a wait past
``portal.cache.CACHE_TIMEOUT_SECONDS``. One URL, one run holds per process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from time import monotonic  # a name of its own: the tests move this clock, not the event loop's

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.cache import READ_ON_REPLICA, UNKNOWN, Cache, LocalCache
from portal.metrics import ROUTE, route_of

MAX_BODY = 256 * 1024
MAX_BYTES = 32 * 1024 * 1024
# A credential, or a request whose answer depends on what the client holds (conditional or
# partial: a 304 or a 206 is its own answer, not the page's).
_BYPASS_HEADERS = {
    b"cookie",
    b"authorization",
    b"if-none-match",
    b"if-modified-since",
    b"if-match",
    b"if-unmodified-since",
    b"if-range",
    b"range",
}
_STORED_STATUSES = {200, 404}
# Request headers a page may read to write its links (request.url_for), and the Origin the CORS
# middleware answers with Access-Control-Allow-Origin (or without): part of the key.
_KEY_HEADERS = (b"host", b"x-forwarded-host", b"x-forwarded-proto", b"origin")
# Per answer, never replayed: the request id is given to each response around this cache.
_PER_RESPONSE_HEADERS = {b"x-request-id", b"date"}
# How long a request waits for another one running the same URL before it runs it itself.
WAIT_SECONDS = 10.0


@dataclass(frozen=True)
class _Entry:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    stored_at: float
    expires_at: float  # served without asking the app until then (the cache's own few seconds)
    # the response's own max-age: still served while another request refreshes it
    fresh_until: float
    size: int
    route: str  # the template of the route that answered, for the request metrics of a replay
    generation: int = 0  # the cache's generation when it was asked for (portal/cache.py)


def _encode(entry: _Entry) -> bytes:
    """An answer as Redis keeps it: its metadata as one JSON line, then its body."""
    meta = {
        "s": entry.status,
        "h": [[name.decode("latin-1"), value.decode("latin-1")] for name, value in entry.headers],
        "t": entry.stored_at,
        "r": entry.route,
    }
    return orjson.dumps(meta) + b"\n" + entry.body


def _decode(raw: bytes) -> _Entry | None:
    meta_line, _, body = raw.partition(b"\n")
    try:
        meta = orjson.loads(meta_line)
        headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in meta["h"]]
        return _Entry(
            status=int(meta["s"]),
            headers=headers,
            body=body,
            stored_at=float(meta["t"]),
            expires_at=0.0,  # Redis expires it
            fresh_until=0.0,
            size=len(raw),
            route=str(meta["r"]),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return None  # not ours (a store shared by mistake): a miss


def _varies_beyond_key(value: bytes) -> bool:
    """Whether a ``Vary`` header names a request header the key does not hold (a request with a
    cookie or a credential never reaches the cache, so those count as held)."""
    names = {name.strip().lower() for name in value.split(b",")}
    return bool(names - set(_KEY_HEADERS) - _BYPASS_HEADERS - {b""})


def _public_max_age(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The max-age of a response that says ``public``; None for anything else."""
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"set-cookie" or (lowered == b"vary" and _varies_beyond_key(value)):
            return None
    for name, value in headers:
        if name.lower() != b"cache-control":
            continue
        directives = [d.strip() for d in value.decode("latin-1").lower().split(",")]
        if "public" not in directives or "no-store" in directives or "private" in directives:
            return None
        # s-maxage is the age a shared cache (this one) may keep; max-age is for browsers.
        for prefix in ("s-maxage=", "max-age="):
            for directive in directives:
                if directive.startswith(prefix):
                    try:
                        return int(directive[len(prefix) :])
                    except ValueError:
                        return None
    return None


class PageCache:
    def __init__(
        self,
        app: ASGIApp,
        *,
        seconds: float,
        max_entries: int = 2048,
        max_bytes: int = MAX_BYTES,
        cache: Cache | None = None,
    ) -> None:
        self.app = app
        self.seconds = seconds
        # Shared (Redis): answers live there. In this process: the entries below, valid while
        # their generation is the local cache's.
        self.cache: Cache = cache if cache is not None else LocalCache()
        self._local = self.cache if isinstance(self.cache, LocalCache) else None
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.size = 0  # bytes held: keys, headers and bodies
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        # URLs a request is running now: the others wait for it (set when it is done).
        self._running: dict[bytes, asyncio.Event] = {}
        # URLs whose last answer could not be kept, until when: run without waiting.
        self._not_kept: OrderedDict[bytes, float] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.seconds <= 0
            or scope["type"] != "http"
            or scope["method"] != "GET"
            or any(name in _BYPASS_HEADERS for name, _ in scope["headers"])
        ):
            await self.app(scope, receive, send)
            return
        key = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            key += b"?" + scope["query_string"]
        for name, value in scope["headers"]:
            if name in _KEY_HEADERS:
                key += b"\n" + name + b":" + value
        if self._local is None:
            await self._shared(key, scope, receive, send)
            return
        generation = self._local.generation
        now = monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry.generation != generation:
            self._drop(key)  # a write committed since it was asked for
            entry = None
        if entry is not None and entry.expires_at > now:
            await self._serve(key, entry, now, scope, send)
            return
        running = self._running.get(key)
        if running is not None:
            if entry is not None and entry.fresh_until > now:
                await self._serve(key, entry, now, scope, send)
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(running.wait(), WAIT_SECONDS)
            now = monotonic()
            entry = self._entries.get(key)
            if entry is not None and entry.generation != self._local.generation:
                entry = None
            # The answer it waited for, or a copy still fresh by its own max-age (an answer that
            # took longer than the cache's few seconds to come is stored already expired).
            if entry is not None and entry.fresh_until > now:
                await self._serve(key, entry, now, scope, send)
                return
            await self.app(scope, receive, send)
            return
        not_kept_until = self._not_kept.get(key)
        if not_kept_until is not None:
            if not_kept_until > now:
                await self.app(scope, receive, send)
                return
            del self._not_kept[key]
        if entry is not None and entry.fresh_until <= now:
            self._drop(key)
            entry = None
        running = self._running[key] = asyncio.Event()
        try:
            await self._store_while_sending(
                key, scope, receive, send, running, entry, now, generation
            )
        finally:
            # The page failed or its client went away before its answer was known: whoever
            # waits for it runs the page itself.
            self._release(key, running)

    async def _shared(self, key: bytes, scope: Scope, receive: Receive, send: Send) -> None:
        """The same rules with the answers in Redis, read and filled by every node."""
        name = "page:" + hashlib.sha256(key).hexdigest()
        generation, raw = await self.cache.lookup(name)
        entry = _decode(raw) if raw is not None else None
        if entry is not None:
            await self._serve_shared(entry, scope, send)
            return
        if generation == UNKNOWN:  # the cache is down: the page as without one
            await self.app(scope, receive, send)
            return
        running = self._running.get(key)
        if running is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(running.wait(), WAIT_SECONDS)
            _, raw = await self.cache.lookup(name)
            entry = _decode(raw) if raw is not None else None
            if entry is not None:
                await self._serve_shared(entry, scope, send)
                return
            await self.app(scope, receive, send)
            return
        now = monotonic()
        not_kept_until = self._not_kept.get(key)
        if not_kept_until is not None:
            if not_kept_until > now:
                await self.app(scope, receive, send)
                return
            del self._not_kept[key]
        running = self._running[key] = asyncio.Event()
        try:
            await self._store_while_sending(
                key, scope, receive, send, running, None, time.time(), generation, shared=name
            )
        finally:
            self._release(key, running)

    async def _serve_shared(self, entry: _Entry, scope: Scope, send: Send) -> None:
        scope[ROUTE] = entry.route
        await self._replay(entry, time.time(), send)

    def _release(self, key: bytes, running: asyncio.Event) -> None:
        """The answer of the request running ``key`` is known (kept or not): let the others go,
        before it is sent, so that a client slow to read it keeps nobody waiting."""
        if self._running.get(key) is running:
            del self._running[key]
        running.set()

    def _not_keeping(self, key: bytes, stale: _Entry | None) -> None:
        # The expired copy served meanwhile must not outlive an answer that is no longer kept
        # (the page became personal, or sets a cookie now).
        if stale is not None and self._entries.get(key) is stale:
            self._drop(key)
        self._not_kept[key] = monotonic() + self.seconds
        self._not_kept.move_to_end(key)
        while len(self._not_kept) > self.max_entries:
            self._not_kept.popitem(last=False)

    async def _serve(self, key: bytes, entry: _Entry, now: float, scope: Scope, send: Send) -> None:
        self._entries.move_to_end(key)
        scope[ROUTE] = entry.route
        await self._replay(entry, now, send)

    async def _replay(self, entry: _Entry, now: float, send: Send) -> None:
        age = str(max(0, int(now - entry.stored_at))).encode()
        await send(
            {
                "type": "http.response.start",
                "status": entry.status,
                "headers": [*entry.headers, (b"age", age)],
            }
        )
        await send({"type": "http.response.body", "body": entry.body})

    async def _store_while_sending(
        self,
        key: bytes,
        scope: Scope,
        receive: Receive,
        send: Send,
        running: asyncio.Event,
        stale: _Entry | None,
        asked_at: float,
        generation: int,
        shared: str | None = None,
    ) -> None:
        """Run the app, send its answer and keep it when it may be kept.

        While the answer may still be kept, its messages are held back (at most ``MAX_BODY``)
        and sent once it is stored or known not to be: sending a part to a client that does not
        read would stop the page from sending its next one, and everyone waiting for this URL
        with it."""
        started: Message | None = None
        chunks: list[bytes] = []
        held: list[Message] = []
        size = 0
        max_age: int | None = None

        def failed() -> None:
            # An error or a redirect says nothing about the page for everyone else (a pool
            # timeout under load, a client's own rate limit): the waiters run it themselves, the
            # copy still within its max-age stays, and the URL is not marked as never kept.
            nonlocal max_age
            max_age = None
            self._release(key, running)

        def not_kept() -> None:
            self._not_keeping(key, stale)
            failed()

        async def capture(message: Message) -> None:
            nonlocal started, size, max_age
            if message["type"] == "http.response.start":
                started = message
                if message["status"] in _STORED_STATUSES:
                    max_age = _public_max_age(list(message.get("headers", [])))
                    if max_age is None:
                        not_kept()
                else:
                    failed()
            elif message["type"] == "http.response.body" and max_age is not None:
                body = message.get("body", b"")
                size += len(body)
                if size > MAX_BODY:
                    not_kept()
                else:
                    chunks.append(body)
                    if not message.get("more_body", False) and started is not None:
                        if scope.get(READ_ON_REPLICA):
                            # Possibly from before a write: served to this one, kept for none.
                            failed()
                            return await _flush(message)
                        route = route_of(scope)
                        body = b"".join(chunks)
                        if shared is not None:
                            kept = await self._put_shared(
                                shared, started, body, max_age, route, asked_at, generation
                            )
                        else:
                            kept = self._put(
                                key, started, body, max_age, route, asked_at, generation
                            )
                        if kept:
                            max_age = None
                            self._release(key, running)
                        else:
                            not_kept()
            if max_age is not None:
                held.append(message)  # still deciding whether to keep it
                return
            await _flush(message)

        async def _flush(message: Message) -> None:
            while held:
                await send(held.pop(0))
            await send(message)

        await self.app(scope, receive, capture)
        while held:  # an app that ended without its last part
            await send(held.pop(0))

    async def _put_shared(
        self,
        name: str,
        started: Message,
        body: bytes,
        max_age: int,
        route: str,
        asked_at: float,
        generation: int,
    ) -> bool:
        """Keep an answer in Redis for what is left of its few seconds (wall clock: the nodes
        share it). Stored under the generation read before the page ran, so an answer that a
        write overtook is never served as current."""
        now = time.time()
        ttl = min(self.seconds, max_age) - (now - asked_at)
        headers = _kept_headers(started)
        size = len(name) + len(body) + sum(len(n) + len(v) for n, v in headers)
        if ttl <= 0 or size > self.max_bytes:
            return False
        entry = _Entry(
            status=started["status"],
            headers=headers,
            body=body,
            stored_at=asked_at,
            expires_at=0.0,
            fresh_until=0.0,
            size=size,
            route=route,
        )
        await self.cache.store(name, _encode(entry), ttl, generation)
        return True

    def _put(
        self,
        key: bytes,
        started: Message,
        body: bytes,
        max_age: int,
        route: str,
        asked_at: float,
        generation: int,
    ) -> bool:
        """Keep an answer asked for at ``asked_at``: its age counts from then, not from when it
        was complete (RFC 9111 §4.2.3), so a page slow to render is not served for its whole
        max-age on top of the time it took."""
        ttl = min(self.seconds, max_age)
        if ttl <= 0:
            return False
        if self._local is not None and generation != self._local.generation:
            return False  # a write committed while it ran: the answer may be from before it
        now = monotonic()
        if asked_at + max_age <= now:
            return False  # already as old as its max-age allows
        headers = _kept_headers(started)
        size = len(key) + len(body) + sum(len(name) + len(value) for name, value in headers)
        if size > self.max_bytes:
            return False
        if key in self._entries:
            self._drop(key)
        self._entries[key] = _Entry(
            status=started["status"],
            headers=headers,
            body=body,
            stored_at=asked_at,
            expires_at=asked_at + ttl,
            fresh_until=asked_at + max_age,
            size=size,
            route=route,
            generation=generation,
        )
        self.size += size
        while len(self._entries) > self.max_entries or self.size > self.max_bytes:
            self.size -= self._entries.popitem(last=False)[1].size
        return True

    def _drop(self, key: bytes) -> None:
        self.size -= self._entries.pop(key).size


def _kept_headers(started: Message) -> list[tuple[bytes, bytes]]:
    return [
        (name, value)
        for name, value in started.get("headers", [])
        if name.lower() not in _PER_RESPONSE_HEADERS
    ]
