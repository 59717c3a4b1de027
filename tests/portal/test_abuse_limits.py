"""Abuse limits that hold against a spoofing client and cannot be turned against the account's
owner (issue 11, findings 8 and 9): the client address comes from X-Forwarded-For only behind a
trusted proxy, password guessing is refused per client and account and slowed per account,
and rate-limit counters are shared by every server process."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from portal import cli
from portal.accounts.throttle import LoginThrottle
from portal.ratelimit import STORE_TIMEOUT_SECONDS, RateLimiter, forwarded_client
from portal.settings import Settings, trusted_networks
from tests.support import GONGZHI, assert_problem, free_port, service_missing

EMAIL = "owner@example.cn"
PASSWORD = "liang-cheng-2026"
REDIS_URL = "redis://127.0.0.1:6379"


@pytest.fixture
def limits(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[RateLimiter]:
    """Fresh counters, and waits short enough to measure without sleeping for seconds."""
    original = app.state.rate_limiter
    app.state.rate_limiter = RateLimiter("memory://")
    monkeypatch.setattr(app.state.settings, "login_delay_base_seconds", 0.05)
    monkeypatch.setattr(app.state.settings, "login_delay_max_seconds", 0.4)
    yield app.state.rate_limiter
    app.state.rate_limiter = original


@asynccontextmanager
async def client_at(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose TCP peer address is ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def _register(client: httpx.AsyncClient, email: str = EMAIL) -> None:
    response = await client.post(
        "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
    )
    assert response.status_code == 201, response.text


def _login(client: httpx.AsyncClient, password: str, **headers: str) -> Any:
    return client.post(
        "/api/v1/auth/jwt/login", data={"username": EMAIL, "password": password}, headers=headers
    )


# --- Finding 9: which client is it? -------------------------------------------------------


@pytest.mark.parametrize(
    ("peer", "forwarded", "trusted", "client"),
    [
        # A direct client: whatever it writes in the header is its own words.
        ("198.51.100.7", "203.0.113.1", "", "198.51.100.7"),
        ("127.0.0.1", "203.0.113.1", "", "127.0.0.1"),  # loopback is not trusted by default
        ("198.51.100.7", "203.0.113.1", "127.0.0.1", "198.51.100.7"),
        # Behind a trusted proxy: the address the proxy saw, not what the client prepended.
        ("127.0.0.1", "203.0.113.1", "127.0.0.1", "203.0.113.1"),
        ("127.0.0.1", "6.6.6.6, 203.0.113.1", "127.0.0.1", "203.0.113.1"),
        ("10.0.0.5", "6.6.6.6, 203.0.113.1, 10.0.0.9", "127.0.0.1,10.0.0.0/8", "203.0.113.1"),
        ("127.0.0.1", None, "127.0.0.1", "127.0.0.1"),
        ("127.0.0.1", "not-an-address", "127.0.0.1", "not-an-address"),
    ],
)
def test_client_address_rule(peer: str, forwarded: str | None, trusted: str, client: str) -> None:
    assert forwarded_client(peer, forwarded, trusted_networks(trusted)) == client
    # Idempotent: uvicorn (given the same list) may already have resolved the peer.
    assert forwarded_client(client, forwarded, trusted_networks(trusted)) == client


def test_a_mistyped_trusted_proxy_fails_at_start() -> None:
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        Settings(trusted_proxies="127.0.0.1,localhost")


async def test_rotating_forwarded_for_from_a_direct_client_is_one_client(
    client: httpx.AsyncClient, app: FastAPI, limits: RateLimiter
) -> None:
    """The reported attack: every wrong password from another X-Forwarded-For. The header is not
    believed (no trusted proxy), so the attacker is locked out and the owner is not."""
    await _register(client)
    async with client_at(app, "127.0.0.1") as attacker:
        for n in range(10):
            wrong = await _login(attacker, "wrong-password", **{"X-Forwarded-For": f"10.9.0.{n}"})
            assert_problem(wrong, 400, "login_bad_credentials")
        refused = await _login(attacker, PASSWORD, **{"X-Forwarded-For": "10.9.0.99"})
        assert_problem(refused, 429, "login_locked")
    async with client_at(app, "198.51.100.7") as owner:
        assert (await _login(owner, PASSWORD)).status_code == 200


async def test_clients_behind_a_trusted_proxy_are_told_apart(
    client: httpx.AsyncClient,
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
    limits: RateLimiter,
) -> None:
    monkeypatch.setattr(app.state.settings, "trusted_proxies", "127.0.0.1")
    await _register(client)
    async with client_at(app, "127.0.0.1") as proxy:
        for _ in range(10):
            await _login(proxy, "wrong-password", **{"X-Forwarded-For": "203.0.113.66"})
        assert_problem(
            await _login(proxy, PASSWORD, **{"X-Forwarded-For": "203.0.113.66"}),
            429,
            "login_locked",
        )
        # A spoofed entry left of the proxy's own does not get the attacker out of its lock.
        spoofed = await _login(proxy, PASSWORD, **{"X-Forwarded-For": "1.2.3.4, 203.0.113.66"})
        assert_problem(spoofed, 429, "login_locked")
        # The owner behind the same proxy is another client.
        owner = await _login(proxy, PASSWORD, **{"X-Forwarded-For": "198.51.100.7"})
        assert owner.status_code == 200, owner.text


def test_serve_gives_uvicorn_the_same_trusted_proxies() -> None:
    direct = cli.uvicorn_options(Settings(), host="127.0.0.1", port=8000, workers=1, reload=False)
    assert direct["proxy_headers"] is False
    assert direct["forwarded_allow_ips"] == []  # never uvicorn's default of 127.0.0.1
    proxied = cli.uvicorn_options(
        Settings(trusted_proxies="127.0.0.1, 10.0.0.0/8"),
        host="127.0.0.1",
        port=8000,
        workers=1,
        reload=False,
    )
    assert proxied["proxy_headers"] is True
    assert proxied["forwarded_allow_ips"] == ["127.0.0.1/32", "10.0.0.0/8"]


# --- Finding 8: no lock-out of the owner ----------------------------------------------------


async def test_many_attacking_addresses_slow_the_account_but_never_lock_the_owner(
    client: httpx.AsyncClient, app: FastAPI, limits: RateLimiter
) -> None:
    await _register(client)
    for attacker_address in ("203.0.113.1", "203.0.113.2", "203.0.113.3"):
        async with client_at(app, attacker_address) as attacker:
            for _ in range(10):
                await _login(attacker, "wrong-password")
            assert_problem(await _login(attacker, PASSWORD), 429, "login_locked")
    # 30 failures on the account: every attempt now waits the longest delay (0.4 s here) first,
    # the owner's too, but the owner is never refused.
    async with client_at(app, "198.51.100.7") as owner:
        started = time.perf_counter()
        assert (await _login(owner, PASSWORD)).status_code == 200
        assert time.perf_counter() - started >= 0.4
    # The owner's success clears the account's counter: the next login does not wait.
    async with client_at(app, "198.51.100.8") as owner_elsewhere:
        started = time.perf_counter()
        assert (await _login(owner_elsewhere, PASSWORD)).status_code == 200
        assert time.perf_counter() - started < 0.4 + 5  # no growing wait, only hashing


def test_the_wait_grows_with_failures_and_is_capped() -> None:
    settings = Settings()
    throttle = LoginThrottle(RateLimiter("memory://"), settings, account=EMAIL, client="x")
    free = throttle.free_failures
    assert throttle.delay_for(free - 1) == 0
    assert throttle.delay_for(free) == settings.login_delay_base_seconds
    assert throttle.delay_for(free + 1) == 2 * settings.login_delay_base_seconds
    assert throttle.delay_for(free + 1000) == settings.login_delay_max_seconds


# --- Finding 9: counters shared by every server process --------------------------------------


async def test_rate_limits_are_shared_by_processes_through_redis() -> None:
    """Two limiters on the real Redis stand for two uvicorn workers."""
    first, second = RateLimiter(REDIS_URL), RateLimiter(REDIS_URL)
    try:
        if not await first.reachable():
            service_missing(f"Redis is not reachable at {REDIS_URL}")
    except Exception as exc:  # the client raises when nothing listens
        service_missing(f"Redis is not reachable at {REDIS_URL}: {exc!r}")
    key = f"test:{uuid.uuid4().hex}"
    try:
        assert await first.hit("3/minute", key)
        assert await second.hit("3/minute", key)
        assert await first.hit("3/minute", key)
        assert not await second.allowed("3/minute", key)  # the other process sees all three
    finally:
        await first.clear("3/minute", key)


def test_production_defaults_to_shared_rate_limit_storage() -> None:
    production: Callable[..., Settings] = lambda **extra: Settings(  # noqa: E731
        env="production",
        secret_key="KQB-ypy0Jas2-uTScdfmiLrG4TdQXuh1GolnQLeLFUI",
        data_keys="k1:" + "A" * 43 + "=",
        **extra,
    )
    assert production().rate_limit_storage == REDIS_URL
    assert production().shares_rate_limits
    assert Settings(env="development").rate_limit_storage == "memory://"


def test_production_refuses_per_process_counters_unless_declared_the_only_process() -> None:
    """uvicorn --workers or gunicorn start the app without `gongzhi serve`'s check, and a node
    cannot count the nodes beside it: production itself refuses memory:// unless the operator
    states this is the deployment's only server process."""
    production: Callable[..., Settings] = lambda **extra: Settings(  # noqa: E731
        env="production",
        secret_key="KQB-ypy0Jas2-uTScdfmiLrG4TdQXuh1GolnQLeLFUI",
        data_keys="k1:" + "A" * 43 + "=",
        **extra,
    )
    with pytest.raises(ValueError, match="GONGZHI_SINGLE_PROCESS"):
        production(rate_limit_storage="memory://")
    alone = production(rate_limit_storage="memory://", single_process=True)
    assert not alone.shares_rate_limits
    assert production(rate_limit_storage=REDIS_URL).shares_rate_limits


def test_serve_refuses_several_workers_with_per_process_counters() -> None:
    refused = subprocess.run(
        [GONGZHI, "serve", "--workers", "2"],
        capture_output=True,
        text=True,
        env={**os.environ, "GONGZHI_RATE_LIMIT_STORAGE": "memory://"},
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2, refused.stderr
    assert "GONGZHI_RATE_LIMIT_STORAGE" in refused.stderr


# --- the shared store down (issue 18) ------------------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that takes connections and never answers: a Redis that hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


@pytest.mark.parametrize("store", ["refused", "silent"])
async def test_a_rate_limit_store_that_is_down_is_a_503_not_a_500(
    app: FastAPI, client: httpx.AsyncClient, silent_port: int, store: str
) -> None:
    """Redis down (nothing listens) or hanging (takes the connection, never answers): a limited
    request is refused with 503 problem+json and Retry-After within the store's timeout, rather
    than a 500, a request held until the proxy gives up, or a guess let through uncounted."""
    port = free_port() if store == "refused" else silent_port
    original = app.state.rate_limiter
    app.state.rate_limiter = RateLimiter(f"redis://127.0.0.1:{port}")
    try:
        started = time.monotonic()
        response = await client.get(
            "/api/v1/cases/JL20260101-000001", headers={"X-Case-Token": "000000"}
        )
        assert time.monotonic() - started < 2 * STORE_TIMEOUT_SECONDS + 1
        assert_problem(response, 503, "rate_limiter_unavailable")
        assert response.headers["retry-after"] == "5"
        assert not await app.state.rate_limiter.reachable()
    finally:
        app.state.rate_limiter = original
