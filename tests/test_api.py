"""The analyst API: auth, errors as JSON naming the field, the thin path, tenant isolation."""

from __future__ import annotations

import time

import pytest

from sidecar.api import create_app
from sidecar.worker import Worker
from skillgap.tokens import create_token


@pytest.fixture
def app(services):
    return create_app(services=services)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def token(services):
    return create_token(services.redis, services.keys, "acme")


@pytest.fixture
def other_token(services):
    return create_token(services.redis, services.keys, "globex")


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def event(services, **changes):
    quiz = next(m for m in services.catalog.modules if m.method == "quiz")
    base = {"learner": "u-1", "module": quiz.id, "kind": "graded", "score": 0.8,
            "timestamp": time.time() - 60, "cohort": "course-1"}  # fmt: skip
    base.update(changes)
    return base


def post_and_process(client, services, token, body):
    response = client.post("/v1/events", json=body, headers=auth(token))
    assert response.status_code == 202, response.json
    Worker(services).run(burst=True)
    return response


def test_health_needs_no_token(client):
    response = client.get("/v1/health")
    assert response.status_code == 200
    assert response.json["status"] == "ok" and response.json["redis"] == "ok"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer sgk_forged"}],
    ids=["missing", "empty", "wrong-scheme", "unknown-token"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/learners"), ("GET", "/v1/learners/u-1/mastery"), ("GET", "/v1/learners/u-1/recommendations"),
     ("POST", "/v1/events")],  # fmt: skip
)
def test_every_route_but_health_needs_a_valid_token(client, headers, method, path):
    response = client.open(path, method=method, headers=headers, json={})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_thin_path_from_post_to_recommendations(client, services, token):
    response = post_and_process(client, services, token, event(services))
    assert response.json["accepted"] == 1 and len(response.json["ids"]) == 1
    recs = client.get("/v1/learners/u-1/recommendations", headers=auth(token))
    assert recs.status_code == 200
    items = recs.json["recommendations"]
    assert items
    for item in items:
        assert {"module", "title", "expected_gain", "minutes", "reason", "closes"} <= set(item)
        assert item["expected_gain"] > 0 and item["reason"]
    zh = client.get("/v1/learners/u-1/recommendations?lang=zh", headers=auth(token)).json["recommendations"]
    assert zh[0]["title"] == services.catalog.modules[services.catalog.module_index[zh[0]["module"]]].title.zh
    mastery = client.get("/v1/learners/u-1/mastery", headers=auth(token))
    assert mastery.status_code == 200
    points = mastery.json["knowledge_points"]
    assert len(points) == len(services.catalog.knowledge_points)
    for point in points:
        assert point["gap"] == pytest.approx(max(0.0, point["target"] - point["mastery"]), abs=1e-4)
    assert client.get("/v1/learners", headers=auth(token)).json == {"learners": ["u-1"], "next": None}


def test_a_grade_changes_mastery_and_recommendations(client, services, token):
    post_and_process(client, services, token, event(services, score=0.1))
    before = client.get("/v1/learners/u-1/mastery", headers=auth(token)).json
    module = event(services)["module"]
    post_and_process(client, services, token, event(services, score=1.0, module=module, timestamp=time.time()))
    after = client.get("/v1/learners/u-1/mastery", headers=auth(token)).json
    covered = set(services.catalog.modules[services.catalog.module_index[module]].coverage)
    rose = [a["mastery"] > b["mastery"] for a, b in zip(after["knowledge_points"], before["knowledge_points"])
            if a["id"] in covered]  # fmt: skip
    assert rose and all(rose)


def test_an_array_of_events_is_accepted(client, services, token):
    body = [event(services, learner=f"u-{i}") for i in range(5)]
    response = post_and_process(client, services, token, body)
    assert response.json["accepted"] == 5
    assert len(client.get("/v1/learners", headers=auth(token)).json["learners"]) == 5


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"module": "m-nowhere"}, "module"),
        ({"score": 3}, "score"),
        ({"learner": "someone@example.com"}, "learner"),
        ({"kind": "liked"}, "kind"),
        ({"timestamp": "soon"}, "timestamp"),
    ],
)
def test_bad_events_get_400_naming_the_field(client, services, token, body, field):
    response = client.post("/v1/events", json=event(services, **body), headers=auth(token))
    assert response.status_code == 400
    assert response.json["error"]["field"] == field


def test_a_bad_event_in_an_array_is_named_by_index_and_nothing_is_accepted(client, services, token):
    body = [event(services), event(services, score=None)]
    response = client.post("/v1/events", json=body, headers=auth(token))
    assert response.status_code == 400
    assert response.json["error"]["field"] == "[1].score"
    Worker(services).run(burst=True)
    assert client.get("/v1/learners", headers=auth(token)).json["learners"] == []


@pytest.mark.parametrize("data", [b"{not json", b"", b"[]"])
def test_unreadable_bodies_get_400(client, token, data):
    response = client.post("/v1/events", data=data, headers=auth(token), content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"]["field"] == "body"


def test_events_for_another_tenant_are_forbidden(client, services, token):
    response = client.post("/v1/events", json=event(services, tenant="globex"), headers=auth(token))
    assert response.status_code == 403
    assert response.json["error"]["field"] == "tenant"


def test_unknown_learner_is_404(client, token):
    for path in ("/v1/learners/nobody/mastery", "/v1/learners/nobody/recommendations"):
        response = client.get(path, headers=auth(token))
        assert response.status_code == 404
        assert response.json["error"]["field"] == "learner"


@pytest.mark.parametrize(
    ("query", "field"), [("limit=0", "limit"), ("limit=x", "limit"), ("limit=5000", "limit"), ("after=a%20b", "after")]
)
def test_bad_list_parameters_get_400(client, token, query, field):
    response = client.get(f"/v1/learners?{query}", headers=auth(token))
    assert response.status_code == 400 and response.json["error"]["field"] == field


def test_bad_language_and_learner_id_get_400(client, token):
    assert client.get("/v1/learners/u-1/mastery?lang=fr", headers=auth(token)).json["error"]["field"] == "lang"
    assert client.get("/v1/learners/a%20b/mastery", headers=auth(token)).status_code == 400


def test_a_tenant_never_sees_another_tenants_learners(client, services, token, other_token):
    post_and_process(client, services, token, event(services))
    assert client.get("/v1/learners", headers=auth(other_token)).json["learners"] == []
    for path in ("/v1/learners/u-1/mastery", "/v1/learners/u-1/recommendations"):
        assert client.get(path, headers=auth(other_token)).status_code == 404
        assert client.get(path, headers=auth(token)).status_code == 200


def test_unknown_routes_and_methods_answer_json(client, token):
    missing = client.get("/v1/nothing-here", headers=auth(token))
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    wrong = client.delete("/v1/events", headers=auth(token))
    assert wrong.status_code == 405 and "error" in wrong.json
