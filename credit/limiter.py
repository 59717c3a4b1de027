"""Rate limit for objections (public, no login), on the portal's shared rate limiter
(portal/ratelimit.py: the ``limits`` package, storage ``GONGZHI_RATE_LIMIT_STORAGE``)."""

from __future__ import annotations

from fastapi import Request

from portal.ratelimit import RateLimiter, client_ip


class ObjectionLimiter:
    """``GONGZHI_CREDIT_OBJECTION_RATE`` per client address."""

    def __init__(self, rate: str, limiter: RateLimiter) -> None:
        self.rate = rate
        self.limiter = limiter

    async def hit(self, key: str) -> None:
        await self.limiter.enforce(self.rate, "credit-objection", key)

    async def reset(self) -> None:
        await self.limiter.reset()


def limiter_for(request: Request) -> ObjectionLimiter:
    app = request.app
    limiter: ObjectionLimiter | None = getattr(app.state, "credit_limiter", None)
    if limiter is None:
        limiter = ObjectionLimiter(app.state.settings.credit_objection_rate, app.state.rate_limiter)
        app.state.credit_limiter = limiter
    return limiter


client_key = client_ip
