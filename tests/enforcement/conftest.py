"""Fixtures of the enforcement tests: an owner in 秦都区 (tests/api/instruments/support.py)."""

from tests.api.instruments.support import owner_user  # noqa: F401
