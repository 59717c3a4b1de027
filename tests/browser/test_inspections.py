"""An inspector's day on a phone (移动执法终端): 秦都区's account holds a drawn inspector's badge in
the demo; it opens its site, checks the instruments, takes a photo, loses the page and the
signal, and loses nothing; the result is recorded once. Then anyone reads the campaign's
published results. Nothing overflows 390 px."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from api.instruments.demo import OWNERS
from enforcement.demo import DEMO_CAMPAIGN
from tests.api.complaints.images import jpeg
from tests.browser.phone import fits, log_in

pytestmark = pytest.mark.browser


async def test_the_inspectors_day_on_a_phone(page, live_server: str, tmp_path: Path) -> None:
    await log_in(page, live_server, "qindu@gongzhi.demo")
    await (
        page.get_by_role("navigation", name="我的工作").get_by_role("link", name="现场检查").click()
    )
    await page.wait_for_url("**/backoffice/inspections")
    assert "执法证号 SX-ZF-" in await page.locator("main").inner_text()
    await fits(page)
    todo = page.locator("#todo a.task").first
    site = await todo.locator(".task-title").inner_text()
    # The inspector must find the site: its own name (not the published, masked one, which an
    # individual business's is) and its address, with the district by name.
    addresses = {name: address for _, name, _, _, _, address, _ in OWNERS}
    assert site in addresses, site
    where = await todo.locator(".site-address").inner_text()
    assert addresses[site] in where
    assert where.startswith(("渭城区", "兴平市")), where  # never a 秦都区 site: the draw's rule
    await todo.click()
    await page.wait_for_url("**/backoffice/inspections/*")
    assert site in await page.locator("h1").inner_text()
    assert addresses[site] in await page.locator("#site-address").inner_text()
    await fits(page)

    first = page.locator("fieldset.check").first
    await first.get_by_label("扫码或输入证书编号").fill("无此证书-0001")
    await first.get_by_label("封印完好").uncheck()
    await page.get_by_label("签字人").fill("王店长")
    photo = tmp_path / "现场.jpg"
    photo.write_bytes(jpeg())
    await page.locator("#photo-input").set_input_files(str(photo))
    await page.wait_for_selector("#photo-list img")
    await fits(page)

    # The page is lost (a call, a tab closed): the form comes back as it was.
    await page.reload()
    first = page.locator("fieldset.check").first
    assert await first.get_by_label("扫码或输入证书编号").input_value() == "无此证书-0001"
    assert not await first.get_by_label("封印完好").is_checked()
    assert await page.get_by_label("签字人").input_value() == "王店长"
    assert await page.locator("#photo-list img").count() == 1

    # No signal: nothing is lost, and the retry is the same submission.
    await page.context.set_offline(True)
    await page.get_by_role("button", name="提交检查结果").click()
    await page.wait_for_function(
        "document.getElementById('form-status').textContent.includes('网络异常')"
    )
    await page.context.set_offline(False)
    await page.get_by_role("button", name="提交检查结果").click()
    await page.wait_for_selector("#inspection-result")
    result = await page.locator("#inspection-result").inner_text()
    assert "发现问题" in result
    assert "封印破损" in await page.locator("#findings").inner_text()
    assert "标志与该器具的检定证书不符" in await page.locator("#findings").inner_text()
    assert "王店长" in result
    assert await page.locator("#inspection-result img").count() == 1
    await fits(page)
    assert await page.evaluate("Object.keys(localStorage).length") == 0

    await page.goto(live_server + "/backoffice/inspections")
    assert site in await page.locator("#done").inner_text()

    # 一公开: the demo's other sites were inspected 45 days ago, so their results are public.
    await page.context.clear_cookies()
    await page.goto(live_server + "/inspections")
    # The demo's campaign by name: other browser tests on the same server (the bureau's campaign
    # desk) add campaigns of their own, listed before it, with nothing inspected.
    await page.get_by_role("link", name=DEMO_CAMPAIGN, exact=True).click()
    await page.get_by_role("link", name="检查结果公示").click()
    await page.wait_for_url("**/results")
    shown = await page.locator("#results").inner_text()
    assert "发现问题" in shown or "未发现问题" in shown
    assert "张经理" not in await page.content()
    await fits(page)


async def test_a_citizen_verifies_the_draw_as_the_campaign_page_says(
    page, live_server: str, tmp_path: Path
) -> None:
    """Without the repository: the page links the public JSON and the verifier script, and the
    command it prints, run where both were saved, verifies the draw. Districts read as names."""
    await page.goto(live_server + "/inspections")
    await page.get_by_role("link", name=DEMO_CAMPAIGN, exact=True).click()
    await page.wait_for_selector("#draw-result")
    assert not re.search(r"\b\d{6}\b", await page.locator("#draw-result").inner_text())
    assert "咸阳市" in await page.locator("main p.muted").first.inner_text()
    await fits(page)
    how = page.locator("#how-to-verify")
    saved = []
    for name in ("公开数据", "复核脚本"):
        async with page.expect_download() as info:
            await how.get_by_role("link", name=re.compile(name)).click()
        download = await info.value
        target = tmp_path / download.suggested_filename
        await download.save_as(target)
        saved.append(target)
    assert saved[1].name == "verify_draw.py"
    command = await how.locator("code").inner_text()
    args = command.split()
    assert args[:2] == ["python3", "verify_draw.py"], command
    assert args[2:] == [saved[0].name], command
    run = await asyncio.create_subprocess_exec(
        sys.executable,
        *args[1:],
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(run.communicate(), timeout=60)
    assert run.returncode == 0, (out + err).decode()
    assert out.decode().startswith("verified")

    await page.get_by_role("link", name="检查结果公示").click()
    await page.wait_for_url("**/results")
    assert not re.search(r"\b\d{6}\b", await page.locator("#results").inner_text())
