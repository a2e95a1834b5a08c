"""Property-based fuzzing against real Redis; whatever is sent, the answer is never a 5xx.

- The analyst API driven from its OpenAPI document (schemathesis), operation by operation, with
  valid and invalid parameters and bodies: every answer is a documented status with the
  documented content type, headers and body schema.
- Malformed event bodies (hypothesis): a JSON error, never a 5xx.
- Malformed xAPI statements and raw bodies: never a 5xx.

`make test` runs a bounded number of examples per test; SKILLGAP_FUZZ_EXAMPLES=2000 runs longer."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.tokens import create_token
from lms_helpers import bearer, first_quiz, xapi_headers
from lti_tool import create_app as create_tool
from sidecar.api import create_app as create_api
from sidecar.api.openapi import DOCUMENT
from sidecar.worker import Worker

EXAMPLES = int(os.environ.get("SKILLGAP_FUZZ_EXAMPLES", "30"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


@pytest.fixture
def api(services):
    """The API with a token and two applied learners whose ids the generator tries first."""
    app = create_api(services=services)
    token = create_token(services.redis, services.keys, "acme")
    client = app.test_client()
    quiz = first_quiz(services.catalog).id
    for learner, cohort in (("u-1", "course-1"), ("0", "0")):
        body = {
            "learner": learner,
            "module": quiz,
            "kind": "graded",
            "score": 0.7,
            "timestamp": 1_790_000_000,
            "cohort": cohort,
            "role": services.catalog.roles[0].id,
        }
        assert client.post("/v1/events", json=body, headers=bearer(token)).status_code == 202
    Worker(services).run(burst=True)
    app.config["fuzz_token"] = token
    return app


OPERATIONS = [(method.upper(), path) for path, operations in DOCUMENT["paths"].items() for method in operations]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_answer_is_what_the_document_says(api, method, path):
    operation = schemathesis.openapi.from_wsgi("/v1/openapi.json", api)[path][method]
    headers = bearer(api.config["fuzz_token"])

    @FUZZ
    @given(case=operation.as_strategy())
    def answers_as_documented(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    answers_as_documented()


EVENT_FIELDS = ("learner", "module", "kind", "score", "timestamp", "cohort", "role", "id", "source", "tenant")


@FUZZ
@given(
    body=st.one_of(
        json_values, st.lists(st.dictionaries(st.sampled_from(EVENT_FIELDS), json_values, max_size=8), max_size=3)
    )
)
def test_malformed_events_get_a_json_error(api, body):
    headers = bearer(api.config["fuzz_token"])
    response = api.test_client().post("/v1/events", json=body, headers=headers)
    assert response.is_json, (body, response.status_code)
    assert response.status_code == 202 or 400 <= response.status_code < 500, (body, response.status_code)
    if response.status_code != 202:
        assert response.get_json()["error"]["code"], body


STATEMENT_FIELDS = ("id", "actor", "verb", "object", "result", "context", "timestamp", "version", "authority")


@pytest.fixture
def xapi(services):
    headers = xapi_headers(services, "openedx", "https://openedx.example.com")
    return create_tool(services=services).test_client(), headers


@FUZZ
@given(
    statement=st.dictionaries(st.sampled_from(STATEMENT_FIELDS), json_values, max_size=9),
    raw=st.binary(max_size=200),
)
def test_malformed_xapi_statements_are_never_5xx(xapi, statement, raw):
    client, headers = xapi
    for body in (
        {"json": statement},
        {"json": [statement, statement]},
        {"data": raw, "content_type": "application/json"},
    ):
        response = client.post("/xapi/statements", headers=headers, **body)
        assert response.status_code < 500, (body, response.status_code, response.data[:300])
