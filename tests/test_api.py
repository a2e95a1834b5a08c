"""The analyst API: auth, errors as JSON naming the field, the thin path, tenant isolation."""

from __future__ import annotations

import re
import time

import pytest

from core.tokens import create_token
from lms_helpers import bearer, graded_event
from sidecar.api.openapi import DOCUMENT
from sidecar.metrics import record_batch
from sidecar.worker import Worker


@pytest.fixture
def other_token(services):
    return create_token(services.redis, services.keys, "globex")


def concrete(path: str) -> str:
    return path.replace("{learner}", "u-1").replace("{cohort}", "course-1")


# Every documented operation that needs a token, with its path parameters filled in.
AUTHENTICATED = [
    (method.upper(), concrete(path))
    for path, operations in DOCUMENT["paths"].items()
    for method, operation in operations.items()
    if operation.get("security", DOCUMENT["security"])
]


def body_for(services, path, learner, **changes):
    """What a POST to `path` sends: an event, or a person from HR."""
    if path == "/v1/people":
        return {"person": learner, "role": services.catalog.roles[0].id, "department": "risk"}
    return graded_event(services, learner=learner, **changes)


def post_and_process(client, services, token, body):
    response = client.post("/v1/events", json=body, headers=bearer(token))
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
@pytest.mark.parametrize(("method", "path"), AUTHENTICATED)
def test_every_route_but_health_needs_a_valid_token(client, headers, method, path):
    response = client.open(path, method=method, headers=headers, json={})
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_thin_path_from_post_to_recommendations(client, services, token):
    response = post_and_process(client, services, token, graded_event(services))
    assert response.json["accepted"] == 1 and len(response.json["ids"]) == 1
    recs = client.get("/v1/learners/u-1/recommendations", headers=bearer(token))
    assert recs.status_code == 200
    items = recs.json["recommendations"]
    assert items
    for item in items:
        assert {"module", "title", "expected_gain", "minutes", "reason", "closes"} <= set(item)
        assert item["expected_gain"] > 0 and item["reason"]
    zh = client.get("/v1/learners/u-1/recommendations?lang=zh", headers=bearer(token)).json["recommendations"]
    assert zh[0]["title"] == services.catalog.modules[services.catalog.module_index[zh[0]["module"]]].title.zh
    mastery = client.get("/v1/learners/u-1/mastery", headers=bearer(token))
    assert mastery.status_code == 200
    points = mastery.json["knowledge_points"]
    assert len(points) == len(services.catalog.knowledge_points)
    for point in points:
        assert point["gap"] == pytest.approx(max(0.0, point["target"] - point["mastery"]), abs=1e-4)
    assert client.get("/v1/learners", headers=bearer(token)).json == {"learners": ["u-1"], "next": None}


def test_a_grade_changes_mastery_and_recommendations(client, services, token):
    post_and_process(client, services, token, graded_event(services, score=0.1))
    before = client.get("/v1/learners/u-1/mastery", headers=bearer(token)).json
    module = graded_event(services)["module"]
    post_and_process(client, services, token, graded_event(services, score=1.0, module=module, timestamp=time.time()))
    after = client.get("/v1/learners/u-1/mastery", headers=bearer(token)).json
    covered = set(services.catalog.modules[services.catalog.module_index[module]].coverage)
    rose = [
        a["mastery"] > b["mastery"]
        for a, b in zip(after["knowledge_points"], before["knowledge_points"])
        if a["id"] in covered
    ]
    assert rose and all(rose)


def test_an_array_of_events_is_accepted(client, services, token):
    body = [graded_event(services, learner=f"u-{i}") for i in range(5)]
    response = post_and_process(client, services, token, body)
    assert response.json["accepted"] == 5
    assert len(client.get("/v1/learners", headers=bearer(token)).json["learners"]) == 5


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
    response = client.post("/v1/events", json=graded_event(services, **body), headers=bearer(token))
    assert response.status_code == 400
    assert response.json["error"]["field"] == field


def test_a_bad_event_in_an_array_is_named_by_index_and_nothing_is_accepted(client, services, token):
    body = [graded_event(services), graded_event(services, score=None)]
    response = client.post("/v1/events", json=body, headers=bearer(token))
    assert response.status_code == 400
    assert response.json["error"]["field"] == "[1].score"
    Worker(services).run(burst=True)
    assert client.get("/v1/learners", headers=bearer(token)).json["learners"] == []


@pytest.mark.parametrize("data", [b"{not json", b"", b"[]"])
def test_unreadable_bodies_get_400(client, token, data):
    response = client.post("/v1/events", data=data, headers=bearer(token), content_type="application/json")
    assert response.status_code == 400
    assert response.json["error"]["field"] == "body"


def test_events_for_another_tenant_are_forbidden(client, services, token):
    response = client.post("/v1/events", json=graded_event(services, tenant="globex"), headers=bearer(token))
    assert response.status_code == 403
    assert response.json["error"]["field"] == "tenant"


def test_unknown_learner_is_404(client, token):
    for path in ("/v1/learners/nobody/mastery", "/v1/learners/nobody/recommendations"):
        response = client.get(path, headers=bearer(token))
        assert response.status_code == 404
        assert response.json["error"]["field"] == "learner"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=x", "limit"),
        ("limit=5000", "limit"),
        ("after=a%20b", "after"),
        ("limit=1_0", "limit"),
        ("limit=%201", "limit"),
        ("limit=%D9%A3", "limit"),  # an Arabic-Indic 3
    ],
)
def test_bad_list_parameters_get_400(client, token, query, field):
    response = client.get(f"/v1/learners?{query}", headers=bearer(token))
    assert response.status_code == 400 and response.json["error"]["field"] == field


def test_bad_language_and_learner_id_get_400(client, token):
    assert client.get("/v1/learners/u-1/mastery?lang=fr", headers=bearer(token)).json["error"]["field"] == "lang"
    assert client.get("/v1/learners/a%20b/mastery", headers=bearer(token)).status_code == 400


def test_a_tenant_never_sees_another_tenants_learners(client, services, token, other_token):
    post_and_process(client, services, token, graded_event(services))
    assert client.get("/v1/learners", headers=bearer(other_token)).json["learners"] == []
    for path in ("/v1/learners/u-1/mastery", "/v1/learners/u-1/recommendations"):
        assert client.get(path, headers=bearer(other_token)).status_code == 404
        assert client.get(path, headers=bearer(token)).status_code == 200


def test_unknown_routes_and_methods_answer_json(client, token):
    missing = client.get("/v1/nothing-here", headers=bearer(token))
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    wrong = client.delete("/v1/events", headers=bearer(token))
    assert wrong.status_code == 405 and "error" in wrong.json


def test_the_authenticated_routes_are_all_there():
    assert {path for _, path in AUTHENTICATED} >= {
        "/v1/learners",
        "/v1/events",
        "/v1/gaps",
        "/v1/cohorts",
        "/v1/cohorts/course-1/gaps",
        "/v1/modules/effectiveness",
    }


def test_the_openapi_document_is_valid_openapi_3_1(client):
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

    served = client.get("/v1/openapi.json").json
    assert served["openapi"] == "3.1.0"
    validate(served)  # raises on any violation of the OpenAPI 3.1 schema
    broken = {**served, "paths": {"/v1/x": {"get": {"responses": {"200": {}}}}}}
    with pytest.raises(OpenAPIValidationError):
        validate(broken)  # the validator does refuse a bad document


def test_every_route_is_documented_and_every_documented_route_answers(app, client, services, token):
    post_and_process(client, services, token, graded_event(services))
    routes = set()
    for rule in app.url_map.iter_rules():
        # Pages for people (the dashboard and its pages kept in files of their own, the docs viewer)
        # are not API operations.
        blueprint = rule.endpoint.split(".")[0]
        if rule.endpoint == "static" or blueprint.startswith("dashboard") or blueprint == "docs":
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method, path))
    documented = {(method.upper(), path) for path, ops in DOCUMENT["paths"].items() for method in ops}
    assert routes == documented
    for method, path in documented:
        body = body_for(services, path, "u-2") if method == "POST" else None
        response = client.open(concrete(path), method=method, headers=bearer(token), json=body)
        expected = next(iter(DOCUMENT["paths"][path][method.lower()]["responses"]))
        assert response.status_code == int(expected), (method, path, response.data[:300])


@pytest.mark.parametrize(("method", "path"), AUTHENTICATED)
def test_another_tenants_token_never_reads_this_tenants_data(client, services, token, other_token, method, path):
    """What globex gets for acme's learner and cohort is exactly what it gets for ids nobody has."""
    post_and_process(client, services, token, graded_event(services, learner="acme-learner-7", cohort="acme-cohort-3"))

    def ask(who, learner, cohort):
        body = body_for(services, path, learner, cohort=cohort, tenant="acme") if method == "POST" else None
        response = client.open(
            path.replace("u-1", learner).replace("course-1", cohort), method=method, headers=bearer(who), json=body
        )
        text = response.data.decode().replace(learner, "LEARNER").replace(cohort, "COHORT")
        return response.status_code, re.sub(r'"as_of":"[^"]*"', "", text)

    status, seen = ask(other_token, "acme-learner-7", "acme-cohort-3")
    assert (status, seen) == ask(other_token, "ghost-1", "ghost-cohort")
    assert status in (200, 202, 403, 404)
    assert "acme" not in seen.replace('"tenant":"acme"', "")
    if method == "GET":  # the owner does see it
        assert ask(token, "acme-learner-7", "acme-cohort-3") != (status, seen) or "effectiveness" in path


def test_cohort_gap_report_in_json_and_csv(client, services, token):
    post_and_process(
        client,
        services,
        token,
        [
            graded_event(services, learner="a", score=1.0),
            graded_event(services, learner="b", score=0.0),
            graded_event(services, learner="c", cohort="course-2"),
        ],
    )
    assert client.get("/v1/cohorts", headers=bearer(token)).json == {"cohorts": ["course-1", "course-2"]}
    report = client.get("/v1/cohorts/course-1/gaps", headers=bearer(token)).json
    assert report["learners"] == 2 and report["cohort"] == "course-1"
    assert report["loss"] == pytest.approx(sum(row["loss"] for row in report["by_point"]), abs=1e-4)
    assert report["loss"] == pytest.approx(sum(row["loss"] for row in report["by_learner"]), abs=1e-4)
    losses = {row["learner"]: row["loss"] for row in report["by_learner"]}
    assert losses["a"] < losses["b"]
    assert [row["cohort"] for row in report["by_cohort"]] == ["course-1"]
    everyone = client.get("/v1/gaps", headers=bearer(token)).json
    assert everyone["learners"] == 3 and [r["cohort"] for r in everyone["by_cohort"]] == ["course-1", "course-2"]
    csv_response = client.get("/v1/cohorts/course-1/gaps?format=csv&by=point&lang=zh", headers=bearer(token))
    assert csv_response.mimetype == "text/csv"
    lines = csv_response.data.decode().splitlines()
    assert lines[0] == "point,name,loss,mean_mastery,mean_target,learners_below_target"
    assert len(lines) == 1 + len(services.catalog.knowledge_points)
    first = services.catalog.knowledge_points[0]
    assert lines[1].startswith(f"{first.id},{first.name.zh},")
    by_learner = client.get("/v1/gaps?format=csv&by=learner", headers=bearer(token)).data.decode().splitlines()
    assert by_learner[0] == "learner,role,loss" and len(by_learner) == 4


@pytest.mark.parametrize(("query", "field"), [("format=xml", "format"), ("by=planet", "by"), ("lang=fr", "lang")])
def test_bad_report_parameters_get_400(client, services, token, query, field):
    post_and_process(client, services, token, graded_event(services))
    response = client.get(f"/v1/cohorts/course-1/gaps?{query}", headers=bearer(token))
    assert response.status_code == 400 and response.json["error"]["field"] == field


def test_an_unknown_cohort_is_404(client, token):
    response = client.get("/v1/cohorts/nope/gaps", headers=bearer(token))
    assert response.status_code == 404 and response.json["error"]["field"] == "cohort"


def test_module_effectiveness_says_when_it_has_no_fitted_version(client, services, token):
    from core.params import activate, store_parameters

    body = client.get("/v1/modules/effectiveness", headers=bearer(token)).json
    assert body["parameters"] is None and "no fitted parameter version" in body["source"]
    module = services.catalog.modules[0]
    first = body["modules"][0]
    assert first["module"] == module.id and first["learners"] is None
    assert all(p["uncertainty"] is None and not p["fitted"] for p in first["points"])
    point = first["points"][0]["point"]
    assert first["points"][0]["learn_rate"] == pytest.approx(module.learn_rate * module.coverage[point], abs=1e-6)
    version = store_parameters(
        services.redis,
        services.keys,
        services.catalog,
        {
            "schema": 1,
            "learn": {module.id: {point: 0.42}},
            "learn_sd": {module.id: {point: 0.03}},
            "learners": {module.id: 57},
        },
    )
    activate(services.redis, services.keys, services.catalog, version)
    services.recheck_parameters()  # skip the few seconds' cache
    fitted = client.get("/v1/modules/effectiveness", headers=bearer(token)).json
    assert fitted["parameters"] == version and fitted["source"] == f"fitted parameter version {version}"
    row = fitted["modules"][0]
    assert row["learners"] == 57
    assert row["points"][0] == {"point": point, "learn_rate": 0.42, "uncertainty": 0.03, "fitted": True}


def test_metrics_count_what_the_workers_did(client, services, token):
    post_and_process(client, services, token, [graded_event(services), graded_event(services, learner="u-2")])
    response = client.get("/metrics")
    assert response.headers["Content-Type"].count("charset") == 1
    text = response.data.decode()
    applied = sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith("skillgap_events_applied_total{")
    )
    assert applied == 2
    assert 'skillgap_partition_lag_entries{partition="0"}' in text
    assert "skillgap_batch_latency_seconds_bucket" in text and "skillgap_dead_letters" in text
    client.post("/v1/events", json=graded_event(services, learner="u-3"), headers=bearer(token))
    lag = sum(
        float(line.rsplit(" ", 1)[1])
        for line in client.get("/metrics").data.decode().splitlines()
        if line.startswith("skillgap_partition_lag_entries{")
    )
    assert lag == 1


def test_batch_latency_buckets_are_cumulative(client, services):
    pipe = services.redis.pipeline(transaction=True)
    for latency_s in (0.003, 0.02, 0.02, 0.3, 12.0):  # the last is slower than every bound
        record_batch(pipe, services.keys.stats(0), 1, 0, 0, 1, latency_s)
    pipe.execute()
    text = client.get("/metrics").data.decode()

    def bucket(le: str) -> float:
        line = next(
            line
            for line in text.splitlines()
            if line.startswith("skillgap_batch_latency_seconds_bucket{")
            and f'le="{le}"' in line
            and 'partition="0"' in line
        )
        return float(line.rsplit(" ", 1)[1])

    assert [bucket(le) for le in ("0.005", "0.01", "0.025", "0.25", "0.5", "10", "+Inf")] == [1, 1, 3, 3, 4, 4, 5]


def test_a_new_hire_is_taught_first_and_told_why(client, services, token):
    """Far below target, what an assessment would say changes nothing: teaching comes first
    (assessments where they decide: tests/test_recommender.py)."""
    role = next(r for r in services.catalog.roles if r.id != services.catalog.default_role)
    enrol = {"learner": "new-hire", "kind": "enrolled", "role": role.id, "cohort": "c-1", "timestamp": time.time()}
    post_and_process(client, services, token, enrol)
    items = client.get("/v1/learners/new-hire/recommendations", headers=bearer(token)).json["recommendations"]
    assert items and all(item["action"] == "learn" for item in items)
    # Within the first three, the module where the role's own path leads (docs/model.md, "own points").
    default = services.catalog.roles[services.catalog.role_index[services.catalog.default_role]]
    path = [i for i, item in enumerate(items) if "own_path" in item]
    assert len(path) == 1 and path[0] < 3
    assert all(role.targets[p] > 0 and not default.targets.get(p, 0) for p in items[path[0]]["own_path"])
    for item in items:
        assert item["closes"] and item["expected_gain"] > 0
        assert all(role.targets.get(c["point"], 0) > 0 or c["target"] > 0 for c in item["closes"])
        mandatory = f"Mandatory for your role: due {item['mandatory_due']}. " if "mandatory_due" in item else ""
        own = "Next on your role's own path (" if "own_path" in item else ""
        assert item["reason"].startswith(mandatory + own + ("" if own else "Raises"))
    zh = client.get("/v1/learners/new-hire/recommendations?lang=zh", headers=bearer(token)).json["recommendations"]
    for item in zh:
        text = item["reason"].removeprefix(f"岗位必修，{item.get('mandatory_due')} 截止。")
        assert text.startswith("你岗位的专属方向" if "own_path" in item else "将")
