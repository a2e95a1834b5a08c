"""The LTI 1.3 tool (Flask + pylti1p3) that the LMS launches."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from lti_tool import health, xapi
from skillgap.redis_server import connect
from skillgap.services import Services, build_services
from skillgap.settings import Settings


# One blueprint per concern: launch, registration, deep linking, views, xAPI, admin.
BLUEPRINTS = (health.blueprint, xapi.blueprint)


def create_app(test_config: Mapping[str, object] | None = None, services: Services | None = None) -> Flask:
    app = Flask(__name__)
    if services is None:
        settings = Settings.load(test_config)
        if not settings.redis_url:
            raise RuntimeError("the tool needs REDIS_URL (`skillgap run` sets it for the processes it starts)")
        services = build_services(settings, connect(settings.redis_url))
    app.extensions["skillgap"] = services
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    return app
