"""POST /v1/events: event intake from HR systems and other sources (one object or an array)."""

from __future__ import annotations

import orjson
from flask import Blueprint, request

from sidecar.api.context import authenticate, services, tenant
from sidecar.api.errors import Forbidden, InvalidRequest
from core.eventlog import append_events
from core.events import EventError, TenantMismatch, parse_event

MAX_EVENTS_PER_REQUEST = 5_000

blueprint = Blueprint("events", __name__)
blueprint.before_request(authenticate)


@blueprint.post("/events")
def post_events():
    try:
        body = orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}", field="body") from None
    batch = body if isinstance(body, list) else [body]
    if not batch:
        raise InvalidRequest("the array holds no event", field="body")
    if len(batch) > MAX_EVENTS_PER_REQUEST:
        raise InvalidRequest(f"at most {MAX_EVENTS_PER_REQUEST} events per request", field="body")
    svc = services()
    events = []
    for index, item in enumerate(batch):
        prefix = f"[{index}]." if isinstance(body, list) else ""
        try:
            events.append(parse_event(item, tenant=tenant(), catalog=svc.catalog))
        except TenantMismatch as exc:
            raise Forbidden(exc.message, field=prefix + exc.field) from None
        except EventError as exc:
            raise InvalidRequest(exc.message, field=prefix + exc.field) from None
    append_events(svc.redis, svc.keys, svc.settings.partitions, events, svc.settings.retention_days)
    return {"accepted": len(events), "ids": [event.id for event in events]}, 202
