"""Headers every response of the tool and of the API carries: its Content-Security-Policy, no
MIME sniffing, no Referer to other sites, and HSTS when it is served over https."""

from __future__ import annotations

from flask.wrappers import Response

HSTS = "max-age=31536000"


def security_headers(response: Response, csp: str, https: bool) -> Response:
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    if https:
        response.headers["Strict-Transport-Security"] = HSTS
    return response
