"""schemathesis against the app's own OpenAPI schema, with the real services behind it.

With valid credentials no operation may answer 5xx; without credentials every protected
operation answers 401. (Response-schema conformance is not asserted yet: our 422 bodies name
the field in a shape of their own, not FastAPI's HTTPValidationError list.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hsettings

from tests.integration._search_support import (
    api,
    auth,
    drop_indices,
    make_settings,
    person,
    prepare_database,
    unique_prefix,
)

OPEN = {"/healthz", "/readyz", "/dev-issuer/.well-known/jwks.json",
        "/.well-known/openid-configuration", "/dev-issuer/token"}


def test_no_operation_answers_5xx(opensearch_url: str, sqlite_url: str,
                                               tmp_path: Path) -> None:
    settings = make_settings(opensearch_url, sqlite_url, unique_prefix("fuzz"), tmp_path)
    prepare_database(settings)
    try:
        with api(settings) as client:
            headers = auth(client, ["records_admin", "hub_analyst", "reviewer", "auditor"],
                           None, subject="fuzzer")
            client.post("/v1/records", json={"records": [
                person("SC", "fz-1", "Amira", "Haddad", "2016-02-01", postcode="LS9 7AB")]},
                headers=headers)
            schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
            failures: list[str] = []
            for operation in schema.get_all_operations():
                op = operation.ok()
                strategy = op.as_strategy()

                @hsettings(max_examples=8, deadline=None, database=None,
                           suppress_health_check=list(HealthCheck))
                def run(case: schemathesis.Case) -> None:
                    case.headers = {**(case.headers or {}), **headers}
                    response = case.call()
                    if response.status_code >= 500:
                        failures.append(f"{case.method} {case.path}: {response.status_code}")

                from hypothesis import given

                given(strategy)(run)()
            assert failures == []
    finally:
        drop_indices(settings)


@pytest.mark.parametrize("use_key", [False, True])
def test_every_protected_operation_answers_401_without_credentials(
        opensearch_url: str, sqlite_url: str, tmp_path: Path, use_key: bool) -> None:
    settings = make_settings(opensearch_url, sqlite_url, unique_prefix("unauth"), tmp_path)
    prepare_database(settings)
    try:
        with api(settings) as client:
            schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
            checked = 0
            for operation in schema.get_all_operations():
                op = operation.ok()
                if op.path in OPEN:
                    continue
                path = op.path.replace("{person_id}", "P1").replace("{review_id}", "1")
                headers = {"X-API-Key": "not-a-real-key"} if use_key else {}
                response = client.request(op.method.upper(), path, json={}, headers=headers)
                assert response.status_code == 401, (op.method, op.path, response.status_code)
                checked += 1
            assert checked >= 10
    finally:
        drop_indices(settings)  # the app's start-up created them
