"""The portal shell in a real browser: the home page, then a citizen logs in."""

from __future__ import annotations

import pytest

from portal.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


async def test_home_page_then_login(page, live_server: str) -> None:
    await page.goto(live_server + "/")
    assert await page.title() == "共治 · 计量社会共治平台"
    assert "让每一台秤" in await page.locator("h1").inner_text()

    await page.get_by_role("link", name="登录").click()
    await page.wait_for_url("**/login")
    await page.get_by_label("邮箱").fill("citizen@gongzhi.demo")
    await page.get_by_label("密码").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url("**/account")
    assert await page.locator("#account-email").inner_text() == "citizen@gongzhi.demo"
    assert await page.locator("#account-role").inner_text() == "公众"


async def test_wrong_password_stays_on_login_with_message(page, live_server: str) -> None:
    await page.goto(live_server + "/login")
    await page.get_by_label("邮箱").fill("citizen@gongzhi.demo")
    await page.get_by_label("密码").fill("definitely-wrong")
    await page.get_by_role("button", name="登录").click()
    assert "邮箱或密码错误" in await page.get_by_role("alert").inner_text()


async def test_a_first_visit_loads_nothing_that_fails(page, live_server: str) -> None:
    """Every page asked the browser to fetch /favicon.ico, a 404 in the console of every first
    visit; the pages name their icon."""
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    await page.goto(live_server + "/inspections")
    await page.wait_for_load_state("networkidle")
    assert failed == []
    icon = await page.locator('link[rel="icon"]').get_attribute("href")
    assert icon is not None
    assert (await page.request.get(live_server + icon)).status == 200
