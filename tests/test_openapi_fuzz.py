"""The OpenAPI document is the truth: schemathesis generates requests from it (valid and
invalid) against the API with real Redis, and every answer must be no 5xx, a documented
status, the documented content type, headers and body schema. A bounded number of examples
per operation in `make test`; SKILLGAP_FUZZ_EXAMPLES runs more."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.tokens import create_token
from sidecar.api import create_app
from sidecar.api.openapi import DOCUMENT
from sidecar.worker import Worker

EXAMPLES = int(os.environ.get("SKILLGAP_FUZZ_EXAMPLES", "30"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api(services):
    app = create_app(services=services)
    token = create_token(services.redis, services.keys, "acme")
    client = app.test_client()
    quiz = next(m for m in services.catalog.modules if m.method == "quiz").id
    for learner, cohort in (("u-1", "course-1"), ("0", "0")):  # ids the generator tries first
        body = {
            "learner": learner,
            "module": quiz,
            "kind": "graded",
            "score": 0.7,
            "timestamp": 1_790_000_000,
            "cohort": cohort,
            "role": services.catalog.roles[0].id,
        }
        assert client.post("/v1/events", json=body, headers={"Authorization": f"Bearer {token}"}).status_code == 202
    Worker(services).run(burst=True)
    app.config["fuzz_token"] = token
    return app


OPERATIONS = [(method.upper(), path) for path, operations in DOCUMENT["paths"].items() for method in operations]


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_answer_is_what_the_document_says(api, method, path):
    operation = schemathesis.openapi.from_wsgi("/v1/openapi.json", api)[path][method]
    headers = {"Authorization": f"Bearer {api.config['fuzz_token']}"}

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def answers_as_documented(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    answers_as_documented()
