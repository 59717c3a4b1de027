"""The page cache (portal/pagecache.py) on the pages it serves most: an anonymous scan of a
sticker is answered from memory for a few seconds, never someone's personal page, and a
revocation shows once the few seconds are over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from asgi_lifespan import LifespanManager
from starlette.types import Message, Receive, Scope, Send

from portal.accounts.models import Role, User
from portal.app import create_app
from portal.cache import READ_ON_REPLICA
from portal.pagecache import PageCache
from portal.settings import Settings
from tests.api.certificates.support import Issue
from tests.support import TEST_PASSWORD

TTL = 1.0


@pytest.fixture
async def cached(settings: Settings, clock: list[float]) -> AsyncIterator[httpx.AsyncClient]:
    """Another worker on the same database, with the page cache on. Its copies expire when the
    test moves the cache's clock (``clock``), never while a slow request of a loaded machine
    runs: a revocation taking longer than TTL made the copy of a moment ago a new page."""
    app = create_app(settings.model_copy(update={"page_cache_seconds": TTL}))
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
            yield web


async def test_an_anonymous_scan_is_served_from_memory_until_the_ttl_ends(
    client: httpx.AsyncClient,
    cached: httpx.AsyncClient,
    issue: Issue,
    institution_user: User,
    auth_headers: Callable[[User], Awaitable[dict[str, str]]],
    clock: list[float],
) -> None:
    created = await issue(number="PC-1")
    path = f"/v/{created['instrument']['sticker_token']}"
    # Signed in before the first scan: the copy's second counts from when that scan was asked for.
    headers = await auth_headers(institution_user)
    first = await cached.get(path)
    assert 'data-status="valid"' in first.text
    assert "age" not in first.headers
    assert first.headers["cache-control"] == "public, max-age=60"

    await client.post(
        "/api/v1/certificates/PC-1/revoke",
        json={"reason": "误发"},
        headers=headers,
    )
    again = await cached.get(path)
    assert again.text == first.text  # the copy of a moment ago
    assert again.headers["age"] == "0"
    assert again.headers["etag"] == first.headers["etag"]
    # each answer still has its own request id and the security headers
    assert again.headers["x-request-id"] != first.headers["x-request-id"]
    assert again.headers["x-content-type-options"] == "nosniff"

    clock[0] += TTL + 0.1
    later = await cached.get(path)
    assert 'data-status="revoked"' in later.text
    assert "age" not in later.headers


async def test_logged_in_and_conditional_requests_go_to_the_app(
    cached: httpx.AsyncClient, make_user: Callable[..., Awaitable[User]]
) -> None:
    anonymous = await cached.get("/")
    assert (await cached.get("/")).headers.get("age") == "0"
    user = await make_user(Role.citizen)
    login = await cached.post(
        "/login", data={"email": user.email, "password": TEST_PASSWORD, "next": "/"}
    )
    assert login.status_code == 303
    mine = await cached.get("/")
    assert "age" not in mine.headers
    assert mine.headers["cache-control"] == "private, no-store"
    assert user.display_name in mine.text and mine.text != anonymous.text  # noqa: PT018
    cached.cookies.clear()
    conditional = await cached.get("/", headers={"If-None-Match": anonymous.headers["etag"]})
    assert conditional.status_code == 304
    assert "age" not in conditional.headers


async def test_each_query_string_is_its_own_entry(cached: httpx.AsyncClient) -> None:
    one = await cached.get("/credit", params={"q": "甲乙丙"})
    other = await cached.get("/credit", params={"q": "丁戊己"})
    assert one.status_code == other.status_code == 200
    assert "甲乙丙" in one.text and "甲乙丙" not in other.text  # noqa: PT018
    assert (await cached.get("/credit", params={"q": "甲乙丙"})).text == one.text
    assert (await cached.get("/credit", params={"q": "丁戊己"})).headers.get("age") == "0"


class _Origin:
    """An app whose every answer differs, with the headers a test asks for."""

    def __init__(self, headers: list[tuple[bytes, bytes]], status: int = 200) -> None:
        self.headers = headers
        self.status = status
        self.calls = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": str(self.calls).encode()})


async def _get(app: PageCache, path: str) -> bytes:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as web:
        return (await web.get(path)).content


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ([(b"cache-control", b"private, no-store")], 200),
        ([(b"cache-control", b"public, max-age=60"), (b"set-cookie", b"a=b")], 200),
        ([(b"cache-control", b"public, max-age=0")], 200),
        ([(b"cache-control", b"public, no-store, max-age=60")], 200),
        ([], 200),
        ([(b"cache-control", b"public, max-age=60")], 500),
        ([(b"cache-control", b"public, max-age=60")], 303),
    ],
)
async def test_only_public_answers_are_kept(
    headers: list[tuple[bytes, bytes]], status: int
) -> None:
    origin = _Origin(headers, status)
    cache = PageCache(origin, seconds=5)
    assert await _get(cache, "/p") == b"1"
    assert await _get(cache, "/p") == b"2"


async def test_the_cache_is_bounded_least_recently_used_first() -> None:
    origin = _Origin([(b"cache-control", b"public, max-age=60")])
    cache = PageCache(origin, seconds=5, max_entries=2)
    assert await _get(cache, "/a") == b"1"
    assert await _get(cache, "/b") == b"2"
    assert await _get(cache, "/a") == b"1"  # kept, and now the most recent
    assert await _get(cache, "/c") == b"3"  # /b goes
    assert await _get(cache, "/a") == b"1"
    assert await _get(cache, "/b") == b"4"


async def test_public_api_answers_are_kept_and_their_errors_are_not(
    cached: httpx.AsyncClient,
) -> None:
    found = await cached.get("/api/v1/search", params={"q": "计量"})
    assert found.status_code == 200
    assert found.headers["cache-control"] == "public, max-age=60"
    assert (await cached.get("/api/v1/search", params={"q": "计量"})).headers.get("age") == "0"
    missing = await cached.get("/api/v1/credit/enterprises/91110000000000000X")
    assert missing.status_code in (404, 422)
    assert "public" not in missing.headers.get("cache-control", "")
    assert "age" not in (await cached.get("/api/v1/credit/enterprises/91110000000000000X")).headers


async def test_a_forged_host_does_not_reach_other_visitors(cached: httpx.AsyncClient) -> None:
    """Web cache poisoning: a page that writes absolute links from the request's host must not
    keep an attacker's host in the copy served to everyone else."""
    forged = await cached.get("/", headers={"Host": "evil.example"})
    forged_forwarded = await cached.get("/", headers={"X-Forwarded-Host": "evil.example"})
    honest = await cached.get("/")
    assert "age" not in honest.headers  # not the forged requests' copy
    assert forged.status_code == forged_forwarded.status_code == 200


async def test_each_origin_gets_its_own_cors_answer(settings: Settings) -> None:
    """CORS headers follow the request's Origin (the browser app on GONGZHI_CORS_ORIGINS gets
    Access-Control-Allow-Origin, others none): a copy made for one origin, or for none, must not
    be served to another, whose browser would then refuse the answer or be allowed it wrongly."""
    app = create_app(
        settings.model_copy(
            update={"page_cache_seconds": TTL, "cors_origins": "https://app.example"}
        )
    )
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as web:
            page = "/"
            plain = await web.get(page)
            assert "access-control-allow-origin" not in plain.headers
            app_origin = await web.get(page, headers={"Origin": "https://app.example"})
            assert app_origin.headers["access-control-allow-origin"] == "https://app.example"
            other = await web.get(page, headers={"Origin": "https://other.example"})
            assert "access-control-allow-origin" not in other.headers
            # A CDN or a browser cache in front must not mix them up either: every answer says
            # it varies with Origin, the one without an Origin too (Starlette's CORS middleware).
            for answer in (plain, app_origin, other):
                assert "origin" in answer.headers["vary"].lower()
            for path in ("/api/v1/certificates/NO-SUCH", "/api/v1/trust-list"):
                assert "origin" in (await web.get(path)).headers["vary"].lower()


@pytest.mark.parametrize("vary", [b"Accept-Language", b"*", b"Cookie, Accept"])
async def test_an_answer_that_varies_on_a_header_outside_the_key_is_not_kept(
    vary: bytes,
) -> None:
    origin = _Origin([(b"cache-control", b"public, max-age=60"), (b"vary", vary)])
    cache = PageCache(origin, seconds=5)
    assert await _get(cache, "/p") == b"1"
    assert await _get(cache, "/p") == b"2"


async def test_an_answer_that_varies_only_on_the_key_is_kept() -> None:
    origin = _Origin([(b"cache-control", b"public, max-age=60"), (b"vary", b"Cookie, Origin")])
    cache = PageCache(origin, seconds=5)
    assert await _get(cache, "/p") == b"1"
    assert await _get(cache, "/p") == b"1"


class _Large(_Origin):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        await send({"type": "http.response.body", "body": b"x" * 100_000})


async def test_many_query_strings_of_a_large_page_stay_within_the_byte_bound() -> None:
    """Query strings cost an attacker nothing: the entries' bytes are bounded, not only their
    count (2048 answers of up to 256 KiB would be half a gigabyte per worker)."""
    origin = _Large([(b"cache-control", b"public, max-age=60")])
    cache = PageCache(origin, seconds=5, max_bytes=1_000_000)
    for n in range(50):
        await _get(cache, f"/regulation?junk={n}")
    assert 900_000 < cache.size <= 1_000_000
    assert origin.calls == 50
    await _get(cache, "/regulation?junk=49")  # the most recent are kept
    assert origin.calls == 50
    await _get(cache, "/regulation?junk=0")  # the oldest went
    assert origin.calls == 51


async def test_a_shared_max_age_keeps_what_browsers_must_ask_again_for() -> None:
    """A page that shows what its visitor just did (a 公示 list with their objection) tells
    browsers to ask again (max-age=0) and shared caches, this one included, s-maxage."""
    origin = _Origin([(b"cache-control", b"public, max-age=0, s-maxage=5")])
    cache = PageCache(origin, seconds=5)
    assert await _get(cache, "/p") == b"1"
    assert await _get(cache, "/p") == b"1"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The cache's clock, moved by the test (``clock[0] += 2``); the event loop keeps its own."""
    now = [1000.0]
    monkeypatch.setattr("portal.pagecache.monotonic", lambda: now[0])
    return now


class _Slow(_Origin):
    """An origin that answers only when ``release`` is set, and counts how many run at once."""

    def __init__(self, headers: list[tuple[bytes, bytes]]) -> None:
        super().__init__(headers)
        self.release = asyncio.Event()
        self.running = 0
        self.most_at_once = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.release.wait()
            await super().__call__(scope, receive, send)
        finally:
            self.running -= 1


async def _get_full(app: PageCache, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as web:
        return await web.get(path)


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition not reached")


async def test_many_requests_for_one_url_run_the_page_once() -> None:
    """A burst on one URL (64 connections on the credit list the moment its copy expired) runs
    the page once; the others wait for that answer instead of each running it."""
    origin = _Slow([(b"cache-control", b"public, max-age=60")])
    cache = PageCache(origin, seconds=5)
    burst = [asyncio.create_task(_get(cache, "/credit")) for _ in range(20)]
    await _until(lambda: origin.running == 1)
    await asyncio.sleep(0.02)  # the others have arrived and wait
    assert origin.calls == 0 and origin.most_at_once == 1  # noqa: PT018
    origin.release.set()
    assert await asyncio.gather(*burst) == [b"1"] * 20
    assert origin.calls == 1


async def test_an_expired_copy_is_served_while_one_request_refreshes_it(
    clock: list[float],
) -> None:
    """After the cache's few seconds, one request runs the page again; the others meanwhile get
    the copy, still fresh by the answer's own max-age (60 s), with its Age."""
    origin = _Slow([(b"cache-control", b"public, max-age=60")])
    origin.release.set()
    cache = PageCache(origin, seconds=1)
    assert await _get(cache, "/p") == b"1"
    clock[0] += 2  # past the cache's second, within the answer's 60 s
    origin.release.clear()
    refresh = asyncio.create_task(_get(cache, "/p"))
    await _until(lambda: origin.running == 1)
    stale = await _get_full(cache, "/p")
    assert stale.content == b"1"
    assert stale.headers["age"] == "2"
    origin.release.set()
    assert await refresh == b"2"
    assert await _get(cache, "/p") == b"2"
    assert origin.calls == 2


async def test_a_copy_past_its_own_max_age_is_never_served(clock: list[float]) -> None:
    origin = _Slow([(b"cache-control", b"public, max-age=3")])
    origin.release.set()
    cache = PageCache(origin, seconds=1)
    assert await _get(cache, "/p") == b"1"
    clock[0] += 4  # past the answer's own max-age
    origin.release.clear()
    refresh = asyncio.create_task(_get(cache, "/p"))
    await _until(lambda: origin.running == 1)
    waiting = asyncio.create_task(_get(cache, "/p"))
    await asyncio.sleep(0.02)
    assert not waiting.done()  # waits for the refresh rather than get the old copy
    origin.release.set()
    assert await refresh == b"2"
    assert await waiting == b"2"


class _TurnsPrivate(_Slow):
    """Public until ``private`` is set (a page that became personal, or an error)."""

    private = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.private:
            self.headers = [(b"cache-control", b"private, no-store")]
        await super().__call__(scope, receive, send)


async def test_an_answer_no_longer_kept_drops_the_copy_and_is_not_waited_for(
    clock: list[float],
) -> None:
    origin = _TurnsPrivate([(b"cache-control", b"public, max-age=60")])
    origin.release.set()
    cache = PageCache(origin, seconds=1)
    assert await _get(cache, "/p") == b"1"
    clock[0] += 2
    origin.private = True
    assert await _get(cache, "/p") == b"2"  # the refresh is not kept ...
    assert await _get(cache, "/p") == b"3"  # ... and the old copy is gone
    # Requests for a URL whose answer is not kept run side by side, without waiting in line.
    origin.release.clear()
    both = [asyncio.create_task(_get(cache, "/p")) for _ in range(2)]
    await _until(lambda: origin.running == 2)
    origin.release.set()
    assert sorted(await asyncio.gather(*both)) == [b"4", b"5"]


class _Fails(_Origin):
    """Its first run fails (after a moment), the next ones answer."""

    failed = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.failed:
            self.failed = True
            await asyncio.sleep(0.05)
            raise RuntimeError("the page failed")
        await super().__call__(scope, receive, send)


async def test_a_request_waiting_on_a_failed_run_runs_the_page_itself() -> None:
    origin = _Fails([(b"cache-control", b"public, max-age=60")])
    cache = PageCache(origin, seconds=5)
    first = asyncio.create_task(_get(cache, "/p"))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(_get(cache, "/p"))
    with pytest.raises(RuntimeError):
        await first
    assert await second == b"1"


def _unread_request(
    cache: PageCache, received: list[bytes]
) -> tuple[asyncio.Task[None], asyncio.Event]:
    """A GET of /p whose client does not read its answer until the event is set (then what it
    reads goes to ``received``)."""
    reading = asyncio.Event()

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def stuck(message: Message) -> None:
        if message["type"] == "http.response.body":
            await reading.wait()
            received.append(message.get("body", b""))

    scope: Scope = {
        "type": "http",
        "method": "GET",
        "path": "/p",
        "raw_path": b"/p",
        "query_string": b"",
        "headers": [(b"host", b"t")],
    }
    return asyncio.create_task(cache(scope, receive, stuck)), reading


async def test_a_client_slow_to_read_keeps_nobody_waiting() -> None:
    """The others are let go once the answer is kept, not once it has reached the client that
    asked first (a client that does not read would hold them for the whole wait)."""
    origin = _Slow([(b"cache-control", b"public, max-age=60")])
    cache = PageCache(origin, seconds=5)
    first, reading = _unread_request(cache, [])
    await _until(lambda: origin.running == 1)
    second = asyncio.create_task(_get(cache, "/p"))  # arrives while the page runs: waits
    await asyncio.sleep(0.02)
    origin.release.set()
    assert await asyncio.wait_for(second, 2) == b"1"
    reading.set()
    await first


class _Chunked(_Slow):
    """Its answer in two body messages (a streamed or file response)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.running += 1
        try:
            await self.release.wait()
            self.calls += 1
            await send({"type": "http.response.start", "status": 200, "headers": self.headers})
            await send({"type": "http.response.body", "body": b"a", "more_body": True})
            await send({"type": "http.response.body", "body": str(self.calls).encode()})
        finally:
            self.running -= 1


async def test_a_client_slow_to_read_a_streamed_answer_keeps_nobody_waiting() -> None:
    """An answer sent in several parts is kept once its last part has come from the page; a client
    that does not read the first part (the server waits for it to drain) must not hold back the
    page's last part, and with it everyone waiting for that URL, for the whole wait."""
    origin = _Chunked([(b"cache-control", b"public, max-age=60")])
    cache = PageCache(origin, seconds=5)
    received: list[bytes] = []
    first, reading = _unread_request(cache, received)
    await _until(lambda: origin.running == 1)
    second = asyncio.create_task(_get(cache, "/p"))  # arrives while the page runs: waits
    await asyncio.sleep(0.02)
    origin.release.set()
    assert await asyncio.wait_for(second, 2) == b"a1"
    reading.set()
    await first
    assert b"".join(received) == b"a1"  # the slow client still gets all of it, in order


class _TakesTime(_Origin):
    """A page that takes ``seconds`` (on the cache's clock) to answer: its data is as old as
    the moment it was read, not as the moment the answer was complete."""

    def __init__(self, headers: list[tuple[bytes, bytes]], clock: list[float]) -> None:
        super().__init__(headers)
        self.clock = clock
        self.seconds = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.clock[0] += self.seconds
        await super().__call__(scope, receive, send)


async def test_a_copy_is_as_old_as_its_request_not_as_its_answer(
    clock: list[float],
) -> None:
    """RFC 9111 §4.2.3: a response's age counts from when it was asked for (response_delay), so a
    page that took seconds to render (a certificate revoked just after it was read) is not served
    for its whole max-age on top of that, nor with an Age that says it is younger than it is."""
    origin = _TakesTime([(b"cache-control", b"public, max-age=3")], clock)
    origin.seconds = 2.0
    cache = PageCache(origin, seconds=5)
    assert await _get(cache, "/p") == b"1"  # asked at 1000, answered at 1002
    served = await _get_full(cache, "/p")
    assert served.content == b"1"
    assert served.headers["age"] == "2"
    clock[0] = 1003.5  # past 1000 + max-age: the data may have changed for more than 3 s
    origin.seconds = 0.0
    assert await _get(cache, "/p") == b"2"


class _ErrsOnce(_Origin):
    """Answers an error (a pool timeout under load, say) when ``error`` is set."""

    error = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.error:
            self.error = False
            self.calls += 1
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b"busy"})
            return
        await super().__call__(scope, receive, send)


async def test_an_error_while_refreshing_neither_drops_the_copy_nor_turns_the_cache_off(
    clock: list[float],
) -> None:
    origin = _ErrsOnce([(b"cache-control", b"public, max-age=60")])
    cache = PageCache(origin, seconds=1)
    assert await _get(cache, "/p") == b"1"
    clock[0] += 2
    origin.error = True
    assert await _get(cache, "/p") == b"busy"  # the request that refreshed gets its answer
    assert await _get(cache, "/p") == b"3"  # the next one runs the page again and keeps it
    assert await _get(cache, "/p") == b"3"


@pytest.mark.parametrize(
    "header",
    [
        (b"range", b"bytes=0-10"),
        (b"if-modified-since", b"Tue, 01 Dec 2026 00:00:00 GMT"),
        (b"if-match", b'"x"'),
    ],
)
async def test_conditional_and_partial_requests_go_to_the_app(header: tuple[bytes, bytes]) -> None:
    origin = _Origin([(b"cache-control", b"public, max-age=60")])
    cache = PageCache(origin, seconds=5)
    transport = httpx.ASGITransport(app=cache)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as web:
        headers = {header[0].decode(): header[1].decode()}
        assert (await web.get("/p", headers=headers)).content == b"1"
        assert (await web.get("/p", headers=headers)).content == b"2"
    assert await _get(cache, "/p") == b"3"


async def test_an_answer_read_on_the_read_replica_is_sent_but_not_kept() -> None:
    """A replica may be seconds behind a write whose commit has moved the cache's generation: an
    answer read there would be kept as current for everyone (portal/db.py marks the request)."""
    origin = _Origin([(b"cache-control", b"public, max-age=60")])

    async def on_replica(scope: Scope, receive: Receive, send: Send) -> None:
        scope[READ_ON_REPLICA] = True
        await origin(scope, receive, send)

    cache = PageCache(on_replica, seconds=5)
    assert await _get(cache, "/p") == b"1"
    assert await _get(cache, "/p") == b"2"
    kept = PageCache(origin, seconds=5)
    assert await _get(kept, "/p") == b"3"
    assert await _get(kept, "/p") == b"3"
