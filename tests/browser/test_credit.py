"""Credit evaluation in a real browser, on a phone: an association publishes a batch from its
back office and the public page shows the grade; a citizen finds stations by place name and
words, reads how a score is made, objects through the 公示 page's form and lands on a page to
follow the objection; the association's decision form lays its checkboxes out beside their
words."""

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


async def _fits_the_phone(page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{page.url} is {width} px wide"


async def test_citizen_objects_during_notice(page, live_server: str) -> None:
    await page.goto(live_server + "/credit/notices")
    await page.get_by_role("link", name="咸阳市成品油零售企业 2026 年度计量诚信评价").click()
    await page.wait_for_url("**/credit/notices/*")
    # No enterprise is chosen for the objector: they pick the one they mean.
    enterprise = page.get_by_label("被异议企业")
    assert await enterprise.input_value() == ""
    assert await enterprise.locator("option:checked").inner_text() == "请选择"
    await enterprise.select_option(label="乾县梁山加油站")
    await page.get_by_label("姓名或称呼").fill("刘女士")
    await page.get_by_label("联系方式（电话或邮箱）").fill("13991000000")
    await page.get_by_label("异议内容与依据").fill(
        "该站 2 号油枪多次被群众反映计量偏少，请协会复核评分。"
    )
    await page.get_by_role("button", name="提交异议").click()

    # The confirmation: a short reference that fits the phone, what happens next and by when.
    await page.wait_for_url("**/credit/objections/*")
    assert "协会已收到您的异议" in await page.get_by_role("status").inner_text()
    reference = page.locator("#objection-reference")
    assert len(await reference.inner_text()) == 9  # 3C52-0A99
    box = await reference.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= 390
    assert (
        "公示期"
        in await page.get_by_role("heading", name="接下来会怎样").locator("..").inner_text()
    )
    assert await page.locator("#notice-closes").inner_text()
    assert "13991000000" not in await page.content()
    assert "刘女士" not in await page.content()
    await _fits_the_phone(page)

    # The page to follow it is the one the 公示 list links to, under the same reference.
    own = page.url.removesuffix("?new=1")
    ref = await reference.inner_text()
    await page.get_by_role("link", name="咸阳市成品油零售企业 2026 年度计量诚信评价").click()
    await page.wait_for_url("**/credit/notices/*")
    assert "乾县梁山加油站" in await page.locator("ul.objections").inner_text()
    await page.get_by_role("link", name=f"编号 {ref}").click()
    await page.wait_for_url(own)
    assert await page.locator("#objection-status").inner_text() == "待协会处理"


async def test_find_by_place_and_words_then_read_how_the_score_is_made(
    page, live_server: str
) -> None:
    await page.goto(live_server + "/credit")
    await page.get_by_label("企业名称、地址或代码").fill("秦都 加油站")
    await page.get_by_label("地区").fill("咸阳市")
    await page.get_by_role("button", name="筛选").click()
    await page.wait_for_url("**/credit?*")
    assert await page.locator("#region-understood").inner_text() == "地区：陕西省咸阳市"
    names = await page.locator(".rating-card a.name").all_inner_texts()
    assert "咸阳市秦都区渭阳西路加油站有限公司" in names
    assert all("加油站" in name for name in names)
    assert "兴平市金城加油站" not in names  # not in 秦都
    await _fits_the_phone(page)

    # A place that does not exist is said plainly, on the page, not as an error document.
    await page.get_by_label("地区").fill("火星")
    await page.get_by_role("button", name="筛选").click()
    await page.wait_for_url("**/credit?*")
    assert "没有找到名为“火星”的地区" in await page.locator("#region-notice").inner_text()

    await page.goto(live_server + "/credit?region=秦都区&q=渭阳西路")
    await page.get_by_role("link", name="咸阳市秦都区渭阳西路加油站有限公司").click()
    await page.wait_for_url("**/credit/enterprises/*")
    assert await page.get_by_role("heading", name="总分怎么算").is_visible()
    explained = await page.locator(".score-parts").first.inner_text()
    assert "各项得分相加就是总分" in explained
    assert "每 1 点权重折合" in explained
    if "无数据" in explained:  # the reason is beside the indicator, not a bare 不计分
        assert "无数据：" in await page.locator("tr.no-data").first.inner_text()
    assert "第 2 版" in await page.locator("dl.facts").first.inner_text()
    assert "metrology-integrity" not in await page.locator("dl.facts").first.inner_text()
    # Technical proof is one click away.
    proof = page.locator("details.tech").first
    assert not await proof.get_by_text("证据哈希").is_visible()
    await proof.locator("summary").click()
    assert await proof.get_by_text("证据哈希").is_visible()
    await _fits_the_phone(page)


async def test_decision_form_checkboxes_sit_beside_their_words(page, live_server: str) -> None:
    await page.goto(live_server + "/login?next=/credit/manage")
    await page.get_by_label("邮箱").fill("association@gongzhi.demo")
    await page.get_by_label("密码").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url("**/credit/manage")
    labels = page.locator("form.decision-form label.check")
    assert await labels.count() >= 2
    for i in range(await labels.count()):
        label = labels.nth(i)
        box = await label.locator("input[type=checkbox]").bounding_box()
        words = await label.locator("span").bounding_box()
        assert box is not None
        assert words is not None
        assert box["width"] < 40  # a box, not a full-width bar
        assert box["x"] + box["width"] <= words["x"]  # to the left of its words
        box_middle = box["y"] + box["height"] / 2
        assert words["y"] <= box_middle <= words["y"] + words["height"]  # on their line
    await labels.first.locator("span").click()  # the words tick the box
    assert await labels.first.locator("input").is_checked()
    await _fits_the_phone(page)
