"""A phone opens a sticker: the QR code of a demo certificate, decoded by zbar, leads to a page
with the right badge; a bare instrument link and the lookup page agree."""

from __future__ import annotations

import io
import re
from typing import Any

import httpx
import pytest
from PIL import Image
from pyzbar.pyzbar import decode

from portal.demo import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def _sticker_url(base: str, number: str) -> str:
    login = httpx.post(
        f"{base}/api/v1/auth/jwt/login",
        data={"username": "institution@gongzhi.demo", "password": DEMO_PASSWORD},
        timeout=10,
    )
    token = login.json()["access_token"]
    png = httpx.get(
        f"{base}/api/v1/certificates/{number}/sticker.png",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert png.status_code == 200, png.text
    return decode(Image.open(io.BytesIO(png.content)))[0].data.decode()


async def test_scanned_sticker_shows_the_badge(page, live_server: str) -> None:
    url = _sticker_url(live_server, "XYJC2026-0001")
    await page.goto(url)
    badge = page.locator("#status-badge")
    assert await badge.inner_text() == "合格有效"
    assert "防伪签名有效" in await page.locator(".verdict").inner_text()
    report = page.get_by_role("link", name="举报这台器具")
    assert "instrument_token=DEMO-SCALE-VALID" in (await report.get_attribute("href") or "")

    revoked = _sticker_url(live_server, "XYJC2026-0006")
    await page.goto(revoked)
    assert await page.locator("#status-badge").inner_text() == "已注销"


async def test_instrument_links_and_lookup(page, live_server: str) -> None:
    await page.goto(live_server + "/v/DEMO-SCALE-EXPIRED")
    assert await page.locator("#status-badge").inner_text() == "已过期"
    assert "李**" in await page.locator(".owner").inner_text()
    await page.goto(live_server + "/v/NO-SUCH-TOKEN")
    assert await page.locator("#status-badge").inner_text() == "查无此证"

    await page.goto(live_server + "/certificates")
    field = page.get_by_label("证书编号或出厂编号")
    # the example has the real numbers' form (XYJC2026-0002 below)
    assert re.fullmatch(r"例如 [A-Z]{4}\d{4}-\d{4}", await field.get_attribute("placeholder") or "")
    # as a phone's Chinese input method types it: full width, lower case, a long dash
    await field.fill("ｘｙｊｃ２０２６—０００２")
    await page.get_by_role("button", name="查询").click()
    await page.wait_for_url("**/certificates?q=*")
    assert await page.locator("#status-badge").inner_text() == "即将到期"
    assert await page.locator(".cert-number").inner_text() == "XYJC2026-0002"


# Every state a scan can land on: the token and the words of its badge.
STATE_PAGES = {
    "valid": ("/v/DEMO-SCALE-VALID", "合格有效"),
    "expiring": ("/v/DEMO-SCALE-EXPIRING", "即将到期"),
    "expired": ("/v/DEMO-SCALE-EXPIRED", "已过期"),
    "failed": ("/v/DEMO-SCALE-FAILED", "不合格"),
    "revoked": ("/v/DEMO-FUEL-REVOKED", "已注销"),
    "none": ("/v/DEMO-SCALE-NEVER", "未检定"),
    "not_found": ("/v/NO-SUCH-TOKEN", "查无此证"),
    "forged": ("/v/eyJhbGciOiJFZERTQSIsImtpZCI6Inh4In0.e30.c2ln", "防伪验证失败"),
}


async def test_each_state_has_its_own_colour_icon_and_meaning(page, live_server: str) -> None:
    looks: dict[str, tuple[str, str, str]] = {}
    for status, (path, words) in STATE_PAGES.items():
        await page.goto(live_server + path)
        heading = page.get_by_role("heading", level=1)
        assert (await heading.inner_text()).strip() == words
        assert await heading.get_attribute("data-status") == status
        icon = await heading.locator("svg").inner_html()
        colour = await page.locator(".verdict").evaluate("e => getComputedStyle(e).backgroundColor")
        meaning = await page.locator("#status-meaning").inner_text()
        assert len(meaning) > 10, (status, meaning)
        looks[status] = (colour, icon, meaning)
    for part, name in enumerate(("colour", "icon", "meaning")):
        seen = [look[part] for look in looks.values()]
        assert len(set(seen)) == len(seen), f"two states share a {name}: {looks}"


async def test_revoked_certificate_leads_with_its_revocation(page, live_server: str) -> None:
    await page.goto(live_server + "/v/DEMO-FUEL-REVOKED")
    revocation = page.locator("#revocation")
    assert await revocation.is_visible()  # not folded away in the history
    assert "铅封被破坏" in await page.locator("#revoked-reason").inner_text()
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", await page.locator("#revoked-on").inner_text())
    facts = page.locator(".cert-facts")
    revocation_box = await revocation.bounding_box()
    facts_box = await facts.bounding_box()
    assert revocation_box
    assert facts_box
    assert revocation_box["y"] < facts_box["y"]
    # The old conclusion and validity are shown as void, never under the current labels.
    terms = await facts.locator("dt").all_inner_texts()
    assert "检定结论" not in terms
    assert "有效期至" not in terms
    assert "原检定结论" in terms
    assert "原有效期至" in terms
    assert "作废" in await page.locator("#conclusion").inner_text()


async def test_never_verified_instrument_shows_what_it_is(page, live_server: str) -> None:
    await page.goto(live_server + "/v/DEMO-SCALE-NEVER")
    details = await page.locator("#instrument-details").inner_text()
    for fact in (
        "电子计价秤",
        "ACS-6",
        "XS2409999",
        "上海友声衡器有限公司",
        "咸阳市秦都区人民路农贸市场有限公司",  # an enterprise: its name is public
        "人民路农贸市场 新增摊位",
    ):
        assert fact in details, fact
    assert "强制检定" in await page.locator("#consumer-advice").inner_text()


async def test_report_button_is_primary_only_where_reporting_makes_sense(
    page, live_server: str
) -> None:
    await page.goto(live_server + "/v/DEMO-SCALE-VALID")
    report = page.locator("#report-instrument")
    assert "outline" in (await report.get_attribute("class") or "")
    assert "category=" not in (await report.get_attribute("href") or "")

    for path in ("/v/DEMO-SCALE-FAILED", "/v/DEMO-FUEL-REVOKED", "/v/NO-SUCH-TOKEN"):
        await page.goto(live_server + path)
        assert "danger" in (await page.locator("#report-instrument").get_attribute("class") or "")

    # From an expired sticker the form opens on 未检定或超期, with that category's own questions.
    await page.goto(live_server + "/v/DEMO-SCALE-EXPIRED")
    await page.locator("#report-instrument").click()
    await page.wait_for_url("**/complaints/new?*")
    category = page.locator("#category")
    assert await category.input_value() == "unverified_instrument"
    selected = await category.evaluate("s => s.options[s.selectedIndex].text")
    assert "未检定或超期" in selected
    assert await page.locator('.extra-fields[data-category="unverified_instrument"]').is_visible()
    assert not await page.locator('.extra-fields[data-category="short_weight"]').is_visible()


async def test_serial_results_are_cards_on_a_phone(page, live_server: str) -> None:
    await page.goto(live_server + "/certificates?q=XS2301001")
    results = page.locator("#serial-results")
    assert await results.is_visible()
    width = await page.evaluate("innerWidth")
    assert await page.evaluate("document.documentElement.scrollWidth") <= width
    for cell in await results.locator("tbody td").all():
        box = await cell.bounding_box()
        assert box is not None
        assert box["width"] > width * 0.6
    label = await results.locator("tbody td").first.evaluate(
        "td => getComputedStyle(td, '::before').content"
    )
    assert label == '"证书编号"'  # each value says which column it was


async def test_institution_prints_a_label_that_scans_at_its_printed_size(
    browser, live_server: str
) -> None:
    # 300 dpi: a CSS millimetre is 96 / 25.4 px, so a device scale of 300 / 96 prints it at 300 dpi.
    context = await browser.new_context(
        viewport={"width": 390, "height": 844}, locale="zh-CN", device_scale_factor=300 / 96
    )
    page = await context.new_page()
    try:
        await page.goto(live_server + "/login?next=/backoffice/certificates")
        await page.get_by_label("邮箱").fill("institution@gongzhi.demo")
        await page.get_by_label("密码").fill(DEMO_PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await page.wait_for_url("**/backoffice/certificates")
        pdf_link = page.get_by_role("link", name="XYJC2026-0001 标签 PDF（40×30 毫米）")
        pdf = await page.request.get(live_server + (await pdf_link.get_attribute("href") or ""))
        assert pdf.status == 200
        assert pdf.headers["content-type"] == "application/pdf"
        sheet = page.get_by_role("link", name="XYJC2026-0001 整张 A4 标签纸 PDF")
        assert "sheet=true" in (await sheet.get_attribute("href") or "")

        svg_link = page.get_by_role("link", name="XYJC2026-0001 标签 SVG")
        await page.goto(live_server + (await svg_link.get_attribute("href") or ""))
        label = page.locator("svg")
        box = await label.bounding_box()
        assert box is not None
        assert round(box["width"] * 25.4 / 96) == 40  # printed 40 mm wide
        image = Image.open(io.BytesIO(await label.screenshot()))
        assert abs(image.width - 40 / 25.4 * 300) < 3  # 472 px: 300 dots per inch
        [symbol] = decode(image)
        url = symbol.data.decode()
        await page.goto(url)
        assert await page.locator("#status-badge").inner_text() == "合格有效"
        assert "防伪签名有效" in await page.locator(".verdict").inner_text()
    finally:
        await context.close()


async def _login_as(page: Any, live_server: str, email: str, target: str) -> None:
    await page.goto(f"{live_server}/login?next={target}")
    await page.get_by_label("邮箱").fill(email)
    await page.get_by_label("密码").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url(f"**{target}")


async def test_institution_issues_one_certificate_and_reads_import_errors_in_its_words(
    page, live_server: str, tmp_path
) -> None:
    """Issue 14: no form to issue one certificate; import errors named category_code and
    verified_on instead of the headers the file used."""
    await _login_as(page, live_server, "institution@gongzhi.demo", "/backoffice/certificates")
    await page.get_by_role("link", name="登记一张证书").click()
    await page.wait_for_url("**/backoffice/certificates/new")
    await page.get_by_label("证书编号").fill("xyjc2026-9001")
    await page.get_by_label("器具类别代码").select_option(label="电子计价秤")
    await page.get_by_role("button", name="登记证书").click()
    # What is missing is said under its field, and what was typed stays.
    await page.locator("#e-serial").wait_for()
    assert "请填写出厂编号" in await page.locator("#e-serial").inner_text()
    assert await page.get_by_label("证书编号").input_value() == "xyjc2026-9001"
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await page.get_by_label("出厂编号").fill("SN-9001")
    await page.get_by_label("使用单位").fill("咸阳市某农贸市场有限公司")
    await page.get_by_label("行政区划代码").fill("610402")
    await page.get_by_label("检定日期").fill("2026-11-02")
    await page.get_by_role("button", name="登记证书").click()
    await page.wait_for_url("**/backoffice/certificates?issued=*")
    assert "证书 XYJC2026-9001 已登记" in await page.get_by_role("status").first.inner_text()

    bad = tmp_path / "证书.csv"
    bad.write_text(
        "证书编号,器具类别,出厂编号,送检单位,行政区划代码,检定日期\n"
        "XYJC2026-9002,电子计价秤,SN-9002,某超市,610402,2026-13-45\n",
        encoding="utf-8",
    )
    await page.get_by_label("证书文件").set_input_files(str(bad))
    await page.get_by_role("button", name="导入").click()
    await page.locator("#import-report").wait_for()
    report = await page.locator("#import-report").inner_text()
    assert "检定日期" in report
    assert "verified_on" not in report


async def test_the_overdue_list_says_due_from_today_not_zero_days_left(
    page, live_server: str
) -> None:
    """Issue 14: a revoked certificate showed 已注销 … 剩 0 天, as if it were still valid."""
    await _login_as(page, live_server, "regulator@gongzhi.demo", "/backoffice/overdue")
    rows = page.locator("table.data tbody tr")
    texts = await rows.all_inner_texts()
    assert texts
    assert not any("剩 0 天" in row for row in texts)
    revoked = [row for row in texts if "已注销" in row]
    assert revoked
    assert all("还剩" not in row for row in revoked)
    assert "陕西省咸阳市" in await page.locator("table.data").inner_text()  # not 610400


async def test_the_overdue_list_shows_each_status_on_a_phone(page, live_server: str) -> None:
    """At 390 px the status sat off-screen inside the table's sideways scroll: each instrument is
    a card on a phone, its status in view, each value labelled with its column."""
    await _login_as(page, live_server, "regulator@gongzhi.demo", "/backoffice/overdue")
    width = await page.evaluate("innerWidth")
    assert await page.evaluate("document.documentElement.scrollWidth") <= width
    statuses = page.locator("table.data tbody td.overdue-status")
    assert await statuses.count() > 0
    for cell in await statuses.all():
        box = await cell.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= width
    label = await statuses.first.evaluate("td => getComputedStyle(td, '::before').content")
    assert label == '"状态"'
    # Every line of a value sits beside its label, none under it (the serial, the USCC).
    for cell in await page.locator("table.data tbody tr").first.locator("td").all():
        left = (await cell.bounding_box())["x"]
        for line in await cell.locator(".muted").all():
            assert (await line.bounding_box())["x"] > left + 40
