"""Which cache a deployment uses (portal/cache.py, issue 18): Redis shared by every process in
production, this process's memory in embedded mode, and never per-process caches under more
than one process; keys prefixed per deployment."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

import pytest

from portal.cache import LocalCache, RedisCache, open_cache
from portal.settings import Settings
from tests.support import GONGZHI

REDIS_URL = "redis://127.0.0.1:6379"

production: Callable[..., Settings] = lambda **extra: Settings(  # noqa: E731
    env="production",
    secret_key="KQB-ypy0Jas2-uTScdfmiLrG4TdQXuh1GolnQLeLFUI",
    data_keys="k1:" + "A" * 43 + "=",
    **extra,
)


def test_production_caches_in_the_rate_limiters_redis_by_default() -> None:
    settings = production()
    assert settings.cache_url == REDIS_URL
    assert settings.shares_cache
    other = production(rate_limit_storage="redis://10.0.0.5:6379/2")
    assert other.cache_url == "redis://10.0.0.5:6379/2"
    assert production(cache_url="redis://10.0.0.6:6379/1").cache_url == "redis://10.0.0.6:6379/1"


def test_embedded_mode_caches_in_memory_without_redis() -> None:
    assert Settings(env="development").cache_url == "memory://"
    assert not Settings(env="development").shares_cache
    alone = production(rate_limit_storage="memory://", single_process=True)
    assert alone.cache_url == "memory://"
    assert isinstance(open_cache(alone.cache_url, alone.cache_prefix), LocalCache)
    assert isinstance(open_cache(REDIS_URL, "p"), RedisCache)


def test_production_refuses_a_per_process_cache_unless_declared_the_only_process() -> None:
    """A write on one node must reach the copies of every other node."""
    with pytest.raises(ValueError, match="GONGZHI_CACHE_URL"):
        production(cache_url="memory://")
    # A rate limiter on memcached gives the cache no Redis to default to.
    with pytest.raises(ValueError, match="GONGZHI_CACHE_URL"):
        production(rate_limit_storage="memcached://127.0.0.1:11211")
    assert not production(cache_url="memory://", single_process=True).shares_cache
    with pytest.raises(ValueError, match="GONGZHI_CACHE_URL"):
        Settings(cache_url="memcached://127.0.0.1:11211")


def test_the_prefix_defaults_to_the_database_name() -> None:
    assert (
        Settings(database_url="postgresql+asyncpg://u:p@db:5432/gongzhi_shaanxi").cache_prefix
        == "gongzhi:gongzhi_shaanxi"
    )
    assert Settings(database_url="sqlite+aiosqlite:///var/county.db").cache_prefix == (
        "gongzhi:county"
    )
    assert Settings(cache_prefix="xian-prod").cache_prefix == "xian-prod"
    with pytest.raises(ValueError, match="cache_prefix"):
        Settings(cache_prefix="two words")


def test_serve_refuses_several_workers_with_a_per_process_cache() -> None:
    refused = subprocess.run(
        [GONGZHI, "serve", "--workers", "2"],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "GONGZHI_RATE_LIMIT_STORAGE": REDIS_URL,
            "GONGZHI_CACHE_URL": "memory://",
        },
        timeout=120,
        check=False,
    )
    assert refused.returncode == 2, refused.stderr
    assert "GONGZHI_CACHE_URL" in refused.stderr
