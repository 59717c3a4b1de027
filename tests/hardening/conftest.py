"""Hardening tests reuse the clean rate limits and the browser fixtures."""

from tests.browser.fixtures import browser, live_server, page
from tests.fixtures import fresh_limits

__all__ = ["browser", "fresh_limits", "live_server", "page"]
