"""Credit evaluation in a real browser: an association publishes a batch from its back office
and the public page shows the grade; a citizen objects through the 公示 page's form."""

from __future__ import annotations

import pytest

from credit.demo import MARKET_USER
from portal.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


async def test_association_publishes_and_public_page_shows_grade(page, live_server: str) -> None:
    await page.goto(live_server + "/login?next=/credit/manage")
    await page.get_by_label("邮箱").fill(MARKET_USER)
    await page.get_by_label("密码").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url("**/credit/manage")
    assert "咸阳市农贸市场行业协会" in await page.locator("h1").inner_text()

    # The demo batch's 公示 has ended: publish it.
    await page.get_by_role("button", name="发布结果").click()
    await page.wait_for_url("**/credit/manage?msg=*")
    assert "已发布评价结果" in await page.get_by_role("status").inner_text()

    # The public list finds the market; its page shows grade, validity and the chart.
    await page.goto(live_server + "/credit?q=西兰路")
    await page.get_by_role("link", name="咸阳市秦都区西兰路农贸市场有限公司").click()
    await page.wait_for_url("**/credit/enterprises/*")
    assert (await page.locator("#current-grade").inner_text()).startswith("AAA")
    assert "至" in await page.locator("#validity").inner_text()
    assert await page.locator("svg.chart rect.chart-points").count() >= 1


async def test_citizen_objects_during_notice(page, live_server: str) -> None:
    await page.goto(live_server + "/credit/notices")
    await page.get_by_role("link", name="咸阳市成品油零售企业 2026 年度计量诚信评价").click()
    await page.wait_for_url("**/credit/notices/*")
    await page.get_by_label("被异议企业").select_option(label="乾县梁山加油站")
    await page.get_by_label("姓名或称呼").fill("刘女士")
    await page.get_by_label("联系方式（电话或邮箱）").fill("13991000000")
    await page.get_by_label("异议内容与依据").fill(
        "该站 2 号油枪多次被群众反映计量偏少，请协会复核评分。"
    )
    await page.get_by_role("button", name="提交异议").click()
    assert "异议已提交" in await page.get_by_role("status").inner_text()
    assert "乾县梁山加油站" in await page.locator("ul.objections").inner_text()
    assert "13991000000" not in await page.content()
