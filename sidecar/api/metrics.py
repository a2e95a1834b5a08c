"""GET /metrics: Prometheus text format, no token (it holds counters per partition and no
tenant's data). Read from Redis at scrape time, so every worker process is counted."""

from __future__ import annotations

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from sidecar.api.context import services
from sidecar.metrics import PipelineCollector

blueprint = Blueprint("metrics", __name__)


def _registry() -> CollectorRegistry:
    registry = current_app.extensions.get("skillgap.metrics")
    if registry is None:
        svc = services()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(PipelineCollector(svc.redis, svc.keys, svc.settings.partitions))
        current_app.extensions["skillgap.metrics"] = registry
    return registry


@blueprint.get("/metrics")
def metrics():
    return Response(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)  # it names its charset
