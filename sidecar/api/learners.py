"""Learners of the caller's tenant: the list, mastery against target, recommendations."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from flask import Blueprint, request

from core.catalog.model import LANGUAGES
from core.events import LEARNER_PATTERN
from core.explain import render
from core.learner_store import LearnerRecord
from engine import LAST_SEEN
from sidecar.api.context import authenticate, learner_store, query_choice, services, tenant
from sidecar.api.errors import InvalidRequest, NotFound

PAGE_DEFAULT, PAGE_MAX = 100, 1000  # learners per page of GET /v1/learners
blueprint = Blueprint("learners", __name__)
blueprint.before_request(authenticate)


def iso_time(seconds: float) -> str | None:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z") if seconds else None


def language() -> str:
    return query_choice("lang", "en", LANGUAGES)


def _learner(learner: str) -> LearnerRecord:
    if not LEARNER_PATTERN.match(learner):
        raise InvalidRequest("not a valid learner id", field="learner")
    record = learner_store().get(tenant(), learner)
    if record is None:
        raise NotFound(f"no learner {learner!r} in this tenant", field="learner")
    return record


@blueprint.get("/learners")
def list_learners():
    text = request.args.get("limit", str(PAGE_DEFAULT))
    if not (text.isascii() and text.isdigit()):  # int() would take "1_0", " 1" and other scripts' digits
        raise InvalidRequest("limit must be an integer", field="limit")
    limit = int(text)
    if not 1 <= limit <= PAGE_MAX:
        raise InvalidRequest(f"limit must be between 1 and {PAGE_MAX}", field="limit")
    after = request.args.get("after")
    if after is not None and not LEARNER_PATTERN.match(after):
        raise InvalidRequest("after must be a learner id from a previous page's 'next'", field="after")
    learners, cursor = learner_store().list(tenant(), after, limit)
    return {"learners": learners, "next": cursor}


@blueprint.get("/learners/<learner>/mastery")
def learner_mastery(learner: str):
    lang = language()
    svc = services()
    store = learner_store()
    record = _learner(learner)
    now = time.time()
    standing = store.standing([record], now)
    mastery, uncertainty, targets, gap = (
        standing.mastery[0],
        standing.uncertainty[0],
        standing.targets[0],
        standing.gap[0],
    )
    points = []
    for j, kp in enumerate(svc.catalog.knowledge_points):
        points.append(
            {
                "id": kp.id,
                "name": kp.name.get(lang),
                "mastery": round(float(mastery[j]), 4),
                "uncertainty": round(float(uncertainty[j]), 4),
                "target": float(targets[j]),
                "gap": round(float(gap[j]), 4),
                "last_activity": iso_time(float(record.state[LAST_SEEN, j])),
            }
        )
    return {
        "learner": learner,
        "role": store.role_of(record),
        "as_of": iso_time(now),
        "loss": round(standing.loss.total, 6),
        "knowledge_points": points,
    }


@blueprint.get("/learners/<learner>/recommendations")
def learner_recommendations(learner: str):
    lang = language()
    svc = services()
    record = _learner(learner)
    return {
        "learner": learner,
        "role": learner_store().role_of(record),
        "computed_at": iso_time(record.recommended_at),
        "recommendations": [render(item, svc.catalog, lang) for item in record.recommendations],
    }
