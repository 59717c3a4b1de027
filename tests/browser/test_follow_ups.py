"""The bureau's follow-ups on a phone (390 px): 咸阳市's regulator opens 后续处置 from 我的工作,
sees the demo campaign's overdue order to correct first, records the re-inspection with the form
and finds it under 已改正. Nothing overflows."""

from __future__ import annotations

import pytest

from portal import clock
from tests.browser.phone import fits, log_in

pytestmark = pytest.mark.browser


async def test_a_bureau_corrects_an_overdue_follow_up_on_a_phone(page, live_server: str) -> None:
    await page.set_viewport_size({"width": 390, "height": 844})
    await log_in(page, live_server, "regulator@gongzhi.demo")
    await (
        page.get_by_role("navigation", name="我的工作").get_by_role("link", name="后续处置").click()
    )
    await page.wait_for_url("**/backoffice/follow-ups")
    await fits(page)

    # The demo's two, and any the phone walk (test_inspections.py) left in this session's demo.
    cards = page.locator("#follow-ups > li")
    before = await cards.count()
    assert before >= 2
    overdue = cards.first  # overdue first
    assert "已逾期" in await overdue.inner_text()
    assert "责令改正" in await overdue.inner_text()
    card_id = await overdue.get_attribute("id")
    await overdue.get_by_text("登记已改正（复查）").click()
    await overdue.get_by_label("复查日期").fill(clock.today().isoformat())
    await overdue.get_by_label("复查情况").fill("已更换封印并送检合格（浏览器测试）")
    await fits(page)
    await overdue.get_by_role("button", name="确认已改正").click()
    await page.wait_for_url("**/backoffice/follow-ups?done=corrected*")
    assert await page.locator("#follow-up-done").is_visible()
    assert await page.locator(f"#{card_id}").count() == 0
    assert await page.locator("#follow-ups > li").count() == before - 1
    await fits(page)

    await page.get_by_role("link", name="已改正").click()
    await page.wait_for_url("**/backoffice/follow-ups?view=corrected")
    done = page.locator(f"#{card_id}")
    assert "浏览器测试" in await done.inner_text()
    assert "已改正" in await done.inner_text()
    await fits(page)
    await page.set_viewport_size({"width": 1366, "height": 900})
    assert await page.evaluate("document.documentElement.scrollWidth") <= 1366
