from tests.api.certificates.support import institution_user, issue  # noqa: F401
