"""An owner on a phone: registers a water meter (the form asks for its DN), uploads a file, and
applies for verification; the bureau confirms from its phone; nothing overflows 390 px."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.phone import fits, log_in

pytestmark = pytest.mark.browser


async def test_owner_registers_uploads_and_the_bureau_confirms(
    page, live_server: str, tmp_path: Path
) -> None:
    await log_in(page, live_server, "owner@gongzhi.demo")
    await (
        page.get_by_role("navigation", name="我的工作")
        .get_by_role("link", name="强检器具登记")
        .click()
    )
    await page.wait_for_url("**/owner/instruments")
    await fits(page)

    await page.get_by_text("登记一台器具").click()
    await page.get_by_label("器具类别").select_option("water-meter")
    await page.get_by_label("出厂编号").fill("BR-WM-1")
    await page.get_by_label("安装位置").fill("东门水表井")
    await page.get_by_role("button", name="登记", exact=True).click()
    # The cycle of a water meter depends on its DN: asked for, nothing stored.
    assert "公称口径" in await page.locator("#e-dn").inner_text()
    await fits(page)
    await page.get_by_label("公称口径", exact=False).fill("20")
    await page.get_by_role("button", name="登记", exact=True).click()
    await page.wait_for_url("**/owner/instruments?registered=BR-WM-1")
    assert "BR-WM-1" in await page.locator("#register-ok").inner_text()

    upload = tmp_path / "登记.csv"
    upload.write_bytes(
        "器具类别,出厂编号,用途\n电子计价秤,BR-S-1,贸易结算\n水表,BR-WM-2,贸易结算\n".encode(
            "gb18030"
        )
    )
    await page.get_by_text("批量登记（CSV 或 XLSX）").click()
    await page.get_by_label("文件").set_input_files(str(upload))
    await page.get_by_role("button", name="上传并登记").click()
    report = await page.locator("#import-report").inner_text()
    assert "新登记 1 台" in report
    assert "第 3 行" in report
    await fits(page)

    await page.context.clear_cookies()
    await log_in(page, live_server, "qindu@gongzhi.demo")
    await page.goto(live_server + "/backoffice/registrations")
    item = page.locator(".reg-item", has_text="BR-WM-1")
    await item.get_by_role("button", name="确认").click()
    await page.wait_for_url("**/backoffice/registrations?done=confirmed")
    await fits(page)
    await page.goto(live_server + "/backoffice/overdue")
    assert "BR-WM-1" in await page.locator("table").inner_text()  # never verified: due today


async def test_the_regional_statistics_read_on_a_phone(page, live_server: str) -> None:
    """At 390 px the table by category scrolled sideways inside itself and 未检定, 不合格 and
    已注销 sat off-screen: on a phone each category is a card, every state labelled, in view;
    the trend spans the demo's months."""
    await log_in(page, live_server, "regulator@gongzhi.demo")
    await page.goto(live_server + "/backoffice/instrument-statistics")
    await fits(page)
    cells = page.locator("table.data tbody td.stats-unverified")
    assert await cells.count() > 1
    for cell in await cells.all():
        box = await cell.bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= 390
    assert await cells.first.evaluate("td => getComputedStyle(td, '::before').content") == (
        '"未检定"'
    )
    months = await page.locator("table.stats-months tbody tr").all_inner_texts()
    assert sum(1 for row in months if row.split()[1] != "0") >= 6  # registered in 6+ months
