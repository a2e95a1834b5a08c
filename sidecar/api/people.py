"""POST /v1/people: people from HR (role, department, manager, start date), one or an array,
checked whole before anything is written (core/people.py)."""

from __future__ import annotations

import orjson
from flask import Blueprint, request

from core.people import PersonError, parse_person, save_people
from sidecar.api.context import authenticate, services, tenant
from sidecar.api.errors import InvalidRequest

MAX_PEOPLE_PER_REQUEST = 5_000

blueprint = Blueprint("people", __name__)
blueprint.before_request(authenticate)


@blueprint.post("/people")
def post_people():
    try:
        body = orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}", field="body") from None
    batch = body if isinstance(body, list) else [body]
    if not batch:
        raise InvalidRequest("the array holds no person", field="body")
    if len(batch) > MAX_PEOPLE_PER_REQUEST:
        raise InvalidRequest(f"at most {MAX_PEOPLE_PER_REQUEST} people per request", field="body")
    svc = services()
    people = []
    for index, item in enumerate(batch):
        try:
            people.append(parse_person(item, svc.catalog))
        except PersonError as exc:
            raise InvalidRequest(exc.message, field=(f"[{index}]." if isinstance(body, list) else "") + exc.field) from None
    s = svc.settings
    save_people(svc.redis, svc.keys, s.partitions, s.retention_days, tenant(), people, svc.catalog)
    return {"accepted": len(people)}, 202
