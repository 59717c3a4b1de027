"""Submission rate limits per client address and per account, on the portal's shared rate limiter
(portal/ratelimit.py: the ``limits`` package, storage ``GONGZHI_RATE_LIMIT_STORAGE``). A refusal
is a 429 problem+json with ``Retry-After``."""

from __future__ import annotations

from fastapi import Request

from portal.ratelimit import RateLimiter, client_ip
from portal.settings import Settings


class Limiter:
    """The complaint intake's rules, by name, applied on a ``RateLimiter``."""

    def __init__(self, settings: Settings, limiter: RateLimiter | None = None) -> None:
        self.limiter = limiter or RateLimiter(settings.rate_limit_storage)
        self.rules: dict[str, str] = {
            "case_client": settings.case_rate_limit_client,
            "case_account": settings.case_rate_limit_account,
            "media_client": settings.media_rate_limit_client,
        }

    async def hit(self, rule: str, identity: str) -> None:
        """Count one request for ``identity`` under ``rule``; raise RateLimited when over."""
        await self.limiter.enforce(self.rules[rule], rule, identity)


def get_limiter(request: Request) -> Limiter:
    """One set of rules per application, on the application's shared limiter."""
    limiter: Limiter | None = getattr(request.app.state, "complaints_limiter", None)
    if limiter is None:
        limiter = Limiter(request.app.state.settings, request.app.state.rate_limiter)
        request.app.state.complaints_limiter = limiter
    return limiter


client_identity = client_ip
