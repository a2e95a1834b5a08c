"""Per-request helpers: the services, the tool's public URLs, and the cookie attributes an
LMS iframe needs."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, request
from flask.wrappers import Response

from lti_tool.tool import Tool

# Where platforms send the OIDC login initiation and the launch (launch.py serves them).
LOGIN_PATH = "/lti/login"
LAUNCH_PATH = "/lti/launch"


def tool() -> Tool:
    return current_app.extensions["lti"]


def base_url() -> str:
    """The tool's public URL, without a trailing slash: the configured one, else this request's
    (which ProxyFix has corrected from X-Forwarded-* when the tool runs behind proxies)."""
    configured = tool().services.settings.tool_base_url
    return (configured or request.url_root).rstrip("/")


def tool_url(path: str) -> str:
    return base_url() + path


def same_origin(url: str, other: str) -> bool:
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme, a.netloc.lower()) == (b.scheme, b.netloc.lower())


def secure_context() -> bool:
    return request.is_secure or base_url().startswith("https://")


def set_tool_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    """Inside an LMS iframe the tool is a third party: its cookies must be SameSite=None; Secure
    (and Partitioned, for browsers that block unpartitioned third-party cookies). pylti1p3 sets
    SameSite=None only when the request itself is HTTPS, which behind a TLS-terminating proxy it
    never is; here the proxied scheme (ProxyFix) or an https base URL count too. Plain-http
    development on one host gets SameSite=Lax, since browsers drop SameSite=None without Secure."""
    if secure_context():
        response.set_cookie(
            name, value, max_age=max_age, path="/", secure=True, httponly=True, samesite="None", partitioned=True
        )
    else:
        response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="Lax")
