"""A phone opens a sticker: the QR code of a demo certificate, decoded by zbar, leads to a page
with the right badge; a bare instrument link and the lookup page agree."""

from __future__ import annotations

import io

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
    await page.get_by_label("证书编号或出厂编号").fill("XYJC2026-0002")
    await page.get_by_role("button", name="查询").click()
    await page.wait_for_url("**/certificates?q=*")
    assert await page.locator("#status-badge").inner_text() == "即将到期"
