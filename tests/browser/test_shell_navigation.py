"""The shell on a phone: every role finds its work after logging in, keyboard users can skip to
the content, and the ``hidden`` attribute hides whatever a stylesheet says."""

from __future__ import annotations

import pytest

from portal.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser

# Each staff role, the links to its work it must see, and one of them to follow.
WORK = {
    "regulator@gongzhi.demo": (
        [
            "投诉举报办理",
            "超期未检器具",
            "强检器具登记审核",
            "强检器具统计",
            "待核对证书",
            "检定机构授权",
            "处罚信息公示",
            "风险分级监管",
            "双随机抽查任务",
            "现场检查",
            "后续处置",
        ],
        ("投诉举报办理", "/staff/complaints"),
    ),
    "institution@gongzhi.demo": (
        ["检定证书管理", "检定申请", "检定计划", "授权证书", "待核对证书"],
        ("检定申请", "/backoffice/applications"),
    ),
    "association@gongzhi.demo": (["诚信评价管理"], ("诚信评价管理", "/credit/manage")),
    "editor@gongzhi.demo": (["科普文章"], ("科普文章", "/editor/articles")),
    "owner@gongzhi.demo": (
        ["强检器具登记", "检定申请", "检定计划"],
        ("强检器具登记", "/owner/instruments"),
    ),
    "admin@gongzhi.demo": (
        [
            "投诉举报办理",
            "超期未检器具",
            "强检器具登记审核",
            "强检器具统计",
            "待核对证书",
            "检定机构授权",
            "处罚信息公示",
            "风险分级监管",
            "双随机抽查任务",
            "现场检查",
            "后续处置",
            "科普文章",
        ],
        ("科普文章", "/editor/articles"),
    ),
}


async def _log_in(page, live_server: str, email: str) -> None:
    await page.goto(live_server + "/login")
    await page.get_by_label("邮箱").fill(email)
    await page.get_by_label("密码").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url("**/account")


@pytest.mark.parametrize("email", list(WORK))
async def test_staff_land_on_account_with_links_to_their_work(
    page, live_server: str, email: str
) -> None:
    titles, (follow, path) = WORK[email]
    await _log_in(page, live_server, email)

    work_bar = page.get_by_role("navigation", name="我的工作")
    assert await work_bar.get_by_role("link").all_inner_texts() == titles
    cards = page.locator("section", has=page.get_by_role("heading", name="我的工作"))
    for title in titles:
        await cards.get_by_role("link", name=title).wait_for()

    await work_bar.get_by_role("link", name=follow).click()
    await page.wait_for_url(f"**{path}")
    assert await work_bar.get_by_role("link", name=follow).get_attribute("aria-current") == "page"
    assert await page.locator("h1").count() == 1


async def test_citizen_sees_complaint_links_and_no_staff_work(page, live_server: str) -> None:
    await _log_in(page, live_server, "citizen@gongzhi.demo")
    # A citizen's only work is following their own cases.
    work_bar = page.get_by_role("navigation", name="我的工作")
    assert await work_bar.get_by_role("link").all_inner_texts() == ["我的投诉"]
    await page.get_by_role("link", name="查询办理进度").click()
    await page.wait_for_url("**/complaints/track")


async def test_visitor_sees_no_work_bar(page, live_server: str) -> None:
    await page.goto(live_server + "/")
    assert await page.get_by_role("navigation", name="我的工作").count() == 0


async def test_skip_link_is_first_and_moves_focus_to_the_content(page, live_server: str) -> None:
    await page.goto(live_server + "/credit")
    skip = page.get_by_role("link", name="跳到正文")
    await page.keyboard.press("Tab")
    assert await skip.evaluate("el => el === document.activeElement")
    box = await skip.bounding_box()
    assert box is not None
    assert box["y"] >= 0  # shown on focus, not left off-screen
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "main"


async def test_every_page_has_one_top_heading_even_without_its_own(page, live_server: str) -> None:
    await page.goto(live_server + "/v/DEMO-SCALE-VALID")
    assert await page.locator("h1").count() == 1
    await page.goto(live_server + "/")
    assert await page.locator("h1").count() == 1


async def test_hidden_attribute_wins_over_display_rules(page, live_server: str) -> None:
    await page.goto(live_server + "/login")
    # A label in a stacked form is display:block by the stylesheet; hidden must still hide it.
    display = await page.evaluate(
        """() => {
          const label = document.querySelector('form.stacked label');
          label.hidden = true;
          return getComputedStyle(label).display;
        }"""
    )
    assert display == "none"


async def test_header_links_are_touch_sized_on_a_phone(page, live_server: str) -> None:
    await _log_in(page, live_server, "regulator@gongzhi.demo")
    for link in await page.locator(".site-nav a, .site-nav button, .work-nav a").all():
        box = await link.bounding_box()
        assert box is not None
        assert box["height"] >= 44, await link.inner_text()
        assert box["width"] >= 44, await link.inner_text()
