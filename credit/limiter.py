"""Rate limit for objections (public, no login), with the ``limits`` package.

The storage is ``GONGZHI_CREDIT_RATE_LIMIT_STORAGE``: ``memory://`` counts per server process,
which is enough for one process; with several servers point it at a shared store such as
``redis://host:6379`` so the limit holds across them.
"""

from __future__ import annotations

import time

from fastapi import Request
from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from portal.errors import RateLimited
from portal.settings import Settings


class ObjectionLimiter:
    def __init__(self, settings: Settings) -> None:
        uri = settings.credit_rate_limit_storage
        storage = storage_from_string(uri if uri.startswith("async+") else f"async+{uri}")
        assert isinstance(storage, Storage)
        self.storage = storage
        self.limiter = MovingWindowRateLimiter(storage)
        self.item: RateLimitItem = parse(settings.credit_objection_rate)

    async def hit(self, key: str) -> None:
        if not await self.limiter.hit(self.item, "credit-objection", key):
            stats = await self.limiter.get_window_stats(self.item, "credit-objection", key)
            retry = max(1, int(stats.reset_time - time.time()))
            raise RateLimited(
                f"At most {self.item} objections from one address.",
                detail_zh=f"提交过于频繁，请 {retry} 秒后再试。",
                headers={"Retry-After": str(retry)},
            )

    async def reset(self) -> None:
        await self.storage.reset()


def limiter_for(request: Request) -> ObjectionLimiter:
    app = request.app
    limiter: ObjectionLimiter | None = getattr(app.state, "credit_limiter", None)
    if limiter is None:
        limiter = ObjectionLimiter(app.state.settings)
        app.state.credit_limiter = limiter
    return limiter


def client_key(request: Request) -> str:
    return request.client.host if request.client else "unknown"
