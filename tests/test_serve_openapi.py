"""The served OpenAPI document: checked in, and honoured by every response.

schemathesis generates requests for each operation from ``/openapi.json`` (fixed seed,
bounded examples) against a real server: no response may be a 500, and every response
must match the status codes and schemas the document declares.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from serve_helpers import ALICE, Server, copy_fixture_index

from index.serve.app import HANDLERS, openapi_document
from index.serve.operations import operations

DOC = Path(__file__).resolve().parents[1] / "docs" / "openapi.json"
EXAMPLES = 5
AUTH = {"Authorization": "Basic " + base64.b64encode(":".join(ALICE).encode()).decode()}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv = Server(copy_fixture_index(tmp_path_factory.mktemp("serve-openapi")), "--no-webhooks")
    yield srv
    srv.stop()


def test_checked_in_document_is_what_the_server_serves(server: Server) -> None:
    served = httpx.get(f"{server.origin}/openapi.json").json()
    assert served == json.loads(DOC.read_text()), (
        "docs/openapi.json is stale: regenerate it with "
        "python -c 'import json; from index.serve.app import openapi_document as d; "
        "print(json.dumps(d(), indent=2, sort_keys=True))' > docs/openapi.json")


def test_document_lists_exactly_the_served_operations() -> None:
    listed = {op["operationId"] for path in openapi_document()["paths"].values()
              for op in path.values()}
    assert listed == set(HANDLERS)
    assert listed <= set(operations())


def test_responses_match_the_document(server: Server) -> None:
    schema = schemathesis.openapi.from_url(f"{server.origin}/openapi.json")
    checks = [not_a_server_error, response_schema_conformance, status_code_conformance,
              content_type_conformance]
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(base_url=server.origin, headers=AUTH, checks=checks)

        run()
        tested += 1
    assert tested == sum(len(m) for m in openapi_document()["paths"].values())
