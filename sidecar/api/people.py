"""POST /v1/people: people from HR (role, department, manager, start date), one or an array,
checked whole before anything is written (core/people.py)."""

from __future__ import annotations

from flask import Blueprint

from core.people import PersonError, parse_person, save_people
from sidecar.api.context import authenticate, json_batch, services, tenant
from sidecar.api.errors import InvalidRequest

MAX_PEOPLE_PER_REQUEST = 5_000

blueprint = Blueprint("people", __name__)
blueprint.before_request(authenticate)


@blueprint.post("/people")
def post_people():
    svc = services()
    people = []
    for prefix, item in json_batch(MAX_PEOPLE_PER_REQUEST, "person", "people"):
        try:
            people.append(parse_person(item, svc.catalog))
        except PersonError as exc:
            raise InvalidRequest(exc.message, field=prefix + exc.field) from None
    s = svc.settings
    save_people(svc.redis, svc.keys, s.partitions, tenant(), people, svc.catalog)
    return {"accepted": len(people)}, 202
