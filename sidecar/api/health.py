"""GET /v1/health: no authentication, for load balancers and `skillgap run`."""

from __future__ import annotations

import redis
from flask import Blueprint

from sidecar.api.context import services
from sidecar.api.errors import RETRY_AFTER_S

blueprint = Blueprint("health", __name__)


@blueprint.get("/health")
def health():
    svc = services()
    try:
        svc.redis.ping()
        redis_status = "ok"
    except redis.RedisError:
        redis_status = "unavailable"
    body = {
        "status": "ok" if redis_status == "ok" else "degraded",
        "redis": redis_status,
        "catalog": {"id": svc.catalog.id, "version": svc.catalog.version},
        "partitions": svc.settings.partitions,
    }
    if redis_status != "ok":
        return body, 503, {"Retry-After": str(RETRY_AFTER_S)}
    return body, 200
