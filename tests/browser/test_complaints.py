"""Complaints in a real browser: file a report with a photo from a phone, track it; a regulator
accepts it from the staff queue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from portal.demo import DEMO_PASSWORD
from tests.api.complaints import images

pytestmark = pytest.mark.browser


async def test_file_a_report_with_a_photo_then_track_it(
    page, live_server: str, tmp_path: Path
) -> None:
    photo = tmp_path / "IMG_2041.jpg"
    photo.write_bytes(images.jpeg((1200, 900), orientation=6))

    await page.goto(live_server + "/complaints/new")
    assert await page.locator("h1").inner_text() == "投诉举报"
    await page.get_by_label("举报", exact=True).check()
    await page.locator("#category").select_option("short_weight")
    await page.locator('[data-category="short_weight"] [data-extra="goods"]').fill("鸡蛋")
    await page.locator("#description").fill("称了两斤鸡蛋，回家复秤只有一斤七两。")
    await page.locator("#business-name").fill("秦都区人民路农贸市场 赵记蛋品")
    await page.locator("#business-address").fill("咸阳市秦都区人民路农贸市场")
    await page.locator("#photo-input").set_input_files(str(photo))
    await page.locator("#photo-list li.uploaded").wait_for(timeout=20000)
    assert await page.locator("#photo-list li.uploaded img.thumb").count() == 1
    # The photo's GPS was offered as the location.
    assert "照片拍摄位置" in await page.locator("#location-status").inner_text()
    await page.locator("#anonymous").check()
    await page.locator("#submit-btn").click()
    await page.locator("#result").wait_for(state="visible", timeout=20000)
    number = await page.locator("#result-number").inner_text()
    token = await page.locator("#result-token").inner_text()
    assert number.startswith("JL")
    assert len(token) >= 32

    await page.goto(live_server + "/complaints/track")
    await page.locator("#tracking-number").fill(number)
    await page.locator("#access-token").fill(token)
    await page.get_by_role("button", name="查询").click()
    await page.locator("#case-number").wait_for()
    assert await page.locator("#case-number").inner_text() == number
    assert await page.locator("#case-status").inner_text() == "待受理"
    assert "已提交" in await page.locator("#timeline").inner_text()
    thumbnail = page.locator("img.case-photo")
    assert await thumbnail.count() == 1
    width = await thumbnail.evaluate("img => img.naturalWidth")
    height = await thumbnail.evaluate("img => img.naturalHeight")
    assert height > width  # EXIF orientation 6: shown upright (portrait)

    await page.goto(live_server + "/complaints/track")
    await page.locator("#tracking-number").fill(number)
    await page.locator("#access-token").fill("wrong-token-wrong-token-wrong-token")
    await page.get_by_role("button", name="查询").click()
    assert "未找到" in await page.get_by_role("alert").inner_text()


async def test_regulator_accepts_from_the_queue(page, live_server: str) -> None:
    await page.goto(live_server + "/login?next=/staff/complaints")
    await page.get_by_label("邮箱").fill("regulator@gongzhi.demo")
    await page.get_by_label("密码").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url("**/staff/complaints")
    rows = page.locator("#case-queue tbody tr")
    assert await rows.count() >= 5  # the demo cases in 咸阳's districts
    await page.goto(live_server + "/staff/complaints?status=received")
    await page.locator("#case-queue tbody tr a").first.click()
    await page.locator("#case-status").wait_for()
    assert await page.locator("#case-status").inner_text() == "待受理"
    # Only what the case allows now is offered: a received case cannot be closed or reopened.
    offered = await page.locator("#case-actions summary").all_inner_texts()
    assert offered[0] == "受理"
    assert "关闭" not in offered
    assert "重新办理" not in offered
    await page.locator("#action-accept summary").click()
    await page.locator("#action-accept").get_by_role("button", name="受理").click()
    await page.locator("#action-done").wait_for()
    assert await page.locator("#action-done").inner_text() == "“受理”已完成。"
    assert await page.locator("#case-status").inner_text() in (
        "已受理",
        "核查中",
    )  # complaint | report
    timeline = await page.locator(".timeline strong").all_inner_texts()
    assert timeline[0] == "已提交"  # in Chinese, not submitted / accepted
    assert timeline[-1] == "已受理"
    assert not any(re.fullmatch(r"[a-z_]+", title) for title in timeline)
    facts = await page.locator("dl.facts").first.inner_text()
    assert "咸阳市" in facts  # the region by name, not 610402
