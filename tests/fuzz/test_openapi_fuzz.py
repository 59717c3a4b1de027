"""Property-based fuzzing of the whole API from its OpenAPI document (schemathesis), against a
real server process: no 5xx, responses match their declared schemas and content types, and every
error is problem+json. New endpoints are covered as soon as they are in the OpenAPI document.

Three phases per operation: the schema's examples, the coverage phase (boundary values of every
bounded field: an integer's minimum and maximum and one past each, which is what found no
overflow while integers were unbounded; tests/hardening/test_integer_bounds.py keeps every
integer bounded), and GONGZHI_FUZZ_EXAMPLES random cases. Then a stateful phase chains calls
along the links schemathesis infers (create, then read what was created)."""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis import checks

from portal.app import create_app
from portal.settings import Settings

MAX_EXAMPLES = int(os.environ.get("GONGZHI_FUZZ_EXAMPLES", "100"))
STATEFUL_EXAMPLES = int(os.environ.get("GONGZHI_FUZZ_STATEFUL_EXAMPLES", "30"))
# Not "positive data acceptance": schema-valid requests are rightly refused by business rules
# (wrong password, e-mail already registered, unknown region code). Not "ignored auth": photo
# upload and case submission are open to anonymous citizens by design, so a stale cookie means
# anonymous (an invalid bearer token is a 401: tests/portal/test_security.py).
EXCLUDED_CHECKS = [checks.positive_data_acceptance, checks.ignored_auth]


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
    # Every other check runs, including that schema-violating requests are refused.
    response = case.call_and_validate(base_url=live_server, excluded_checks=EXCLUDED_CHECKS)
    assert_problem_shape(case, response)


def test_api_workflows_conform_to_the_schema(live_server: str) -> None:
    """The stateful phase: sequences of calls where later ones use what earlier ones returned."""

    # A case's documents exist only after staff actions on it: the links schemathesis infers to
    # them (from a case's `documents`) draw differently when a replay meets the server's state
    # from the first run (FlakyStrategyDefinition); the other phases still fuzz those routes.
    # The same holds for compulsory-verification management's registrations and applications,
    # whose links exist only once an owner has registered or applied, and for risk-based
    # enforcement's campaigns and scored sites, which exist only once a bureau has committed a
    # campaign or recomputed its region's scores.
    stateful = schema.exclude(
        path_regex=r"/documents/|/instrument-registrations|/verification-applications"
        r"|/instruments/import|/instruments/\{registration_id\}"
        r"|/enforcement/|/inspection-campaigns"
    )

    class Workflow(stateful.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": live_server}

        def validate_response(  # type: ignore[override]
            self, response: Any, case: schemathesis.Case, **kwargs: Any
        ) -> None:
            case.validate_response(response, excluded_checks=EXCLUDED_CHECKS)
            assert_problem_shape(case, response)

    Workflow.run(
        settings=settings(
            max_examples=STATEFUL_EXAMPLES,
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            # No shrinking: a replay against a server whose state moved on draws differently
            # (FlakyStrategyDefinition) and would hide the failure found; it is reported as is.
            phases=[Phase.explicit, Phase.generate],
        )
    )


def assert_problem_shape(case: schemathesis.Case, response: Any) -> None:
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
