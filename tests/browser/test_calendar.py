"""The administrator imports next year's holiday notice from a phone: 我的账号 → 节假日安排, paste,
preview, import, check the days, remove."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

NOTICE_2027 = (Path(__file__).parent.parent / "portal" / "notices" / "2027-invented.txt").read_text(
    encoding="utf-8"
)


async def test_admin_previews_imports_and_removes_a_notice(page, live_server: str) -> None:
    await page.goto(live_server + "/login")
    await page.get_by_label("邮箱").fill("admin@gongzhi.demo")
    await page.get_by_label("密码").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url("**/account")

    await page.get_by_role("link", name="节假日安排", exact=True).click()
    await page.wait_for_url("**/admin/calendar")
    assert await page.locator("h1").inner_text() == "节假日安排"
    await page.get_by_label("通知全文").fill(NOTICE_2027)
    await page.get_by_role("button", name="预览").click()
    await page.wait_for_url("**/admin/calendar")
    preview = page.locator("#calendar-preview")
    assert "2027-02-05" in await preview.inner_text()
    # Nothing overflows a phone's width.
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390

    await page.get_by_role("button", name="确认导入2027年安排").click()
    await page.wait_for_url("**/admin/calendar/2027?imported=1")
    assert "已导入" in await page.locator("#calendar-imported-ok").inner_text()
    assert (
        "国务院办公厅关于2027年部分节假日安排的通知"
        in await page.locator("#calendar-source").inner_text()
    )
    assert "2027-02-20" in await page.locator(".calendar-days").inner_text()
    # The staff banner (shown when a deadline may reach 2027) no longer names 2027.
    for warning in await page.locator(".calendar-warning").all_inner_texts():
        assert "2027年" not in warning

    await page.get_by_label("确认删除", exact=False).check()
    await page.get_by_role("button", name="删除本年度导入的安排").click()
    await page.wait_for_url("**/admin/calendar")
    assert await page.locator("#calendar-imported").count() == 0  # no notice imported any more
