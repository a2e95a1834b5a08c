"""What the API promises about failures: an error answer means nothing of the request was
written, no input gets a 5xx, every error is JSON (405 with Allow, 503 with Retry-After)."""

from __future__ import annotations

import time
from urllib.parse import quote

import orjson
import pytest
import redis

from core.csv_export import attachment
from core.eventlog import decode_entry
from core.http import MAX_JSON_DEPTH
from core.redis_server import EmbeddedRedis
from core.services import build_services
from core.tokens import create_token
from lms_helpers import bearer, first_quiz, graded_event, xapi_headers
from lti_tool import create_app as lti_app
from sidecar.api import create_app
from sidecar.api.errors import RETRY_AFTER_S
from sidecar.worker import Worker
from xapi_shapes import MOODLE, moodle_quiz_submitted


def events_on_log(client, keys, partitions):
    return sum(len(decode_entry(fields)) for p in range(partitions) for _, fields in client.xrange(keys.stream(p)))


def test_a_503_means_nothing_of_the_request_was_written(tmp_path, settings):
    """Fill a Redis with a memory limit until it refuses: every request then answered 503
    left nothing on the log, every 202 left all of its events."""
    with EmbeddedRedis(tmp_path / "redis", {"maxmemory": "4mb", "maxmemory-policy": "noeviction"}) as server:
        client = redis.Redis.from_url(server.url)
        services = build_services(settings.replace(redis_url=server.url), client)
        token = create_token(client, services.keys, "acme")
        http = create_app(services=services).test_client()
        quiz = first_quiz(services.catalog).id
        accepted, refused = 0, 0
        for request in range(400):
            body = [
                {
                    "learner": f"l-{request}-{i}",
                    "module": quiz,
                    "kind": "graded",
                    "score": 0.5,
                    "timestamp": time.time() - 60,
                }
                for i in range(400)
            ]
            response = http.post("/v1/events", json=body, headers=bearer(token))
            if response.status_code == 202:
                accepted += len(body)
                continue
            assert response.status_code == 503, response.json
            assert response.headers["Retry-After"] == str(RETRY_AFTER_S)
            assert response.json["error"]["code"] == "unavailable"
            refused += 1
            if refused == 3:
                break
        assert refused == 3 and accepted > 0
        assert events_on_log(client, services.keys, services.settings.partitions) == accepted
        client.close()


@pytest.mark.parametrize("role", [[], {}, 3, True, ["learner"]])
def test_a_role_of_the_wrong_type_is_a_400(client, services, headers, role):
    body = {"learner": "u-1", "kind": "enrolled", "role": role, "timestamp": time.time() - 60}
    response = client.post("/v1/events", json=body, headers=headers)
    assert response.status_code == 400 and response.json["error"]["field"] == "role"


def test_a_wrong_method_is_a_json_405_with_allow(client, headers):
    response = client.delete("/v1/events", headers=headers)
    assert response.status_code == 405 and response.json["error"]["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].split(", ")) >= {"POST"}


def test_redis_unavailable_is_a_json_503_with_retry_after(services):
    client = create_app(services=services).test_client()
    services.redis = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # Redis gone: nothing listens
    response = client.get("/v1/learners", headers={"Authorization": "Bearer whatever"})
    assert response.status_code == 503 and response.json["error"]["code"] == "unavailable"
    assert response.headers["Retry-After"] == str(RETRY_AFTER_S)
    health = client.get("/v1/health")
    assert health.status_code == 503 and health.headers["Retry-After"] == str(RETRY_AFTER_S)
    assert (health.json["status"], health.json["redis"]) == ("degraded", "unavailable")


def test_the_tools_health_says_when_redis_does_not_answer(services):
    services = services.with_settings(ags_background=False)
    tool = lti_app(services=services).test_client()
    assert tool.get("/health").json == {"status": "ok", "redis": "ok"}
    services.redis = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # Redis gone
    health = tool.get("/health")
    assert health.status_code == 503 and health.json == {"status": "degraded", "redis": "unavailable"}
    assert "Redis: unavailable" in tool.get("/").text


def test_a_csv_export_of_a_non_latin_cohort_names_it_by_rfc_5987(client, services, headers):
    cohort = "Команда «ИИ» 1"
    body = graded_event(services, score=0.5, cohort=cohort)
    assert client.post("/v1/events", json=body, headers=headers).status_code == 202
    Worker(services).run(burst=True)
    response = client.get(f"/v1/cohorts/{quote(cohort)}/gaps?format=csv", headers=headers)
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    disposition.encode("latin-1")  # a header the server can send
    assert (
        'filename="gaps-' in disposition
        and "filename*=UTF-8''" + quote(f"gaps-{cohort}-by-point.csv", safe="") in disposition
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gaps-all-by-point.csv", 'attachment; filename="gaps-all-by-point.csv"'),
        ('a"b\\c;d.csv', "attachment; filename=\"a-b-c-d.csv\"; filename*=UTF-8''a%22b%5Cc%3Bd.csv"),
        ("日本.csv", "attachment; filename=\"-.csv\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.csv"),
    ],
)
def test_attachment_names_have_an_ascii_fallback(name, expected):
    assert attachment(name) == expected


def nested(depth: int) -> bytes:
    """JSON text of objects nested `depth` deep (built as text: serializers refuse deep nesting)."""
    return b'{"x":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 300, 1_000])
def test_json_nested_past_the_bound_is_a_400_at_the_api(client, headers, depth):
    body = orjson.dumps({"learner": "u-1", "kind": "enrolled", "timestamp": time.time() - 60, "role": "@"})
    body = body.replace(b'"@"', nested(depth))
    response = client.post("/v1/events", data=body, headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 400 and response.json["error"]["field"] == "body"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, 300, 1_000])
def test_xapi_statements_nested_past_the_bound_are_a_json_400(services, depth):
    headers = xapi_headers(services, "moodle", MOODLE + "/")
    tool = lti_app(services=services).test_client()
    statement = moodle_quiz_submitted()
    statement["result"]["extensions"] = {"https://example.org/x": "@"}
    body = orjson.dumps(statement).replace(b'"@"', nested(depth))
    response = tool.post(
        "/xapi/statements",
        data=body,
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 400 and response.json["error"]["rule"] == "json"
    wrong = tool.delete("/xapi/statements", headers={"Authorization": headers["Authorization"]})
    assert wrong.status_code == 405 and wrong.json["error"]["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["Allow"]
