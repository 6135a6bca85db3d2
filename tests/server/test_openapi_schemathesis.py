"""schemathesis against ``/openapi.json``: generated requests for every operation (a few
derandomized examples each, with a credential of a role the matrix allows) find no 5xx and
no response that breaks the document (status codes, content types, response schemas).

One database for the whole run (the operations share it, as real clients would), one
hypothesis run per operation, every failure collected and reported together.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from support.api import api, connected_api  # noqa: F401 - fixtures

from loket.server import roles

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = 8


def test_no_server_errors_and_responses_match_the_document(connected_api):
    api = connected_api
    schema = schemathesis.openapi.from_wsgi("/openapi.json", api.client.app)
    failures, tested = [], set()
    for result in schema.get_all_operations():
        operation = result.ok()
        tested.add((operation.method.upper(), operation.path))
        allowed = roles.allowed(operation.method.upper(), operation.path)
        role = "consumer" if "consumer" in allowed else (allowed[0] if allowed else None)
        headers = api.headers(role)
        # A documented 503 (health and readiness naming an unusable dependency) is an answer.
        checks = CHECKS[1:] if "503" in operation.definition.raw.get("responses", {}) \
            else CHECKS

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate])
        def run(case):
            case.call_and_validate(headers=headers, checks=checks)  # noqa: B023 - run below

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure
            failures.append(f"{operation.method.upper()} {operation.path}: "
                            f"{type(exc).__name__}: {str(exc)[:1500]}")
    assert set(roles.MATRIX) <= tested  # every protected operation was exercised
    assert not failures, "\n\n".join(failures)
