"""Property-based fuzzing: the analyst API driven from its OpenAPI document (schemathesis), and
malformed event and xAPI bodies (hypothesis); whatever is sent, the answer is never a 5xx.
`make test` runs a bounded number of examples; SKILLGAP_FUZZ_EXAMPLES=2000 runs longer."""

from __future__ import annotations

import base64
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.tokens import create_token
from lti_tool import create_app as create_tool
from lti_tool.xapi.credentials import create_credentials
from sidecar.api import create_app as create_api

EXAMPLES = int(os.environ.get("SKILLGAP_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


@pytest.fixture
def api(services):
    return create_api(services=services)


def test_the_api_never_answers_5xx(api, services):
    """Every operation of the OpenAPI document, with generated parameters and bodies (valid and not)."""
    token = create_token(services.redis, services.keys, "acme")
    schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", api)
    operations = st.one_of([result.ok().as_strategy() for result in schema.get_all_operations()])

    @FUZZ
    @given(case=operations)
    def never_5xx(case):
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text[:300])

    never_5xx()


EVENT_FIELDS = ("learner", "module", "kind", "score", "timestamp", "cohort", "role", "id", "source", "tenant")


@FUZZ
@given(
    body=st.one_of(
        json_values, st.lists(st.dictionaries(st.sampled_from(EVENT_FIELDS), json_values, max_size=8), max_size=3)
    )
)
def test_malformed_events_are_4xx(api, services, body):
    token = create_token(services.redis, services.keys, "acme")
    response = api.test_client().post("/v1/events", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code < 500 and response.is_json


STATEMENT_FIELDS = ("id", "actor", "verb", "object", "result", "context", "timestamp", "version", "authority")


@FUZZ
@given(
    statement=st.dictionaries(st.sampled_from(STATEMENT_FIELDS), json_values, max_size=9),
    raw=st.binary(max_size=200),
)
def test_malformed_xapi_statements_are_4xx(services, statement, raw):
    credential, secret = create_credentials(
        services.redis, services.keys, "acme", "openedx", "https://openedx.example.com"
    )
    auth = base64.b64encode(f"{credential.key}:{secret}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "X-Experience-API-Version": "1.0.3"}
    client = create_tool(services=services).test_client()
    for body in (
        {"json": statement},
        {"json": [statement, statement]},
        {"data": raw, "content_type": "application/json"},
    ):
        response = client.post("/xapi/statements", headers=headers, **body)
        assert response.status_code < 500, (body, response.status_code, response.data[:300])
