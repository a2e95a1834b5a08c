"""GET /v1/health: no authentication, for load balancers and `skillgap run`."""

from __future__ import annotations

from flask import Blueprint

from core.redis_server import redis_status
from sidecar.api.context import services
from sidecar.api.errors import RETRY_AFTER_S

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def health():
    svc = services()
    state = redis_status(svc.redis)
    body = {
        "status": "ok" if state == "ok" else "degraded",
        "redis": state,
        "catalog": {"id": svc.catalog.id, "version": svc.catalog.version},
        "partitions": svc.settings.partitions,
    }
    if state != "ok":
        return body, 503, {"Retry-After": str(RETRY_AFTER_S)}
    return body, 200
