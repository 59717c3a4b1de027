"""Browser tests: fixtures in fixtures.py (a live demo server, Chromium, a page)."""

from tests.browser.fixtures import browser, live_server, page  # noqa: F401
