"""The analysts' HTTP API (Flask), served under /v1."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask, request

from core.http import behind_proxies, finish_body
from core.http_headers import security_headers
from core.identity import stored_secret
from core.services import Services, services_from_environment
from sidecar.api import (
    dashboard,
    dashboard_overdue,
    dashboard_plan,
    docs,
    events,
    health,
    learners,
    metrics,
    modules,
    openapi,
    overdue,
    people,
    plan,
    reports,
)
from sidecar.api.errors import register_error_handlers
from sidecar.api.session_cookie import DashboardSessions

API_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def create_app(test_config: Mapping[str, object] | None = None, services: Services | None = None) -> Flask:
    """Build the API. Settings come from the environment, then `test_config`; tests may pass
    ready-made `services` (for instance with their own Redis client)."""
    app = Flask(__name__)
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    if services is None:
        services = services_from_environment(test_config, "the API")
    app.extensions["skillgap"] = services
    app.config["MAX_CONTENT_LENGTH"] = services.settings.api_max_body_bytes  # chunked bodies too
    behind_proxies(app, services.settings.api_proxies)
    register_error_handlers(app)
    # Pages (dashboard, docs) load their scripts from here only; nothing may frame the API.
    app.after_request(lambda response: security_headers(response, API_CSP, request.is_secure))
    app.after_request(lambda response: finish_body(request, response))
    for module in (health, openapi, docs, events, people, learners, reports, plan, modules, overdue):
        app.register_blueprint(module.blueprint, url_prefix="/v1")
    app.register_blueprint(metrics.blueprint)
    # The dashboard's session cookie: signed with a secret kept in Redis (shared by every process),
    # sealed there like the tool's when the deployment has a secrets key.
    app.secret_key = stored_secret(services.redis, services.keys, "api-session", services.sealer)
    app.session_interface = DashboardSessions(services.settings)
    app.config.update(
        SESSION_COOKIE_NAME="skillgap_dashboard",
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=8 * 3600,
    )
    app.register_blueprint(dashboard.blueprint)
    app.register_blueprint(dashboard_overdue.blueprint)
    app.register_blueprint(dashboard_plan.blueprint)
    return app
