"""Search from the home page in a real browser, then open a result."""

from __future__ import annotations

import asyncio

import httpx
import pytest

pytestmark = pytest.mark.browser


async def test_search_from_home_page_and_open_a_result(page, live_server: str) -> None:
    # The in-process worker indexes the demo content shortly after start-up.
    async with httpx.AsyncClient(base_url=live_server) as client:
        for _ in range(100):
            found = (await client.get("/api/v1/search", params={"q": "加油机"})).json()
            if found["total"]:
                break
            await asyncio.sleep(0.3)
    assert found["total"] > 0

    await page.goto(live_server + "/")
    await page.get_by_label("搜索科普文章、处罚公示和政策法规").fill("加油机 作弊")
    await page.get_by_role("button", name="搜索").click()
    await page.wait_for_url("**/search?q=*")
    assert "共" in await page.locator("#result-count").inner_text()
    first = page.locator("ol.hits li.hit h2 a").first
    assert await page.locator("ol.hits mark").count() > 0
    title = await first.inner_text()
    await first.click()
    await page.wait_for_load_state()
    assert await page.locator("h1").inner_text() == title


@pytest.mark.parametrize("typed", ["jlf", "jiliangfa"])
async def test_pinyin_typed_on_a_phone_finds_what_was_meant(
    page, live_server: str, typed: str
) -> None:
    """Issue 14: jlf and jiliangfa gave 共 0 条 while the empty page advised typing jlf."""
    async with httpx.AsyncClient(base_url=live_server) as client:
        for _ in range(100):
            if (await client.get("/api/v1/search", params={"q": "计量法"})).json()["total"]:
                break
            await asyncio.sleep(0.3)
    await page.goto(live_server + "/search")
    await page.locator("#search-q").fill(typed)
    await page.get_by_role("button", name="搜索").click()
    await page.wait_for_url("**/search?q=*")
    said = await page.locator("#did-you-mean").inner_text()
    assert "计量法" in said
    assert "共 0 条" not in await page.locator("#result-count").inner_text()
    assert await page.locator("ol.hits li.hit").count() > 0
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
