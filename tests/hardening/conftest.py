"""Hardening tests reuse the complaint domain's clean rate limits and the browser fixtures."""

from tests.api.complaints.conftest import fresh_limits
from tests.browser.conftest import browser, live_server, page

__all__ = ["browser", "fresh_limits", "live_server", "page"]
