"""The LTI 1.3 tool (Flask + pylti1p3) that the LMS launches."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, request

from core.http import behind_proxies, finish_body
from core.identity import stored_secret
from core.services import Services, services_from_environment
from lti_tool import admin, deep_linking, demo_platform, headers, health, launch, registration, views, xapi
from lti_tool.errors import register_error_handler
from lti_tool.tool import build_tool

# One blueprint per concern: launch, registration, deep linking, views, xAPI, admin.
BLUEPRINTS = (
    health.blueprint,
    launch.blueprint,
    registration.blueprint,
    deep_linking.blueprint,
    views.blueprint,
    admin.blueprint,
    xapi.blueprint,
)


def _secret_key(services: Services) -> str:
    """The configured key, else one generated once and kept in Redis (shared by every process)."""
    return services.settings.tool_secret_key or stored_secret(services.redis, services.keys, "flask", services.sealer)


def create_app(test_config: Mapping[str, object] | None = None, services: Services | None = None) -> Flask:
    app = Flask(__name__)
    if services is None:
        services = services_from_environment(test_config, "the tool")
    app.extensions["skillgap"] = services
    app.config["MAX_CONTENT_LENGTH"] = services.settings.tool_max_body_bytes  # chunked bodies too
    app.secret_key = _secret_key(services)
    behind_proxies(app, services.settings.tool_proxies)
    tool = build_tool(services)
    app.extensions["lti"] = tool
    headers.install(app)
    if services.settings.ags_background:
        tool.scores.start_background()
    register_error_handler(app)
    app.after_request(lambda response: finish_body(request, response))
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    if services.settings.demo_platform:
        app.register_blueprint(demo_platform.blueprint)
    return app
