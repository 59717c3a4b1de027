"""Fixtures of the registration tests (defined in support.py)."""

from tests.api.certificates.support import institution_user, issue  # noqa: F401
from tests.api.instruments.support import owner_user  # noqa: F401
