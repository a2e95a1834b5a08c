"""GET /v1/openapi.json: the API described in OpenAPI 3.1 (a test checks it against the routes)."""

from __future__ import annotations

import re

from flask import Blueprint, current_app

from core.catalog import Catalog
from core.catalog.model import LANGUAGES, METHODS
from core.events import (
    ACTIVITY_KINDS,
    COHORT_PATTERN,
    ENROLLED,
    EVENT_ID_PATTERN,
    KIND_NAMES,
    LEARNER_PATTERN,
    SCHEMA_VERSION,
    SOURCE_PATTERN,
    TENANT_PATTERN,
)
from core.learner_store import ACTIONS
from core.mandatory import STATES
from core.overdue import DEFAULT_WITHIN_DAYS, MAX_WITHIN_DAYS
from core.plan import BREAKDOWNS as PLAN_BREAKDOWNS
from core.plan import MAX_MINUTES_PER_WEEK, MIN_MINUTES_PER_WEEK, QUANTILES
from core.plan import POLICIES as PLAN_POLICIES
from engine.model import KINDS_WITH_SCORE
from sidecar.api.context import services
from sidecar.api.errors import RETRY_AFTER_S
from sidecar.api.events import MAX_EVENTS_PER_REQUEST
from sidecar.api.learners import PAGE_DEFAULT, PAGE_MAX
from sidecar.api.people import MAX_PEOPLE_PER_REQUEST
from sidecar.api.reports import BREAKDOWNS, FORMATS

blueprint = Blueprint("openapi", __name__)

BEARER = [{"bearer": []}]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


MEANING = {
    400: "bad input; `field` names it",
    401: "missing or unknown token",
    403: "another tenant's data",
    404: "no such learner or cohort in this tenant",
    413: "the body is too large",
    429: "too many wrong tokens from this address or with this token; a right token still passes",
    503: "Redis unavailable: nothing of the request was written; retry after Retry-After seconds",
}
HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer"}},
    429: {"Retry-After": {"schema": {"type": "integer", "minimum": 1}, "description": "seconds"}},
    503: {"Retry-After": {"schema": {"type": "integer", "const": RETRY_AFTER_S}, "description": "seconds"}},
}


def _errors(*statuses: int) -> dict:
    """Error answers; every route can answer 503 (Redis), every authenticated one 401 and, past
    the failure limit, 429."""
    responses = {}
    for status in sorted({*statuses, 503, *((429,) if 401 in statuses else ())}):
        responses[str(status)] = _json(_ref("Error"), MEANING[status])
        if status in HEADERS:
            responses[str(status)]["headers"] = HEADERS[status]
    return responses


def _json_pattern(regex: re.Pattern) -> str:
    """A validation regex in JSON Schema's (ECMA-262) dialect, where `$` is the end of the text."""
    return regex.pattern.replace(r"\Z", "$")


def _param(name: str, where: str, description: str, schema: dict | None = None, required: bool = False) -> dict:
    return {
        "name": name,
        "in": where,
        "description": description,
        "required": required or where == "path",
        "schema": schema or {"type": "string"},
    }


LANG = _param("lang", "query", "language of names and reasons", {"type": "string", "enum": list(LANGUAGES)})
LEARNER_ID = {"type": "string", "pattern": _json_pattern(LEARNER_PATTERN)}
COHORT_ID = {"type": "string", "pattern": _json_pattern(COHORT_PATTERN)}
LEARNER = _param("learner", "path", "pseudonymous learner id", LEARNER_ID)


def _json_or_csv(schema: dict, description: str) -> dict:
    """A report's answer: JSON, or CSV with ?format=csv."""
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}, "text/csv": {"schema": {"type": "string"}}},
    }


def _format_and_by(breakdowns: tuple[str, ...]) -> list[dict]:
    """A report's ?format= and ?by= (the CSV's breakdown)."""
    return [
        _param(
            "format",
            "query",
            "json (every breakdown) or csv (the one named by `by`)",
            {"type": "string", "enum": list(FORMATS)},
        ),
        _param("by", "query", "the CSV's breakdown", {"type": "string", "enum": list(breakdowns)}),
    ]


REPORT_PARAMS = [*_format_and_by(BREAKDOWNS), LANG]
REPORT_RESPONSE = _json_or_csv(
    _ref("GapReport"), "the loss L = Σ max(0, T − K)² and its breakdowns, mastery decayed to now"
)

BAND = {
    "type": "object",
    "required": ["expected", *QUANTILES],
    "properties": {name: {"type": "number"} for name in ("expected", *QUANTILES)},
    "description": "expected: from the belief's mean; median, p10, p90: over the draws of the belief",
}
POLICY_PLAN = {
    "type": "object",
    "properties": {
        "reached_share": {"type": "number", "description": "share of paths at target within the horizon"},
        "stalled_share": {
            "type": "number",
            "description": "share of paths the policy had nothing more to offer while short of the target",
        },
        "minutes": _ref("Band"),
        "minutes_per_learner": _ref("Band"),
        "weeks_until_all": _ref("Band"),
        "cost": {
            "type": "object",
            "description": "per method: takes (modules taken; seats for a workshop) and learner-hours",
            "properties": {
                method: {"type": "object", "properties": {"takes": _ref("Band"), "hours": _ref("Band")}}
                for method in METHODS
            },
        },
    },
}
PLAN_GROUP = {
    "type": "object",
    "properties": {
        "learners": {"type": "integer"},
        **{policy: POLICY_PLAN for policy in PLAN_POLICIES},
        "saved_minutes": _ref("Band"),
    },
}


def _ids(description: str) -> dict:
    return {"type": "array", "items": {"type": "string"}, "description": description}


SCORED_KINDS = [name for name, kind in ACTIVITY_KINDS.items() if kind in KINDS_WITH_SCORE]
SCHEMAS = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}},
            }
        },
    },
    "EventsNotWritten": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": ["unavailable", "partly_written"]},
                    "message": {"type": "string"},
                    "written": _ids("partly_written: the ids of the events on the log"),
                    "not_written": _ids("partly_written: the ids of the events not on the log"),
                },
            }
        },
    },
    "Event": {
        "type": "object",
        "required": ["learner", "kind", "timestamp"],
        "additionalProperties": False,
        "properties": {
            "v": {"const": SCHEMA_VERSION},
            "id": {
                "type": "string",
                "pattern": _json_pattern(EVENT_ID_PATTERN),
                "description": "the producer's id: a retry with the same id is applied once",
            },
            "tenant": {
                "type": "string",
                "pattern": _json_pattern(TENANT_PATTERN),
                "description": "the token's tenant (another is refused with 403)",
            },
            "learner": LEARNER_ID,
            "cohort": COHORT_ID,
            "module": {"type": "string", "description": "catalog module id (none for an enrolment)"},
            "kind": {"type": "string", "enum": list(KIND_NAMES)},
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "timestamp": {
                "oneOf": [{"type": "string", "format": "date-time"}, {"type": "number", "exclusiveMinimum": 0}],
                "description": "with a time zone; at most 5 minutes ahead of the server",
            },
            "source": {"type": "string", "pattern": _json_pattern(SOURCE_PATTERN)},
            "role": {"type": "string", "description": "catalog role id"},
        },
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": ENROLLED}}},
                "then": {"not": {"required": ["module"]}},
                "else": {"required": ["module"]},
            },
            {
                "if": {"properties": {"kind": {"enum": SCORED_KINDS}}},
                "then": {"required": ["score"]},
                "else": {"not": {"required": ["score"]}},
            },
        ],
    },
    "Person": {
        "type": "object",
        "required": ["person", "role"],
        "additionalProperties": False,
        "properties": {
            "person": {
                "type": "string",
                "pattern": _json_pattern(LEARNER_PATTERN),
                "description": "the person's learner id in this tenant (pseudonymous: no names or emails)",
            },
            "role": {"type": "string", "description": "catalog role id; follows the person into every course"},
            "department": {"type": "string", "maxLength": 128, "description": "a breakdown of the gap reports"},
            "manager": {
                "type": "string",
                "pattern": _json_pattern(LEARNER_PATTERN),
                "description": "the manager's person id",
            },
            "start_date": {"type": "string", "format": "date"},
        },
    },
    "PeopleAccepted": {"type": "object", "properties": {"accepted": {"type": "integer"}}},
    "Accepted": {
        "type": "object",
        "required": ["accepted", "ids"],
        "properties": {
            "accepted": {"type": "integer", "minimum": 1},
            "ids": {"type": "array", "items": {"type": "string"}, "description": "each event's id, in order"},
        },
    },
    "Health": {
        "type": "object",
        "properties": {
            "status": {"type": "string"},
            "redis": {"type": "string"},
            "catalog": {"type": "object"},
            "partitions": {"type": "integer"},
        },
    },
    "LearnerPage": {
        "type": "object",
        "properties": {
            "learners": {"type": "array", "items": {"type": "string"}},
            "next": {"type": ["string", "null"]},
        },
    },
    "Mastery": {
        "type": "object",
        "properties": {
            "learner": {"type": "string"},
            "role": {"type": "string"},
            "as_of": {"type": "string"},
            "loss": {"type": "number"},
            "knowledge_points": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "mastery": {"type": "number"},
                        "uncertainty": {"type": "number"},
                        "target": {"type": "number"},
                        "gap": {"type": "number"},
                        "last_activity": {"type": ["string", "null"]},
                    },
                },
            },
        },
    },
    "Recommendations": {
        "type": "object",
        "properties": {
            "learner": {"type": "string"},
            "role": {"type": "string"},
            "computed_at": {
                "type": ["string", "null"],
                "description": "the learner's latest event: rankings are as of it",
            },
            "recommendations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "module": {"type": "string"},
                        "title": {"type": "string"},
                        "action": {
                            "enum": ACTIONS,
                            "description": "learn, review, assess, or mandatory: required of the role and due soon",
                        },
                        "mandatory": {"type": "boolean", "description": "present (true) on mandatory items"},
                        "expected_gain": {"type": "number"},
                        "gain_per_hour": {"type": "number"},
                        "minutes": {"type": "number"},
                        "method": {"type": "string"},
                        "url": {"type": ["string", "null"]},
                        "reason": {"type": "string"},
                        "mandatory_due": {
                            "type": "string",
                            "format": "date",
                            "description": "a module mandatory for the learner's role, not done: its due date",
                        },
                        "closes": {
                            "type": "array",
                            "description": "points it raises in plan order; needed_for: points that need it",
                        },
                        "relies_on": {"type": "array"},
                        "waits_for": {
                            "type": "array",
                            "description": "required points below the threshold: it teaches slower till then",
                        },
                        "unlocks": {"type": "array", "description": "modules the role needs that it makes ready"},
                        "own_path": {
                            "type": "array",
                            "description": "on the plan's first item mainly training points that set the "
                            "learner's role apart: those points (where the plan leads)",
                        },
                        "measures": {
                            "type": "array",
                            "description": "assessments: points where the result decides what is next",
                        },
                    },
                },
            },
        },
    },
    "CohortList": {"type": "object", "properties": {"cohorts": {"type": "array", "items": {"type": "string"}}}},
    "GapReport": {
        "type": "object",
        "properties": {
            "tenant": {"type": "string"},
            "cohort": {"type": ["string", "null"]},
            "as_of": {"type": "string"},
            "learners": {"type": "integer"},
            "loss": {"type": "number"},
            "by_point": {"type": "array"},
            "by_role": {"type": "array"},
            "by_department": {"type": "array"},
            "by_cohort": {"type": "array"},
            "by_learner": {"type": "array"},
        },
    },
    "Overdue": {
        "type": "object",
        "required": ["tenant", "within_days", "as_of", "learners", "overdue", "due_soon", "rows"],
        "properties": {
            "tenant": {"type": "string"},
            "cohort": {"type": ["string", "null"]},
            "role": {"type": ["string", "null"]},
            "within_days": {"type": "integer"},
            "as_of": {"type": "string"},
            "learners": {"type": "integer", "description": "learners checked (of the cohort and role)"},
            "overdue": {"type": "integer", "description": "rows overdue"},
            "due_soon": {"type": "integer", "description": "rows due within within_days, not yet overdue"},
            "by_role": {"type": "array", "description": "per role: learners, with a module overdue, only due soon"},
            "by_cohort": {"type": "array", "description": "the same per cohort"},
            "rows": {
                "type": "array",
                "description": "one per learner and mandatory module not done, overdue or due soon; soonest due first",
                "items": {
                    "type": "object",
                    "properties": {
                        "learner": {"type": "string"},
                        "role": {"type": "string"},
                        "department": {"type": "string"},
                        "cohorts": {"type": "array", "items": {"type": "string"}},
                        "module": {"type": "string"},
                        "title": {"type": "string"},
                        "due": {"type": "string", "format": "date-time"},
                        "status": {"enum": [state for state in STATES if state != "done"]},
                        "days": {"type": "integer", "description": "days left, or days overdue"},
                    },
                },
            },
        },
    },
    "Band": BAND,
    "PlanGroup": PLAN_GROUP,
    "CostPlan": {
        "type": "object",
        "required": ["tenant", "as_of", "bounds", "total", "by_role", "by_cohort", "by_learner"],
        "properties": {
            "tenant": {"type": "string"},
            "cohort": {"type": ["string", "null"]},
            "role": {"type": ["string", "null"]},
            "as_of": {"type": "string"},
            "bounds": {
                "type": "object",
                "description": "what the plan was computed within: learners planned of those matched, paths per "
                "learner, horizon",
                "properties": {
                    "learners_matched": {"type": "integer"},
                    "learners_planned": {"type": "integer"},
                    "max_learners": {"type": "integer"},
                    "truncated": {"type": "boolean"},
                    "paths_per_learner": {"type": "integer"},
                    "horizon_minutes": {"type": "number"},
                    "max_modules_per_path": {"type": "integer"},
                    "minutes_per_week": {"type": "number"},
                },
            },
            "total": {"oneOf": [_ref("PlanGroup"), {"type": "null"}]},
            "by_role": {
                "type": "array",
                "items": {"allOf": [_ref("PlanGroup")], "properties": {"role": {"type": "string"}}},
            },
            "by_cohort": {
                "type": "array",
                "items": {"allOf": [_ref("PlanGroup")], "properties": {"cohort": {"type": "string"}}},
            },
            "by_learner": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "learner": {"type": "string"},
                        "role": {"type": "string"},
                        "modules": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "the adaptive path from the belief's mean, in order",
                        },
                        **{
                            policy: {
                                "type": "object",
                                "properties": {
                                    "reached_share": {"type": "number"},
                                    "minutes": _ref("Band"),
                                    "weeks": _ref("Band"),
                                },
                            }
                            for policy in PLAN_POLICIES
                        },
                    },
                },
            },
        },
    },
    "Effectiveness": {
        "type": "object",
        "properties": {
            "parameters": {"type": ["integer", "null"], "description": "active version; null: the catalog's rates"},
            "source": {"type": "string"},
            "modules": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "module": {"type": "string"},
                        "method": {"type": "string"},
                        "minutes": {"type": "number"},
                        "learners": {"type": ["integer", "null"]},
                        "points": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "point": {"type": "string"},
                                    "learn_rate": {"type": "number"},
                                    "uncertainty": {"type": ["number", "null"]},
                                    "fitted": {"type": "boolean"},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}

PATHS = {
    "/v1/health": {
        "get": {
            "summary": "status of the API and Redis",
            "security": [],
            "responses": {
                "200": _json(_ref("Health"), "ok"),
                "503": {**_json(_ref("Health"), "degraded: Redis unavailable"), "headers": HEADERS[503]},
            },
        }
    },
    "/v1/openapi.json": {
        "get": {
            "summary": "this document",
            "security": [],
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
        }
    },
    "/metrics": {
        "get": {
            "summary": "Prometheus metrics: events processed, lag per partition, dead letters, batch latency",
            "security": [],
            "responses": {
                "200": {
                    "description": "Prometheus text format",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                **_errors(),
            },
        }
    },
    "/v1/events": {
        "post": {
            "summary": f"event intake: one event or an array of at most {MAX_EVENTS_PER_REQUEST:,}",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                _ref("Event"),
                                {
                                    "type": "array",
                                    "items": _ref("Event"),
                                    "minItems": 1,
                                    "maxItems": MAX_EVENTS_PER_REQUEST,
                                },
                            ]
                        }
                    }
                },
            },
            "description": "All or nothing: a 202 means every event is on the log; any error means none is, "
            "except a 503 with the code `partly_written` (Redis Cluster only, where each partition of the "
            "log commits apart), which lists the ids `written` and `not_written`. "
            "Retrying a request (after a 503 or a lost connection) with the same event ids is safe: "
            "an id is applied once (an event without an id gets one derived from its content).",
            "responses": {
                "202": _json(_ref("Accepted"), "queued for the workers"),
                **_errors(400, 401, 403, 413),
                "503": {
                    **_json(
                        _ref("EventsNotWritten"),
                        "`unavailable`: nothing of the request was written; `partly_written` (Redis Cluster): "
                        "the events `written` are on the log, the `not_written` are not. Either way, send the "
                        "request again with the same ids after Retry-After seconds",
                    ),
                    "headers": HEADERS[503],
                },
            },
        }
    },
    "/v1/people": {
        "post": {
            "summary": f"people from HR: one person or an array of at most {MAX_PEOPLE_PER_REQUEST:,}, checked whole",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                _ref("Person"),
                                {
                                    "type": "array",
                                    "items": _ref("Person"),
                                    "minItems": 1,
                                    "maxItems": MAX_PEOPLE_PER_REQUEST,
                                },
                            ]
                        }
                    }
                },
            },
            "responses": {
                "202": _json(_ref("PeopleAccepted"), "stored; roles queued for the workers"),
                **_errors(400, 401, 413),
            },
        }
    },
    "/v1/learners": {
        "get": {
            "summary": "the tenant's learner ids, in pages",
            "parameters": [
                _param(
                    "limit",
                    "query",
                    f"page size, 1 to {PAGE_MAX}",
                    {"type": "integer", "minimum": 1, "maximum": PAGE_MAX, "default": PAGE_DEFAULT},
                ),
                _param("after", "query", "the previous page's `next`", LEARNER_ID),
            ],
            "responses": {"200": _json(_ref("LearnerPage"), "a page"), **_errors(400, 401)},
        }
    },
    "/v1/learners/{learner}/mastery": {
        "get": {
            "summary": "mastery against target per knowledge point, decayed to now",
            "parameters": [LEARNER, LANG],
            "responses": {"200": _json(_ref("Mastery"), "mastery"), **_errors(400, 401, 404)},
        }
    },
    "/v1/learners/{learner}/recommendations": {
        "get": {
            "summary": "next modules with expected gain and reason",
            "parameters": [LEARNER, LANG],
            "responses": {"200": _json(_ref("Recommendations"), "ranked modules"), **_errors(400, 401, 404)},
        }
    },
    "/v1/cohorts": {
        "get": {
            "summary": "the tenant's cohorts",
            "responses": {"200": _json(_ref("CohortList"), "cohort ids"), **_errors(401)},
        }
    },
    "/v1/cohorts/{cohort}/gaps": {
        "get": {
            "summary": "a cohort's gap report",
            "parameters": [_param("cohort", "path", "cohort id", COHORT_ID), *REPORT_PARAMS],
            "responses": {"200": REPORT_RESPONSE, **_errors(400, 401, 404)},
        }
    },
    "/v1/gaps": {
        "get": {
            "summary": "the whole tenant's gap report",
            "parameters": REPORT_PARAMS,
            "responses": {"200": REPORT_RESPONSE, **_errors(400, 401)},
        }
    },
    "/v1/overdue": {
        "get": {
            "summary": "who is overdue or due soon on a mandatory module, per cohort and role",
            "parameters": [
                _param("cohort", "query", "only this cohort's learners", COHORT_ID),
                _param("role", "query", "only learners of this catalog role"),
                _param(
                    "within_days",
                    "query",
                    "also list modules due within this many days",
                    {"type": "integer", "minimum": 0, "maximum": MAX_WITHIN_DAYS, "default": DEFAULT_WITHIN_DAYS},
                ),
                _param("format", "query", "json or csv (the rows)", {"type": "string", "enum": list(FORMATS)}),
                LANG,
            ],
            "responses": {
                "200": _json_or_csv(_ref("Overdue"), "overdue and due-soon mandatory modules, as of now"),
                **_errors(400, 401, 404),
            },
        }
    },
    "/v1/plan": {
        "get": {
            "summary": "the cost plan: minutes, weeks and cost by method to each learner's target, adaptive "
            "against course order, per learner, role and cohort",
            "description": f"Projected on the model's own expectation from each learner's belief (its mean and "
            f"draws of it: `expected`, `median`, `p10`, `p90`). Policies: {', '.join(PLAN_POLICIES)}. Bounded: "
            "at most `bounds.max_learners` learners (the first in id order; `bounds.truncated` says when more "
            "matched), `bounds.horizon_minutes` of training per path.",
            "parameters": [
                _param("cohort", "query", "only this cohort's learners", COHORT_ID),
                _param("role", "query", "only learners of this catalog role"),
                _param(
                    "minutes_per_week",
                    "query",
                    "training minutes each learner has a week",
                    {"type": "number", "minimum": MIN_MINUTES_PER_WEEK, "maximum": MAX_MINUTES_PER_WEEK},
                ),
                *_format_and_by(PLAN_BREAKDOWNS),
            ],
            "responses": {
                "200": _json_or_csv(_ref("CostPlan"), "the plan"),
                **_errors(400, 401, 404),
            },
        }
    },
    "/v1/modules/effectiveness": {
        "get": {
            "summary": "learning rate per module and point: fitted (with uncertainty and learners) or the catalog's",
            "responses": {"200": _json(_ref("Effectiveness"), "per module"), **_errors(401)},
        }
    },
}

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "SkillGap analyst API",
        "version": "1",
        "description": "Every route but health, this document and metrics needs `Authorization: Bearer "
        "<token>`; a token sees only its own tenant.",
    },
    "servers": [{"url": "http://127.0.0.1:8001"}],
    "security": BEARER,
    "paths": PATHS,
    "components": {"schemas": SCHEMAS, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
}


def for_catalog(catalog: Catalog) -> dict:
    """DOCUMENT with the catalog's module and role ids as the events' enums, and its role ids as
    the cost plan's and the overdue report's."""
    event = SCHEMAS["Event"]
    properties = {
        **event["properties"],
        "module": {**event["properties"]["module"], "enum": [m.id for m in catalog.modules]},
        "role": {**event["properties"]["role"], "enum": [r.id for r in catalog.roles]},
    }
    schemas = {**SCHEMAS, "Event": {**event, "properties": properties}}
    roles = {"type": "string", "enum": [r.id for r in catalog.roles]}
    paths = dict(PATHS)
    for path in ("/v1/plan", "/v1/overdue"):
        operation = PATHS[path]["get"]
        parameters = [{**p, "schema": roles} if p["name"] == "role" else p for p in operation["parameters"]]
        paths[path] = {**PATHS[path], "get": {**operation, "parameters": parameters}}
    return {**DOCUMENT, "paths": paths, "components": {**DOCUMENT["components"], "schemas": schemas}}


@blueprint.get("/openapi.json")
def openapi():
    extensions = current_app.extensions
    if "skillgap.openapi" not in extensions:
        extensions["skillgap.openapi"] = for_catalog(services().catalog)
    return extensions["skillgap.openapi"]
