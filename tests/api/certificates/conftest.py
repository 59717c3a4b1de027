"""Fixtures of the certificate tests (defined in support.py, which other test packages share)."""

from tests.api.certificates.support import institution_user, issue  # noqa: F401
