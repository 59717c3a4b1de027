"""What the phone walks of the back office share: logging in with a demo account through the
login form, and the check that a page does not scroll sideways at 390 px."""

from __future__ import annotations

from typing import Any

from portal.demo import DEMO_PASSWORD


async def log_in(page: Any, live_server: str, email: str) -> None:
    await page.goto(live_server + "/login")
    await page.get_by_label("邮箱").fill(email)
    await page.get_by_label("密码").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url("**/account")


async def fits(page: Any) -> None:
    """Nothing wider than the 390 px phone viewport."""
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390
