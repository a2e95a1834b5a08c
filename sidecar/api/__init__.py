"""The analysts' HTTP API (Flask), served under /v1."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from sidecar.api import docs, events, health, learners, metrics, modules, openapi, reports
from sidecar.api.errors import register_error_handlers
from core.redis_server import connect
from core.services import Services, build_services
from core.settings import Settings


def create_app(test_config: Mapping[str, object] | None = None, services: Services | None = None) -> Flask:
    """Build the API. Settings come from the environment, then `test_config`; tests may pass
    ready-made `services` (for instance with their own Redis client)."""
    app = Flask(__name__)
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    if services is None:
        settings = Settings.load(test_config)
        if not settings.redis_url:
            raise RuntimeError("the API needs REDIS_URL (`skillgap run` sets it for the processes it starts)")
        services = build_services(settings, connect(settings.redis_url))
    app.extensions["skillgap"] = services
    register_error_handlers(app)
    for module in (health, openapi, docs, events, learners, reports, modules):
        app.register_blueprint(module.blueprint, url_prefix="/v1")
    app.register_blueprint(metrics.blueprint)
    return app
