"""Password-guessing protection that cannot be turned against the account's owner.

Locking an account after N failures lets anyone lock anyone out (issue 11, finding 8). Instead:

- per client and account: a client that failed ``login_failures_per_client_account`` times for one
  account is refused (429) for that account, until the window passes; other clients are not;
- per client: a client that failed ``login_failures_per_ip`` times, for any accounts, is refused;
- per account, from all clients: past ``login_failures_per_account`` failures in the window, every
  attempt on the account first waits ``base × 2^(failures over the limit)`` seconds, capped at
  ``login_delay_max_seconds``. The wait comes before the password is checked, so a quick answer
  never tells an attacker "wrong password"; it holds no database connection while waiting.

A correct password clears the client's and the account's counters (only the owner can do that).
The client is ``portal.ratelimit.client_ip``: X-Forwarded-For counts only from trusted proxies.
"""

from __future__ import annotations

import asyncio

from limits import RateLimitItem, parse

from portal.accounts.schemas import normalize_email
from portal.errors import RateLimited
from portal.ratelimit import RateLimiter
from portal.settings import Settings

# The account-wide counter only counts (it never refuses): a ceiling far above any real attack
# rate within the window, with the window of ``login_failures_per_account``.
_COUNTING_CEILING = 1_000_000


class LoginLocked(RateLimited):
    code = "login_locked"
    title = "Too many failed logins; try again later"
    title_zh = "登录失败次数过多，请稍后再试"


class LoginThrottle:
    def __init__(
        self, limiter: RateLimiter, settings: Settings, *, account: str, client: str
    ) -> None:
        self.limiter = limiter
        self.settings = settings
        account = normalize_email(account)
        self.refusals: list[tuple[RateLimitItem, str]] = [
            (parse(settings.login_failures_per_ip), f"login:ip:{client}"),
            (
                parse(settings.login_failures_per_client_account),
                f"login:client-account:{client}:{account}",
            ),
        ]
        free = parse(settings.login_failures_per_account)
        self.free_failures = free.amount
        self.account_counter = (
            type(free)(_COUNTING_CEILING, free.multiples),
            f"login:account:{account}",
        )

    async def before_attempt(self) -> None:
        """Raise ``LoginLocked`` for a refused client; wait while the account is under attack."""
        for item, key in self.refusals:
            if not await self.limiter.allowed(item, key):
                seconds = await self.limiter.retry_after(item, key)
                raise LoginLocked(
                    f"Too many failed logins; retry in {seconds} seconds.",
                    detail_zh=f"登录失败次数过多，请 {seconds} 秒后再试。",
                    headers={"Retry-After": str(seconds)},
                    retry_after=seconds,
                )
        delay = self.delay_for(await self.limiter.count(*self.account_counter))
        if delay > 0:
            await asyncio.sleep(delay)

    def delay_for(self, account_failures: int) -> float:
        excess = account_failures - self.free_failures
        if excess < 0:
            return 0.0
        base = self.settings.login_delay_base_seconds
        return float(min(self.settings.login_delay_max_seconds, base * 2 ** min(excess, 30)))

    async def failed(self) -> None:
        for item, key in [*self.refusals, self.account_counter]:
            await self.limiter.hit(item, key)

    async def succeeded(self) -> None:
        await self.limiter.clear(*self.refusals[1])
        await self.limiter.clear(*self.account_counter)
