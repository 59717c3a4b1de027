"""Property-based fuzzing of the whole API from its OpenAPI document (schemathesis), against a
real server process: no 5xx, responses match their declared schemas and content types, and every
error is problem+json. New endpoints are covered as soon as they are in the OpenAPI document."""

from __future__ import annotations

import os

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from portal.app import create_app
from portal.settings import Settings

MAX_EXAMPLES = int(os.environ.get("GONGZHI_FUZZ_EXAMPLES", "25"))


# The document the server publishes, built from the same app factory (no server needed to
# collect the tests); the cases are sent over HTTP to the real server process.
schema = schemathesis.openapi.from_dict(create_app(Settings(run_worker_in_process=False)).openapi())


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases every run, so CI is repeatable
)
def test_api_conforms_to_its_schema(case: schemathesis.Case, live_server: str) -> None:
    # Not "positive data acceptance": schema-valid requests are rightly refused by business rules
    # (wrong password, e-mail already registered, unknown region code). Not "ignored auth":
    # photo upload and case submission are open to anonymous citizens by design, so a stale
    # cookie means anonymous (an invalid bearer token is a 401: tests/portal/test_security.py).
    # Every other check runs, including that schema-violating requests are refused.
    response = case.call_and_validate(
        base_url=live_server,
        excluded_checks=[checks.positive_data_acceptance, checks.ignored_auth],
    )
    # Open311 answers errors in its own formats (XML or JSON), documented per operation.
    if response.status_code >= 400 and not case.path.startswith("/open311/"):
        content_type = response.headers.get("content-type", [""])[0]
        assert content_type.startswith("application/problem+json"), (
            response.status_code,
            response.text[:300],
        )
        body = response.json()
        assert body["status"] == response.status_code
        assert body["code"]
