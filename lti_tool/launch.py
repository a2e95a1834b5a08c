"""OIDC login initiation (`/lti/login`) and the launch (`/lti/launch`), LTI 1.3 core §5.1.

Login: find the registration, remember a fresh state and nonce bound to this browser (a cookie),
and send the browser to the platform's authorization endpoint. Launch: validate (validation.py),
record the activity (activity.py), then show the page for the message and the role.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from flask import Blueprint, redirect, request

from core.ratelimit import FailureLimit, TooManyFailures
from lti_tool import advantage, deep_linking, views
from lti_tool import claims as c
from lti_tool.activity import launch_activity, launch_record, save_launch_activity
from lti_tool.errors import (
    BadSignature,
    BadTargetLink,
    MissingParameter,
    ParameterTooLong,
    TooManyAttempts,
    UnknownClient,
    UnknownDeployment,
    UnknownPlatform,
)
from lti_tool.registrations import Registration
from lti_tool.roles import is_instructor
from lti_tool.sessions import BROWSER_COOKIE, LaunchSession, LoginState, browser_hash, new_token
from lti_tool.tool import Tool
from lti_tool.validation import Launch, validate_launch
from lti_tool.web import (
    LAUNCH_PATH,
    LOGIN_PATH,
    base_url,
    same_origin,
    set_tool_cookie,
    tool,
    tool_url,
)

blueprint = Blueprint("launch", __name__)

LOGIN_PARAMS = ("iss", "login_hint", "target_link_uri", "client_id", "lti_deployment_id", "lti_message_hint")


def find_registration(issuer: str, client_id: str | None) -> Registration:
    registrations = tool().registrations
    if client_id:
        found = registrations.get(issuer, client_id)
        if found is None:
            if not registrations.for_issuer(issuer):
                raise UnknownPlatform(f"no platform with issuer {issuer!r} is registered")
            raise UnknownClient(f"client id {client_id!r} is not registered for {issuer}")
        return found
    candidates = registrations.for_issuer(issuer)
    if not candidates:
        raise UnknownPlatform(f"no platform with issuer {issuer!r} is registered")
    if len(candidates) > 1:
        raise MissingParameter(f"{issuer} has several registrations: the login must name its client_id")
    return candidates[0]


@blueprint.route(LOGIN_PATH, methods=["GET", "POST"])
def login():
    params = {name: (request.values.get(name) or "").strip() for name in LOGIN_PARAMS}
    for name in ("iss", "login_hint", "target_link_uri"):
        if not params[name]:
            raise MissingParameter(f"the login initiation has no {name}")
    limit = tool().services.settings.lti_max_param_chars
    for name, value in params.items():
        if len(value) > limit:
            raise ParameterTooLong(f"the login initiation's {name} is longer than {limit} characters")
    registration = find_registration(params["iss"], params["client_id"] or None)
    deployment = params["lti_deployment_id"]
    if deployment and deployment not in registration.deployments:
        raise UnknownDeployment(f"deployment {deployment!r} is not registered for {registration.issuer}")
    if not same_origin(params["target_link_uri"], base_url()):
        raise BadTargetLink(f"target_link_uri {params['target_link_uri']!r} is not on this tool ({base_url()})")

    settings = tool().services.settings
    browser = request.cookies.get(BROWSER_COOKIE) or new_token()
    state, nonce = new_token(), new_token()
    login_params = {k: v for k, v in params.items() if v}
    tool().sessions.save_state(
        state, LoginState(registration.issuer, registration.client_id, nonce, browser_hash(browser), login_params)
    )
    query = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": registration.client_id,
        "redirect_uri": tool_url(LAUNCH_PATH),
        "login_hint": params["login_hint"],
        "state": state,
        "nonce": nonce,
    }
    if params["lti_message_hint"]:
        query["lti_message_hint"] = params["lti_message_hint"]
    separator = "&" if "?" in registration.auth_login_url else "?"
    response = redirect(registration.auth_login_url + separator + urlencode(query), code=302)
    set_tool_cookie(response, BROWSER_COOKIE, browser, max_age=settings.lti_launch_ttl_s)
    return response


def _relaunch_url(login_params: dict) -> str:
    """The same login, to be opened in a new top-level window where cookies are first-party."""
    return tool_url(LOGIN_PATH) + "?" + urlencode(login_params)


def _validated(t: Tool, now: float) -> Launch:
    settings = t.services.settings
    return validate_launch(
        request.form,
        request.cookies.get(BROWSER_COOKIE),
        sessions=t.sessions,
        registrations=t.registrations,
        platform_keys=t.platform_keys,
        leeway_s=settings.lti_leeway_s,
        now=now,
        max_token_chars=settings.lti_max_id_token_chars,
        max_lifetime_s=settings.lti_max_token_lifetime_s,
        relaunch_url=_relaunch_url,
    )


@blueprint.post(LAUNCH_PATH)
def launch():
    t = tool()
    now = time.time()
    try:
        validated = _validated(t, now)
    except BadSignature:
        # Only a forged signature counts against the sender's address: state, cookie and nonce
        # failures need no secret to cause, so counting them would let anyone behind the same
        # address lock everyone out. A valid launch is never held back.
        try:
            FailureLimit.of(t.services, "lti").refuse(request.remote_addr)
        except TooManyFailures as exc:
            raise TooManyAttempts(str(exc), exc.retry_after_s) from None
        raise
    activity = launch_activity(t.services, validated, t.module_links, t.role_map, now)
    save_launch_activity(t.services, t.binding, validated, activity)
    instructor = is_instructor(validated.claims[c.ROLES])
    session = LaunchSession(
        tenant=activity.tenant,
        learner=activity.learner,
        issuer=validated.registration.issuer,
        client_id=validated.registration.client_id,
        deployment_id=validated.deployment_id,
        message_type=validated.message_type,
        instructor=instructor,
        cohort=activity.cohort,
        language=c.language(validated.claims),
        # Only what the later pages read: never the names or emails a platform may send.
        claims={k: validated.claims[k] for k in (c.CONTEXT, c.DEEP_LINKING_SETTINGS) if k in validated.claims},
        browser=browser_hash(request.cookies[BROWSER_COOKIE]),  # validate_launch proved it is there
    )
    launch_id = t.sessions.save_launch(session)
    if validated.message_type == c.DEEP_LINKING_REQUEST:
        return deep_linking.picker_page(launch_id, session)
    if instructor:
        notices = advantage.on_instructor_launch(t, validated, activity, now)
        return views.instructor_page(launch_id, session, notices)
    record = launch_record(t.services.learners, activity)
    advantage.queue_scores(t, validated, activity, record, now)
    return views.learner_page(session, activity, record)
