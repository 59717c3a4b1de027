"""The bureau's 双随机 desk on a phone (390 px): 咸阳市's regulator creates a campaign from the
back office, reads the commitment, draws with a confirmation and sees the pairings and the seed;
a refused form shows the API's error beside its field. Nothing overflows."""

from __future__ import annotations

import pytest

from tests.browser.phone import fits, log_in

pytestmark = pytest.mark.browser


async def test_a_bureau_creates_and_draws_a_campaign_on_a_phone(page, live_server: str) -> None:
    await page.set_viewport_size({"width": 390, "height": 844})
    await log_in(page, live_server, "regulator@gongzhi.demo")
    await (
        page.get_by_role("navigation", name="我的工作")
        .get_by_role("link", name="双随机抽查任务")
        .click()
    )
    await page.wait_for_url("**/backoffice/campaigns")
    await fits(page)
    await page.get_by_role("link", name="新建抽查任务").click()
    await page.wait_for_url("**/backoffice/campaigns/new")
    await fits(page)

    await page.get_by_label("任务名称").fill("浏览器测试 双随机抽查")
    # Too many: the API's answer is shown beside the field, in Chinese.
    await page.get_by_label("抽取数量（家）").fill("9999")
    rows = page.locator(".inspector-row")
    for n, (badge, name, district) in enumerate(
        [("T-ZF-1", "王一", "610402"), ("T-ZF-2", "李二", "610403"), ("T-ZF-3", "张三", "610404")]
    ):
        row = rows.nth(n)
        await row.get_by_label("执法证号").fill(badge)
        await row.get_by_label("姓名").fill(name)
        await row.get_by_label("所在区县执法机构").select_option(district)
    await page.get_by_role("button", name="公布承诺值").click()
    error = page.locator("#err-sample_size")
    await error.wait_for(state="visible")
    assert "少于抽取数量" in await error.inner_text()
    await fits(page)

    await page.get_by_label("抽取数量（家）").fill("1")
    await page.get_by_label("按风险等级加权").check()
    await page.get_by_role("button", name="公布承诺值").click()
    await page.wait_for_url("**/backoffice/campaigns/*?created=1")
    commitment = await page.locator("#commitment").inner_text()
    assert len(commitment) == 64
    assert "承诺值是由候选对象名单" in await page.locator("main").inner_text()
    await fits(page)

    await page.get_by_role("button", name="抽取").click()
    await page.get_by_role("button", name="取消").click()
    assert await page.locator("#pairings").count() == 0
    await page.get_by_role("button", name="抽取").click()
    await page.get_by_role("button", name="确认抽取").click()
    await page.wait_for_selector("#pairings")
    assert len(await page.locator("#seed").inner_text()) == 64
    text = await page.locator("#pairings").inner_text()
    assert "T-ZF-" in text
    await fits(page)

    await page.goto(live_server + "/backoffice/campaigns")
    assert "浏览器测试 双随机抽查" in await page.locator("#campaign-list").inner_text()
