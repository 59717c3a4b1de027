"""Every page of the portal, for every role that can open it, at 320, 390 and 1366 px in Chromium
with the demo data: nothing wider than the screen, no text squeezed below two characters a line,
and axe-core with no violations.

The pages come from the application's routes (tests/browser/portal_pages.py), so a new page is
checked without being listed here. A role that may not open a page must be refused properly (a
login redirect for visitors, 403 for other roles); that is all that is checked for it there.

KNOWN_FAILURES lists the cases that fail today, each marked ``xfail(strict=True)`` with what is
wrong: fixing one turns its case into a failure until its line here is deleted.

With GONGZHI_SCREENSHOT_DIR set (``make screenshots``), each page is also saved as a full-page PNG
under ``<dir>/<width>/<role>/<page>.png``.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from portal.demo import DEMO_PASSWORD
from tests.browser.portal_pages import (
    AXE_JS,
    AXE_SCRIPT,
    NARROW_TEXT_JS,
    OPTIONAL_DEMO,
    OVERFLOW_JS,
    ROLES,
    VIEWPORTS,
    demo_links,
    page_routes,
    pages,
)
from tests.support import service_missing

pytestmark = pytest.mark.browser

SCREENSHOT_DIR = os.environ.get("GONGZHI_SCREENSHOT_DIR")

# Pages that answer with a status other than 200 on purpose.
EXPECTED_STATUS = {"/no-such-page": 404, "/v/NO-SUCH-STICKER": 404}

ANY = "*"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
# (page, role, width) → what is wrong; ANY matches every role or width. Each of these is issue 14.
KNOWN_FAILURES: dict[tuple[str, str, int | str], str] = {}


def _known_failure(page: str, role: str, width: int) -> str | None:
    for (known_page, known_role, known_width), reason in KNOWN_FAILURES.items():
        if known_page == page and known_role in (ANY, role) and known_width in (ANY, width):
            return reason
    return None


def _cases() -> list[Any]:
    cases = []
    for page in pages():
        for role in ROLES:
            for width in VIEWPORTS:
                reason = _known_failure(page, role, width)
                marks = (
                    [pytest.mark.xfail(strict=True, reason=f"issue 14: {reason}")] if reason else []
                )
                cases.append(
                    pytest.param(page, role, width, marks=marks, id=f"{page}-{role}-{width}")
                )
    return cases


@pytest.fixture(scope="session")
def demo_urls(live_server: str) -> dict[str, str]:
    return demo_links(live_server, page_routes())


class RoleContexts:
    """One browser context per role, logged in as that role's demo user (once, not once per page).

    The cases of one page and role come one after another, one per width: the page is loaded and
    axe injected once, then the viewport is resized for each width (media queries apply as on a
    device of that width), which keeps the walk of the whole portal affordable."""

    def __init__(self, browser: Any, base: str) -> None:
        self.browser = browser
        self.base = base
        self.contexts: dict[str, Any] = {}
        self.access: dict[tuple[str, str], tuple[int, str, str]] = {}
        self.open: tuple[str, str] | None = None
        self.tab: Any = None

    async def context(self, role: str) -> Any:
        if role not in self.contexts:
            # axe is injected as an inline script, which the portal's CSP rightly forbids.
            context = await self.browser.new_context(
                viewport={"width": 390, "height": VIEWPORTS[390]}, locale="zh-CN", bypass_csp=True
            )
            email = ROLES[role]
            if email is not None:
                response = await context.request.post(
                    f"{self.base}/login",
                    form={"email": email, "password": DEMO_PASSWORD},
                    headers={"Origin": self.base},
                    max_redirects=0,
                )
                assert response.status == 303, f"demo login failed for {email}"
            self.contexts[role] = context
        return self.contexts[role]

    async def answer(self, url: str, role: str) -> tuple[int, str, str]:
        """Status, content type and redirect target of ``url`` for ``role``, asked once."""
        if (url, role) not in self.access:
            # Asked as a browser navigating asks (Accept: text/html), so the portal answers as it
            # answers a person: its HTML error page, not the API's problem+json.
            response = await (await self.context(role)).request.get(
                url, max_redirects=0, headers={"Accept": BROWSER_ACCEPT}
            )
            self.access[(url, role)] = (
                response.status,
                response.headers.get("content-type", ""),
                response.headers.get("location", ""),
            )
        return self.access[(url, role)]

    async def page(self, url: str, role: str) -> Any:
        """The page at ``url`` as ``role``, loaded with axe ready (reused for the next width)."""
        if self.open != (url, role):
            await self.close_tab()
            self.tab = await (await self.context(role)).new_page()
            await self.tab.goto(url, wait_until="load")
            await self.tab.add_script_tag(path=str(AXE_SCRIPT))
            self.open = (url, role)
        return self.tab

    async def close_tab(self) -> None:
        if self.tab is not None:
            await self.tab.close()
        self.tab, self.open = None, None

    async def close(self) -> None:
        await self.close_tab()
        for context in self.contexts.values():
            await context.close()


@pytest.fixture(scope="session")
async def role_contexts(browser: Any, live_server: str) -> AsyncIterator[RoleContexts]:
    if not AXE_SCRIPT.exists():
        service_missing(f"axe-core not installed at {AXE_SCRIPT} (make node-tools)")
    contexts = RoleContexts(browser, live_server)
    yield contexts
    await contexts.close()


def _concrete(page: str, demo_urls: dict[str, str]) -> str:
    if "{" not in page:
        return page
    if page not in demo_urls and page in OPTIONAL_DEMO:
        pytest.skip(f"no demo data for {page}: {OPTIONAL_DEMO[page]}")
    if page not in demo_urls:
        pytest.fail(
            f"no demo page links to {page}: add demo data that links to it, or an example in "
            "tests/browser/portal_pages.py EXAMPLES"
        )
    return demo_urls[page]


def _screenshot_path(page: str, role: str, width: int) -> Path | None:
    if not SCREENSHOT_DIR:
        return None
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", page.strip("/")) or "home"
    return Path(SCREENSHOT_DIR) / str(width) / role / f"{name}.png"


@pytest.mark.parametrize(("page", "role", "width"), _cases())
async def test_page_fits_and_passes_axe(
    page: str,
    role: str,
    width: int,
    live_server: str,
    demo_urls: dict[str, str],
    role_contexts: RoleContexts,
) -> None:
    url = live_server + _concrete(page, demo_urls)
    status, content_type, location = await role_contexts.answer(url, role)
    if status == 303 and ROLES[role] is None:
        assert location.startswith("/login?next="), location
        return  # a visitor is sent to log in: the login page is walked on its own
    if status == 403 and ROLES[role] is not None:
        return  # this role may not open the page, and is told so
    assert status == EXPECTED_STATUS.get(page, 200), f"{page} answered {status}"
    assert content_type.startswith("text/html"), f"{page} answered {content_type} to a browser"

    tab = await role_contexts.page(url, role)
    await tab.set_viewport_size({"width": width, "height": VIEWPORTS[width]})
    shot = _screenshot_path(page, role, width)
    if shot is not None:
        shot.parent.mkdir(parents=True, exist_ok=True)
        await tab.screenshot(path=str(shot), full_page=True)
    problems: list[str] = []
    overflow = await tab.evaluate(OVERFLOW_JS)
    if overflow:
        problems.append(f"overflow: {overflow}")
    problems += [f"narrow: {line}" for line in await tab.evaluate(NARROW_TEXT_JS)]
    problems += [f"axe: {line}" for line in await tab.evaluate(AXE_JS)]
    assert not problems, f"{page} as {role} at {width} px:\n" + "\n".join(problems)
