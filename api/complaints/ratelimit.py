"""Submission rate limits with the ``limits`` package: per client address and per account.

The storage is ``GONGZHI_RATE_LIMIT_STORAGE``: ``memory://`` (one process, the default) or any
storage ``limits`` knows that several processes share (``redis://…``, ``memcached://…``). A refusal
is a 429 problem+json with ``Retry-After``.
"""

from __future__ import annotations

import math
import time

from fastapi import Request
from limits import RateLimitItem, parse_many
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from portal.errors import RateLimited
from portal.settings import Settings


class Limiter:
    def __init__(self, settings: Settings) -> None:
        uri = settings.rate_limit_storage
        if not uri.startswith("async+"):
            uri = "async+" + uri
        self.storage: Storage = storage_from_string(uri)  # type: ignore[assignment]
        # Moving windows are exact in memory; shared stores use the cheaper sliding counter.
        strategy = (
            MovingWindowRateLimiter
            if uri.startswith("async+memory")
            else SlidingWindowCounterRateLimiter
        )
        self.strategy = strategy(self.storage)
        self.rules: dict[str, list[RateLimitItem]] = {
            "case_client": parse_many(settings.case_rate_limit_client),
            "case_account": parse_many(settings.case_rate_limit_account),
            "media_client": parse_many(settings.media_rate_limit_client),
        }

    async def hit(self, rule: str, identity: str) -> None:
        """Count one request for ``identity`` under ``rule``; raise RateLimited when over."""
        for item in self.rules[rule]:
            if not await self.strategy.hit(item, rule, identity):
                stats = await self.strategy.get_window_stats(item, rule, identity)
                retry_after = max(1, math.ceil(stats.reset_time - time.time()))
                raise RateLimited(
                    f"At most {item} for this client; retry in {retry_after} s.",
                    detail_zh=f"提交过于频繁（上限 {item}），请 {retry_after} 秒后再试。",
                    headers={"Retry-After": str(retry_after)},
                    retry_after=retry_after,
                )

    async def reset(self) -> None:
        await self.storage.reset()


def get_limiter(request: Request) -> Limiter:
    """One limiter per application, created on first use."""
    limiter = getattr(request.app.state, "complaints_limiter", None)
    if limiter is None:
        limiter = Limiter(request.app.state.settings)
        request.app.state.complaints_limiter = limiter
    return limiter


def client_identity(request: Request) -> str:
    return request.client.host if request.client else "unknown"
