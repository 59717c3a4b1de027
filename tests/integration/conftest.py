from tests.api.certificates.conftest import institution_user, issue  # noqa: F401
