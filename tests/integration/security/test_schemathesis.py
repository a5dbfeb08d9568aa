"""Schemathesis against the app's own ``/openapi.json``, in process, as a tenant admin.

Every operation gets a bounded number of generated requests (valid and invalid by the
schema); the one check is that none of them makes the server answer 5xx.
"""

from __future__ import annotations

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from tests.factories import Actors

from .conftest import Tally

EXAMPLES_PER_OPERATION = 25
# Probes and token endpoints are exercised by their own tests; logout would need a session.
SKIP = {"/healthz", "/readyz"}


def test_no_generated_request_makes_the_server_fail(
    client: TestClient, tenant: Actors, tally: Tally
):
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    headers = tenant.headers("tenant_admin")
    tried, violations = 0, []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIP:
            continue
        operations += 1

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                  phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def attack(case: schemathesis.Case) -> None:
            nonlocal tried
            response = case.call(headers=headers)
            tried += 1
            try:
                case.validate_response(response, checks=[not_a_server_error])
            except Exception as failure:  # a failed check: record it with the request
                violations.append(f"{case.method} {case.formatted_path}: "
                                  f"{response.status_code} {str(failure)[:200]}")

        attack()
    tally.record("schemathesis", tried, violations)
    assert violations == []
    assert operations >= 50
