"""GET /v1/openapi.json: the API described in OpenAPI 3.1 (a test checks it against the routes)."""

from __future__ import annotations

import re

from flask import Blueprint

from sidecar.api.events import MAX_EVENTS_PER_REQUEST
from sidecar.api.people import MAX_PEOPLE_PER_REQUEST
from sidecar.api.reports import BREAKDOWNS
from core.catalog.model import LANGUAGES
from core.events import KIND_NAMES, LEARNER_PATTERN

blueprint = Blueprint("openapi", __name__)

BEARER = [{"bearer": []}]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict:
    meaning = {400: "bad input; `field` names it", 401: "missing or unknown token", 403: "another tenant's data",
               404: "no such learner or cohort in this tenant", 503: "Redis unavailable"}  # fmt: skip
    return {str(s): _json(_ref("Error"), meaning[s]) for s in statuses}


def _json_pattern(regex: re.Pattern) -> str:
    """A validation regex in JSON Schema's (ECMA-262) dialect, where `$` is the end of the text."""
    return regex.pattern.replace(r"\Z", "$")


def _param(name: str, where: str, description: str, schema: dict | None = None, required: bool = False) -> dict:
    return {"name": name, "in": where, "description": description, "required": required or where == "path",
            "schema": schema or {"type": "string"}}  # fmt: skip


LANG = _param("lang", "query", "language of names and reasons", {"type": "string", "enum": list(LANGUAGES)})
LEARNER = _param("learner", "path", "pseudonymous learner id")
REPORT_PARAMS = [
    _param("format", "query", "json (every breakdown) or csv (the one named by `by`)",
           {"type": "string", "enum": ["json", "csv"]}),
    _param("by", "query", "the CSV's breakdown", {"type": "string", "enum": list(BREAKDOWNS)}),
    LANG,
]  # fmt: skip
REPORT_RESPONSE = {
    "description": "the loss L = Σ max(0, T − K)² and its breakdowns, mastery decayed to now",
    "content": {"application/json": {"schema": _ref("GapReport")}, "text/csv": {"schema": {"type": "string"}}},
}

SCHEMAS = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}}},
    },
    "Event": {
        "type": "object", "required": ["learner", "kind", "timestamp"], "additionalProperties": False,
        "properties": {
            "v": {"const": 1}, "id": {"type": "string", "maxLength": 128}, "tenant": {"type": "string"},
            "learner": {"type": "string", "pattern": _json_pattern(LEARNER_PATTERN)},
            "cohort": {"type": "string"}, "module": {"type": "string", "description": "catalog module id"},
            "kind": {"type": "string", "enum": list(KIND_NAMES)},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "timestamp": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]},
            "source": {"type": "string"}, "role": {"type": "string"},
        },
    },
    "Person": {
        "type": "object", "required": ["person", "role"], "additionalProperties": False,
        "properties": {
            "person": {"type": "string", "pattern": _json_pattern(LEARNER_PATTERN),
                       "description": "the person's learner id in this tenant (pseudonymous: no names or emails)"},
            "role": {"type": "string", "description": "catalog role id; follows the person into every course"},
            "department": {"type": "string", "maxLength": 128, "description": "a breakdown of the gap reports"},
            "manager": {"type": "string", "pattern": _json_pattern(LEARNER_PATTERN), "description": "the manager's person id"},
            "start_date": {"type": "string", "format": "date"},
        },
    },
    "PeopleAccepted": {"type": "object", "properties": {"accepted": {"type": "integer"}}},
    "Accepted": {"type": "object", "properties": {"accepted": {"type": "integer"},
                                                  "ids": {"type": "array", "items": {"type": "string"}}}},
    "Health": {"type": "object", "properties": {"status": {"type": "string"}, "redis": {"type": "string"},
                                                "catalog": {"type": "object"}, "partitions": {"type": "integer"}}},
    "LearnerPage": {"type": "object", "properties": {"learners": {"type": "array", "items": {"type": "string"}},
                                                     "next": {"type": ["string", "null"]}}},
    "Mastery": {"type": "object", "properties": {
        "learner": {"type": "string"}, "role": {"type": "string"}, "as_of": {"type": "string"},
        "loss": {"type": "number"}, "knowledge_points": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}, "mastery": {"type": "number"},
            "uncertainty": {"type": "number"}, "target": {"type": "number"}, "gap": {"type": "number"},
            "last_activity": {"type": ["string", "null"]}}}}}},
    "Recommendations": {"type": "object", "properties": {
        "learner": {"type": "string"}, "role": {"type": "string"},
        "computed_at": {"type": ["string", "null"], "description": "the learner's latest event: rankings are as of it"},
        "recommendations": {"type": "array", "items": {"type": "object", "properties": {
            "module": {"type": "string"}, "title": {"type": "string"},
            "action": {"enum": ["learn", "review", "assess"]},
            "expected_gain": {"type": "number"}, "gain_per_hour": {"type": "number"}, "minutes": {"type": "number"},
            "method": {"type": "string"}, "url": {"type": ["string", "null"]}, "reason": {"type": "string"},
            "closes": {"type": "array", "description": "points it raises in plan order; needed_for: points that need it"},
            "relies_on": {"type": "array"},
            "waits_for": {"type": "array", "description": "required points below the threshold: it teaches slower till then"},
            "unlocks": {"type": "array", "description": "modules the role needs that it makes ready"},
            "measures": {"type": "array", "description": "assessments: points where the result decides what is next"}}}}}},
    "CohortList": {"type": "object", "properties": {"cohorts": {"type": "array", "items": {"type": "string"}}}},
    "GapReport": {"type": "object", "properties": {
        "tenant": {"type": "string"}, "cohort": {"type": ["string", "null"]}, "as_of": {"type": "string"},
        "learners": {"type": "integer"}, "loss": {"type": "number"},
        "by_point": {"type": "array"}, "by_role": {"type": "array"}, "by_department": {"type": "array"}, "by_cohort": {"type": "array"},
        "by_learner": {"type": "array"}}},
    "Effectiveness": {"type": "object", "properties": {
        "parameters": {"type": ["integer", "null"], "description": "active version; null: the catalog's rates"},
        "source": {"type": "string"},
        "modules": {"type": "array", "items": {"type": "object", "properties": {
            "module": {"type": "string"}, "method": {"type": "string"}, "minutes": {"type": "number"},
            "learners": {"type": ["integer", "null"]},
            "points": {"type": "array", "items": {"type": "object", "properties": {
                "point": {"type": "string"}, "learn_rate": {"type": "number"},
                "uncertainty": {"type": ["number", "null"]}, "fitted": {"type": "boolean"}}}}}}}}},
}  # fmt: skip

PATHS = {
    "/v1/health": {"get": {"summary": "status of the API and Redis", "security": [],
                           "responses": {"200": _json(_ref("Health"), "ok"), **_errors(503)}}},
    "/v1/openapi.json": {"get": {"summary": "this document", "security": [],
                                 "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")}}},
    "/metrics": {"get": {"summary": "Prometheus metrics: events processed, lag per partition, dead letters, "
                                    "batch latency", "security": [],
                         "responses": {"200": {"description": "Prometheus text format",
                                               "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/v1/events": {"post": {
        "summary": f"event intake: one event or an array of at most {MAX_EVENTS_PER_REQUEST:,}",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "oneOf": [_ref("Event"), {"type": "array", "items": _ref("Event"), "maxItems": MAX_EVENTS_PER_REQUEST}]}}}},
        "responses": {"202": _json(_ref("Accepted"), "queued for the workers"), **_errors(400, 401, 403)}}},
    "/v1/people": {"post": {
        "summary": f"people from HR: one person or an array of at most {MAX_PEOPLE_PER_REQUEST:,}, checked whole",
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
            "oneOf": [_ref("Person"), {"type": "array", "items": _ref("Person"), "maxItems": MAX_PEOPLE_PER_REQUEST}]}}}},
        "responses": {"202": _json(_ref("PeopleAccepted"), "stored; roles queued for the workers"), **_errors(400, 401)}}},
    "/v1/learners": {"get": {
        "summary": "the tenant's learner ids, in pages",
        "parameters": [_param("limit", "query", "page size, 1 to 1000", {"type": "integer"}),
                       _param("after", "query", "the previous page's `next`")],
        "responses": {"200": _json(_ref("LearnerPage"), "a page"), **_errors(400, 401)}}},
    "/v1/learners/{learner}/mastery": {"get": {
        "summary": "mastery against target per knowledge point, decayed to now", "parameters": [LEARNER, LANG],
        "responses": {"200": _json(_ref("Mastery"), "mastery"), **_errors(400, 401, 404)}}},
    "/v1/learners/{learner}/recommendations": {"get": {
        "summary": "next modules with expected gain and reason", "parameters": [LEARNER, LANG],
        "responses": {"200": _json(_ref("Recommendations"), "ranked modules"), **_errors(400, 401, 404)}}},
    "/v1/cohorts": {"get": {"summary": "the tenant's cohorts",
                            "responses": {"200": _json(_ref("CohortList"), "cohort ids"), **_errors(401)}}},
    "/v1/cohorts/{cohort}/gaps": {"get": {
        "summary": "a cohort's gap report", "parameters": [_param("cohort", "path", "cohort id"), *REPORT_PARAMS],
        "responses": {"200": REPORT_RESPONSE, **_errors(400, 401, 404)}}},
    "/v1/gaps": {"get": {"summary": "the whole tenant's gap report", "parameters": REPORT_PARAMS,
                         "responses": {"200": REPORT_RESPONSE, **_errors(400, 401)}}},
    "/v1/modules/effectiveness": {"get": {
        "summary": "learning rate per module and point: fitted (with uncertainty and learners) or the catalog's",
        "responses": {"200": _json(_ref("Effectiveness"), "per module"), **_errors(401)}}},
}  # fmt: skip

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "SkillGap analyst API", "version": "1",
             "description": "Every route but health, this document and metrics needs `Authorization: Bearer "
                            "<token>`; a token sees only its own tenant."},
    "servers": [{"url": "http://127.0.0.1:8001"}],
    "security": BEARER,
    "paths": PATHS,
    "components": {"schemas": SCHEMAS, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
}  # fmt: skip


@blueprint.get("/openapi.json")
def openapi():
    return DOCUMENT
