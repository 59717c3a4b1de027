"""Integration tests issue certificates and file cases: the certificate fixtures, and rate limits
reset per test (cases count against the client's limit)."""

from tests.api.certificates.support import institution_user, issue  # noqa: F401
from tests.fixtures import fresh_limits  # noqa: F401
