"""POST /v1/events: event intake from HR systems and other sources (one object or an array)."""

from __future__ import annotations

from flask import Blueprint

from core.eventlog import PartlyWritten, append_events
from core.events import EventError, TenantMismatch, parse_event
from sidecar.api import errors
from sidecar.api.context import authenticate, json_batch, services, tenant
from sidecar.api.errors import Forbidden, InvalidRequest

MAX_EVENTS_PER_REQUEST = 5_000

blueprint = Blueprint("events", __name__)
blueprint.before_request(authenticate)


@blueprint.post("/events")
def post_events():
    svc = services()
    events = []
    for prefix, item in json_batch(MAX_EVENTS_PER_REQUEST, "event", "events"):
        try:
            events.append(parse_event(item, tenant=tenant(), catalog=svc.catalog))
        except TenantMismatch as exc:
            raise Forbidden(exc.message, field=prefix + exc.field) from None
        except EventError as exc:
            raise InvalidRequest(exc.message, field=prefix + exc.field) from None
    try:
        append_events(svc.redis, svc.keys, svc.settings.partitions, events)
    except PartlyWritten as exc:  # Redis Cluster: the client is told which ids are on the log
        raise errors.PartlyWritten(exc.written, exc.not_written) from None
    return {"accepted": len(events), "ids": [event.id for event in events]}, 202
