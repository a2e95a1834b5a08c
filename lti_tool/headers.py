"""The tool's Content-Security-Policy. It lives in the LMS's iframe, so frame-ancestors names the
registered platforms' origins (read from Redis at most every few seconds per process); inline
scripts run only with the page's nonce (`csp_nonce()` in templates)."""

from __future__ import annotations

import secrets
import time

from flask import Flask, g

from core.http_headers import security_headers
from lti_tool.outbound import DEFAULT_PORTS, Origin
from lti_tool.registrations import RegistrationStore
from lti_tool.web import secure_context

ORIGINS_CACHE_S = 5.0


def origin_text(origin: Origin) -> str:
    scheme, host, port = origin
    host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{host}" + ("" if DEFAULT_PORTS[scheme] == port else f":{port}")


class PlatformOrigins:
    def __init__(self, registrations: RegistrationStore):
        self.registrations = registrations
        self._value = ""
        self._until = 0.0

    def sources(self) -> str:
        """'self' and every registered platform's origin, as a CSP source list."""
        now = time.monotonic()
        if now >= self._until:
            origins = sorted({origin_text(o) for r in self.registrations.all() for o in r.origins})
            self._value, self._until = " ".join(["'self'", *origins]), now + ORIGINS_CACHE_S
        return self._value


def csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def install(app: Flask) -> None:
    origins = PlatformOrigins(app.extensions["lti"].registrations)
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def _headers(response):
        platforms = origins.sources()
        script = f"'self' 'nonce-{g.csp_nonce}'" if "csp_nonce" in g else "'self'"
        csp = (
            f"default-src 'self'; script-src {script}; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            f"object-src 'none'; base-uri 'none'; form-action {platforms}; frame-ancestors {platforms}"
        )
        return security_headers(response, csp, secure_context())
