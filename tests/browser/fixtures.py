"""Fixtures of the browser tests (imported by their conftest and by the fuzz and hardening
conftests): a real server process (``gongzhi serve``) on a free port with a fresh SQLite
database and demo data, driven by Debian's Chromium through Playwright."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import GONGZHI, free_port, service_missing

CHROMIUM = os.environ.get("GONGZHI_CHROMIUM", "/usr/bin/chromium")
# Without these, Chromium tries to reach Google's services, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("live")
    port = free_port()
    env = {
        **os.environ,
        "GONGZHI_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'live.db'}",
        "GONGZHI_STORAGE_DIR": str(root / "storage"),
        "GONGZHI_SIGNING_KEY_FILE": str(root / "signing-key.pem"),
        "GONGZHI_BASE_URL": f"http://127.0.0.1:{port}",
        "GONGZHI_ENV": "test",
    }
    for step in (["db", "upgrade"], ["demo"]):
        subprocess.run([GONGZHI, *step], env=env, check=True, capture_output=True, timeout=300)
    process = subprocess.Popen(
        [GONGZHI, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError(
            f"server did not start: {process.stderr.read() if process.stderr else ''}"
        )
    yield base
    process.terminate()
    process.wait(timeout=20)
    if process.stderr is not None:  # a pipe left open is a ResourceWarning, an error here
        process.stderr.close()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[object]:
    if not Path(CHROMIUM).exists():
        service_missing(f"Chromium not found at {CHROMIUM} (scripts/install-system-deps.sh)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: object) -> AsyncIterator[object]:
    # A phone-sized viewport: the portal is mobile-first.
    context = await browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 390, "height": 844}, locale="zh-CN"
    )
    page = await context.new_page()
    yield page
    await context.close()
