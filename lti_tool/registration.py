"""LTI Dynamic Registration 1.0 (`/lti/register`): the LMS admin pastes the tool's registration URL;
the LMS opens it with `openid_configuration` and `registration_token`. The tool reads the
platform's configuration, posts its own (launch, deep-linking and redirect URIs, JWKS, the AGS
and NRPS scopes, the claims it needs), stores the registration, and answers with a page that
tells the LMS to close the dialog. `?tenant=name` on the URL chooses the tenant."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from flask import Blueprint, render_template, request

from lti_tool import claims as c
from lti_tool.errors import MissingParameter, RegistrationFailed, RegistrationRefused
from lti_tool.registrations import InvalidRegistration, Registration, validate_registration
from lti_tool.web import LAUNCH_PATH, LOGIN_PATH, base_url, tool, tool_url

blueprint = Blueprint("registration", __name__)

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
SCOPES = (c.SCOPE_LINEITEM, c.SCOPE_LINEITEM_READONLY, c.SCOPE_RESULT_READONLY, c.SCOPE_SCORE, c.SCOPE_NRPS)


def tool_configuration(scopes_supported: list[str] | None) -> dict:
    """What the tool asks the platform for. Every URL a launch can arrive at is a redirect URI:
    Moodle refuses a launch or deep-linking URL missing from them ("invalidrequest")."""
    launch_url = tool_url(LAUNCH_PATH)
    scopes = [s for s in SCOPES if scopes_supported is None or s in scopes_supported]
    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": tool_url(LOGIN_PATH),
        "redirect_uris": [launch_url],
        "client_name": "SkillGap",
        "jwks_uri": tool_url("/.well-known/jwks.json"),
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(scopes),
        TOOL_CONFIGURATION: {
            "domain": urlsplit(base_url()).netloc,
            "target_link_uri": launch_url,
            "claims": ["iss", "sub"],  # no names or emails: learners are pseudonymous
            "messages": [
                {"type": c.RESOURCE_LINK_REQUEST, "target_link_uri": launch_url, "label": "SkillGap"},
                {"type": c.DEEP_LINKING_REQUEST, "target_link_uri": launch_url, "label": "SkillGap"},
            ],
        },
    }


def _fetch_json(method: str, url: str, **kwargs) -> dict:
    http, timeout = tool().http, tool().services.settings.lti_http_timeout_s
    try:
        response = http.request(method, url, timeout=timeout, **kwargs)
    except requests.RequestException as exc:
        raise RegistrationFailed(f"{method} {url} failed: {exc}") from None
    if not response.ok:
        raise RegistrationFailed(f"{method} {url} answered HTTP {response.status_code}: {response.text[:300]}")
    try:
        body = response.json()
    except ValueError:
        raise RegistrationFailed(f"{method} {url} did not answer with JSON") from None
    if not isinstance(body, dict):
        raise RegistrationFailed(f"{method} {url} did not answer with a JSON object")
    return body


def validate_platform(config_url: str, config: dict, answer: dict, tenant: str | None) -> Registration:
    """The registration the exchange produced (no side effects)."""
    platform = config.get(PLATFORM_CONFIGURATION) or {}
    issuer = config.get("issuer")
    # DR §3.5.1: the issuer's domain must be the configuration URL's.
    if not isinstance(issuer, str) or urlsplit(issuer).hostname != urlsplit(config_url).hostname:
        raise RegistrationFailed(f"the platform's issuer {issuer!r} is not on the host of {config_url}")
    deployment = (answer.get(TOOL_CONFIGURATION) or {}).get("deployment_id")
    try:
        return validate_registration(
            issuer=issuer,
            client_id=answer.get("client_id"),
            auth_login_url=config.get("authorization_endpoint"),
            auth_token_url=config.get("token_endpoint"),
            jwks_url=config.get("jwks_uri"),
            deployments=[str(deployment)] if deployment not in (None, "") else [],
            tenant=tenant,
            auth_audience=config.get("authorization_server"),
            name=str(platform.get("product_family_code") or issuer),
            product=str(platform.get("product_family_code") or ""),
            source="dynamic",
        )
    except InvalidRegistration as exc:
        raise RegistrationFailed(f"the platform's registration cannot be used: {exc}") from None


@blueprint.get("/lti/register")
def register():
    config_url = request.args.get("openid_configuration", "").strip()
    if not config_url:
        raise MissingParameter("open this URL from your LMS's tool registration: it passes openid_configuration")
    allowed = {h.strip().lower() for h in tool().services.settings.lti_registration_hosts.split(",") if h.strip()}
    if allowed and (urlsplit(config_url).hostname or "") not in allowed:
        raise RegistrationRefused(f"registrations from {urlsplit(config_url).hostname} are not allowed here")
    token = request.args.get("registration_token", "").strip()
    config = _fetch_json("GET", config_url, headers={"Accept": "application/json"})
    endpoint = config.get("registration_endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        raise RegistrationFailed("the platform's configuration has no registration_endpoint")
    scopes = config.get("scopes_supported")
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    answer = _fetch_json("POST", endpoint, json=tool_configuration(scopes if isinstance(scopes, list) else None), headers=headers)
    registration = validate_platform(config_url, config, answer, request.args.get("tenant", "").strip() or None)
    tool().registrations.save(registration)
    return render_template("registered.html", registration=registration, pending=registration.product == "moodle")
