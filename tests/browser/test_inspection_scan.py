"""The inspector scans a sticker with the phone's camera in a browser without BarcodeDetector
(iPhone Safari, desktop Chromium): Chromium's fake camera plays a video of the demo sticker's
QR code, the page decodes the frames with the vendored jsQR, the field gets the sticker's URL,
and the server matches it to the instrument. The vendored file is the pinned npm package's."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import segno
from PIL import Image

from api.certificates.demo import ROWS
from portal.demo import DEMO_PASSWORD
from tests.browser.fixtures import CHROMIUM, CHROMIUM_ARGS
from tests.support import served_portal, service_missing

ROOT = Path(__file__).resolve().parents[2]
VENDORED = ROOT / "static" / "vendor" / "jsqr"

WIDTH, HEIGHT = 640, 480


def test_the_vendored_decoder_is_the_pinned_npm_package() -> None:
    pinned = json.loads((ROOT / "package.json").read_text())["devDependencies"]["jsqr"]
    locked = json.loads((ROOT / "package-lock.json").read_text())["packages"]["node_modules/jsqr"]
    assert locked["version"] == pinned
    installed = ROOT / "node_modules" / "jsqr"
    if not installed.is_dir():
        service_missing("node_modules/jsqr missing (make node-tools)")
    assert json.loads((installed / "package.json").read_text())["version"] == pinned
    # Byte for byte what npm installed from the lock file (its sha512): nothing edited by hand.
    assert (VENDORED / "jsQR.js").read_bytes() == (installed / "dist" / "jsQR.js").read_bytes()
    assert (VENDORED / "LICENSE").read_bytes() == (installed / "LICENSE").read_bytes()
    assert (VENDORED / "VERSION").read_text().strip() == pinned


def _y4m(text: str, path: Path) -> None:
    """A few YUV4MPEG2 (4:2:0) frames of ``text`` as a QR code on white, the format Chromium's
    fake camera plays in a loop."""
    qr = segno.make(text, error="m")
    scale = min(WIDTH, HEIGHT) * 3 // 4 // qr.symbol_size(border=4)[0]
    buffer = io.BytesIO()
    qr.save(buffer, kind="png", scale=scale, border=4)
    code = Image.open(buffer).convert("L")
    frame = Image.new("L", (WIDTH, HEIGHT), 255)
    frame.paste(code, ((WIDTH - code.width) // 2, (HEIGHT - code.height) // 2))
    y, cb, cr = frame.convert("RGB").convert("YCbCr").split()
    half = (WIDTH // 2, HEIGHT // 2)
    planes = y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(5):
            out.write(b"FRAME\n" + planes)


@pytest.fixture(scope="module")
def scan_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # Its own demo: this test records the inspector's open site, which the phone walk
    # (test_inspections.py) needs open on the shared server.
    with served_portal(tmp_path_factory.mktemp("scan"), demo=True) as base:
        yield base


@pytest.fixture
async def camera_page(tmp_path: Path) -> AsyncIterator[tuple[Any, Path]]:
    """A phone-sized page in a Chromium whose camera plays ``tmp_path/camera.y4m`` (written by
    the test before it opens the scanner) and grants the camera without asking."""
    if not Path(CHROMIUM).exists():
        service_missing(f"Chromium not found at {CHROMIUM} (scripts/install-system-deps.sh)")
    from playwright.async_api import async_playwright

    video = tmp_path / "camera.y4m"
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                *CHROMIUM_ARGS,
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
        # The fallback path: what iPhone Safari and desktop browsers have.
        await context.add_init_script("delete window.BarcodeDetector;")
        page = await context.new_page()
        yield page, video
        await browser.close()


async def test_a_sticker_scanned_without_barcode_detector_is_matched(
    camera_page: tuple[Any, Path], scan_server: str
) -> None:
    page, video = camera_page
    base = scan_server
    await page.goto(base + "/login")
    # The 咸阳市 bureau's account, which may record any of its campaign's sites: the demo ties a
    # random drawn badge to 秦都区's account, and one pooled in another district opens no site
    # there (enforcement/inspections.py _pooled_campaigns), so that account has none in some
    # demos. The form is the same for both.
    await page.get_by_label("邮箱").fill("regulator@gongzhi.demo")
    await page.get_by_label("密码").fill(DEMO_PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_url("**/account")
    await page.goto(base + "/backoffice/inspections")
    await page.locator("main a[href^='/backoffice/inspections/']", has_text="待检查").first.click()
    await page.wait_for_url("**/backoffice/inspections/*")

    # The first instrument of the site with a demo sticker.
    tokens = {row[5]: row[2] for row in ROWS}
    fieldsets = page.locator("fieldset.check")
    for n in range(await fieldsets.count()):
        legend = await fieldsets.nth(n).locator("legend").inner_text()
        serial = legend.rsplit("·", 1)[-1].strip()
        if serial in tokens:
            check = fieldsets.nth(n)
            break
    else:
        pytest.fail("no instrument of the site has a demo certificate")
    # The sticker's link, as the QR code printed on it carries (a plain /v/ link opens the
    # same certificate page, tests/browser/test_certificates.py).
    url = f"{base}/v/{tokens[serial]}"
    _y4m(url, video)
    registration = await check.get_attribute("data-registration")

    assert await page.evaluate("'BarcodeDetector' in window") is False
    await check.get_by_role("button", name="扫码").click()
    assert await page.locator("#scan-dialog").is_visible()
    field = check.get_by_label("扫码或输入证书编号")
    await page.wait_for_function(
        "(r) => document.querySelector(`fieldset[data-registration='${r}'] input[name=scanned]`).value",
        arg=registration,
        timeout=20_000,
    )
    assert await field.input_value() == url
    # Decoded by jsQR, the camera off and the dialog closed.
    assert await page.evaluate("typeof window.jsQR") == "function"
    assert not await page.locator("#scan-dialog").is_visible()
    assert await page.evaluate("document.getElementById('scan-video').srcObject") is None
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390

    await page.get_by_label("签字人").fill("王店长")
    await page.get_by_role("button", name="提交检查结果").click()
    await page.wait_for_selector("#inspection-result")
    # What the server looked up for the scanned text, as the inspection's record says.
    recorded = await page.evaluate(
        "fetch('/api/v1/enforcement/inspections/' + location.pathname.split('/').pop(),"
        " {credentials: 'same-origin'}).then((r) => r.json())"
    )
    scans = {c["registration_id"]: c["scan"] for c in recorded["checks"]}
    assert scans[registration] == "matched"


async def test_no_camera_is_explained(live_server: str) -> None:
    """A computer without a camera: the dialog says so in a sentence and the field stays typed."""
    if not Path(CHROMIUM).exists():
        service_missing(f"Chromium not found at {CHROMIUM} (scripts/install-system-deps.sh)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        # Permission granted without asking, but no (fake) device: getUserMedia finds none.
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[*CHROMIUM_ARGS, "--use-fake-ui-for-media-stream"],
        )
        context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
        await context.add_init_script("delete window.BarcodeDetector;")
        page = await context.new_page()
        await page.goto(live_server + "/login")
        await page.get_by_label("邮箱").fill("regulator@gongzhi.demo")
        await page.get_by_label("密码").fill(DEMO_PASSWORD)
        await page.get_by_role("button", name="登录").click()
        await page.wait_for_url("**/account")
        await page.goto(live_server + "/backoffice/inspections")
        await page.locator(
            "main a[href^='/backoffice/inspections/']", has_text="待检查"
        ).first.click()
        await page.wait_for_url("**/backoffice/inspections/*")
        await page.locator(".scan-button").first.click()
        status = page.locator("#scan-status")
        await page.wait_for_function(
            "() => /相机/.test(document.getElementById('scan-status').textContent)"
            " && !document.getElementById('scan-status').textContent.includes('正在')"
        )
        assert "本设备没有可用的相机" in await status.inner_text()
        assert await page.locator("#scan-video").is_hidden()
        await page.get_by_role("button", name="关闭").click()
        assert not await page.locator("#scan-dialog").is_visible()
        await browser.close()
