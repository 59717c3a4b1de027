"""Fixtures of the browser tests (imported by their conftest and by the fuzz and hardening
conftests): a real server process (``gongzhi serve``) on a free port with a fresh SQLite
database and demo data, driven by Debian's Chromium through Playwright."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.support import served_portal, service_missing

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
    with served_portal(tmp_path_factory.mktemp("live"), demo=True) as base:
        yield base


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
