"""LTI Dynamic Registration 1.0 (`/lti/register`): the LMS admin pastes the tool's registration URL;
the LMS opens it with `openid_configuration` and `registration_token`. The tool reads the
platform's configuration, posts its own (launch, deep-linking and redirect URIs, JWKS, the AGS
and NRPS scopes, the claims it needs), stores the registration, and answers with a page that
tells the LMS to close the dialog. The URL must carry a one-time invite (lti_tool/invites.py),
which names the tenant; every fetch goes through the outbound client (lti_tool/outbound.py)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, render_template, request

from lti_tool import claims as c
from lti_tool.errors import MissingParameter, RegistrationFailed, RegistrationRefused
from lti_tool.invites import INVITE_PARAM, REGISTER_PATH
from lti_tool.outbound import Origin, OutboundFailed, OutboundRefused, origin_of
from lti_tool.registrations import InvalidRegistration, Registration, RegistrationExists, validate_registration
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


def _fetch_json(
    method: str, url: str, *, origins: set[Origin] | None = None, headers: dict | None = None, **kwargs
) -> dict:
    try:
        reply = tool().outbound.request(
            method, url, origins=origins, headers={"Accept": "application/json", **(headers or {})}, **kwargs
        )
    except OutboundRefused as exc:
        raise RegistrationRefused(str(exc)) from None
    except OutboundFailed as exc:
        raise RegistrationFailed(str(exc)) from None
    try:
        body = reply.json()
    except ValueError:
        raise RegistrationFailed(f"{method} {url} did not answer with JSON") from None
    if not isinstance(body, dict):
        raise RegistrationFailed(f"{method} {url} did not answer with a JSON object")
    return body


def _object(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def validate_platform(config_url: str, config: dict, answer: dict, tenant: str) -> Registration:
    """The registration the exchange produced (no side effects)."""
    platform = _object(config.get(PLATFORM_CONFIGURATION))
    issuer = config.get("issuer")
    # DR §3.5.1: the issuer's domain must be the configuration URL's; here scheme, host and port.
    if not isinstance(issuer, str) or origin_of(issuer) is None or origin_of(issuer) != origin_of(config_url):
        raise RegistrationFailed(f"the platform's issuer is not on the origin (scheme, host and port) of {config_url}")
    deployment = _object(answer.get(TOOL_CONFIGURATION)).get("deployment_id")
    if not isinstance(deployment, (str, int, type(None))):
        raise RegistrationFailed("the platform's deployment_id is neither a string nor a number")
    audience = config.get("authorization_server")
    try:
        return validate_registration(
            issuer=issuer,
            client_id=answer.get("client_id"),
            auth_login_url=config.get("authorization_endpoint"),
            auth_token_url=config.get("token_endpoint"),
            jwks_url=config.get("jwks_uri"),
            deployments=[str(deployment)] if deployment not in (None, "") else [],
            tenant=tenant,
            auth_audience=audience if isinstance(audience, str) else None,
            name=str(platform.get("product_family_code") or issuer)[:200],
            product=str(platform.get("product_family_code") or "")[:64],
            source="dynamic",
        )
    except InvalidRegistration as exc:  # what is wrong, without the value the platform sent
        raise RegistrationFailed(f"the platform's registration cannot be used: {str(exc).split(', not ')[0]}") from None


@blueprint.get(REGISTER_PATH)
def register():
    t = tool()
    invite = request.args.get(INVITE_PARAM, "")
    pending = t.invites.peek(invite)
    if pending is None:
        raise RegistrationRefused(
            "this registration URL carries no valid invite (each is used once and expires): "
            "ask the SkillGap operator for one (skillgap platform invite --tenant ...)"
        )
    config_url = request.args.get("openid_configuration", "").strip()
    if not config_url:
        raise MissingParameter("open this URL from your LMS's tool registration: it passes openid_configuration")
    allowed = {h.strip().lower() for h in t.services.settings.lti_registration_hosts.split(",") if h.strip()}
    if allowed and (origin_of(config_url) or ("", "", 0))[1] not in allowed:
        raise RegistrationRefused(f"registrations from {urlsplit(config_url).hostname} are not allowed here")
    token = request.args.get("registration_token", "").strip()
    config = _fetch_json("GET", config_url)
    platform_origin = origin_of(config_url)
    endpoint = config.get("registration_endpoint")
    if not isinstance(endpoint, str) or origin_of(endpoint) is None:
        raise RegistrationFailed("the platform's configuration has no registration_endpoint")
    scopes = config.get("scopes_supported")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    configuration = tool_configuration(scopes if isinstance(scopes, list) else None)
    answer = _fetch_json("POST", endpoint, origins={platform_origin}, json=configuration, headers=headers)
    registration = validate_platform(config_url, config, answer, pending.tenant)
    if t.registrations.get(registration.issuer, registration.client_id) is not None:
        raise RegistrationRefused(
            f"{registration.issuer} client {registration.client_id} is already registered; registrations are never replaced"
        )
    if t.invites.use(invite) is None:
        raise RegistrationRefused("this invite was used meanwhile by another registration")
    try:
        t.registrations.save(registration)
    except RegistrationExists as exc:
        raise RegistrationRefused(str(exc)) from None
    return render_template("registered.html", registration=registration, pending=registration.product == "moodle")
