"""A demo LTI 1.3 platform inside the tool, to try the learner and teacher pages without an LMS.

It is a platform like any other: registered (in the demo tenant) with its own key pair, serving
its own JWKS, authorization endpoint and (refusing) token endpoint. `/demo` lists its users; a
choice starts the ordinary OIDC login at /lti/login, whose redirect comes back to this platform's
authorization endpoint, which signs an id_token and posts it to /lti/launch: the launch is
validated by validation.py exactly as a Moodle's would be. Only `skillgap run` turns it on
(`SKILLGAP_DEMO_PLATFORM`): anyone who can reach /demo can launch as its users.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import urlencode

import orjson
from flask import Blueprint, Response, render_template, request
from jwt import encode as jwt_encode

from core.identity import course_cohort, learner_pseudonym
from lti_tool import claims as c
from lti_tool.activity import learner_for
from lti_tool.errors import LtiError, MissingParameter
from lti_tool.i18n import text
from lti_tool.registrations import Registration, validate_registration
from lti_tool.signing import SigningKey, new_key
from lti_tool.web import LAUNCH_PATH, LOGIN_PATH, tool, tool_url

ISSUER = "https://demo-platform.skillgap.invalid"  # an identifier only (.invalid: RFC 2606)
CLIENT_ID = "skillgap-demo"
DEPLOYMENT = "demo"
COURSE = "llm-skills-101"
COURSE_TITLE = {"en": "LLM skills 101 (demo course)", "zh": "大模型技能 101（演示课程）"}
TEACHER = "demo-teacher"
SHOWN_LEARNERS = 12  # the /demo page lists the first learners of the simulated cohort

PLATFORM = "/demo/platform"
AUTH_PATH = PLATFORM + "/auth"
TOKEN_PATH = PLATFORM + "/token"
JWKS_PATH = PLATFORM + "/jwks"
ID_TOKEN_TTL_S = 300

LEARNER_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR_ROLE = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"

blueprint = Blueprint("demo_platform", __name__)


class DemoLoginRefused(LtiError):
    """The demo platform's authorization endpoint refuses a request it did not expect."""

    reason = "demo_login_refused"
    hint = "Start again from the demo page (/demo)."


def demo_user(number: int) -> str:
    """The demo platform's user id (LTI `sub`) of the simulated cohort's learner `number` (from 1)."""
    return f"demo-{number:04d}"


def demo_cohort() -> str:
    """The demo course as every channel names it: the cohort of the simulated learners."""
    return course_cohort(ISSUER, COURSE)


def demo_learner_ids(secret: bytes, count: int) -> list[str]:
    """The pseudonymous learner ids the tool gives the demo users 1..count when they launch:
    `skillgap run` loads the simulated cohort under these ids."""
    return [learner_pseudonym(secret, ISSUER, demo_user(i)) for i in range(1, count + 1)]


@dataclass(frozen=True)
class DemoUser:
    sub: str
    learner: str
    role: str  # the catalog role's name in the page's language


def _platform_key() -> SigningKey:
    """The demo platform's own RSA key, created once and kept in Redis (every process shares it)."""
    t = tool()
    key_name = f"{t.lti_keys.base}:demo-platform-key"
    raw = t.services.redis.get(key_name)
    if raw is None:
        t.services.redis.set(key_name, new_key(time.time()).to_json(), nx=True)
        raw = t.services.redis.get(key_name)
    return SigningKey(**orjson.loads(raw))


def registration() -> Registration:
    """The demo platform's registration at this tool's URL, saved when missing or moved."""
    t = tool()
    wanted = validate_registration(
        issuer=ISSUER,
        client_id=CLIENT_ID,
        tenant=t.services.settings.default_tenant,
        auth_login_url=tool_url(AUTH_PATH),
        auth_token_url=tool_url(TOKEN_PATH),
        jwks_url=tool_url(JWKS_PATH),
        deployments=[DEPLOYMENT],
        name="SkillGap demo platform",
        product="skillgap-demo",
    )
    saved = t.registrations.get(ISSUER, CLIENT_ID)
    if saved is None or (saved.tenant, saved.auth_login_url, saved.jwks_url, saved.deployments) != (
        wanted.tenant,
        wanted.auth_login_url,
        wanted.jwks_url,
        wanted.deployments,
    ):
        if saved is not None:  # the tool's own demo platform moved with the tool: no one else's registration
            t.registrations.remove(ISSUER, CLIENT_ID)
        t.registrations.save(wanted)
        return wanted
    return saved


def _users(language: str) -> list[DemoUser]:
    t = tool()
    services = t.services
    catalog, store = services.catalog, services.learners
    tenant = services.settings.default_tenant
    count = min(SHOWN_LEARNERS, services.settings.demo_learners)
    subs = [demo_user(i) for i in range(1, count + 1)]
    learners = [learner_for(services, ISSUER, sub) for sub in subs]
    records = {r.learner: r for r in store.get_many(tenant, learners, explain=False)}
    users = []
    for sub, learner in zip(subs, learners):
        record = records.get(learner)
        if record is None:
            continue
        role = store.role_of(record)
        name = catalog.roles[catalog.role_index[role]].name.get(language) if role in catalog.role_index else role
        users.append(DemoUser(sub, learner, name))
    return users


def _language() -> str:
    return "zh" if request.args.get("lang", "en") == "zh" else "en"


def _login_url(sub: str, language: str) -> str:
    query = {
        "iss": ISSUER,
        "client_id": CLIENT_ID,
        "lti_deployment_id": DEPLOYMENT,
        "login_hint": sub,
        "target_link_uri": tool_url(LAUNCH_PATH),
        "lti_message_hint": language,
    }
    return tool_url(LOGIN_PATH) + "?" + urlencode(query)


@blueprint.get("/demo")
def demo_page():
    registration()
    language = _language()
    users = _users(language)
    return render_template(
        "demo.html",
        t=lambda key, **values: text(key, language, **values),
        language=language,
        learners=[(user, _login_url(user.sub, language)) for user in users],
        teacher_url=_login_url(TEACHER, language),
        course=COURSE_TITLE[language],
        other_language="zh" if language == "en" else "en",
    )


def _check_auth_request(params: dict[str, str], registered: Registration) -> None:
    """OIDC Core §3.2.2.1 and LTI 1.3 core §5.1.1.2: what the tool's login must send."""
    for name in ("scope", "response_type", "client_id", "redirect_uri", "login_hint", "state", "nonce"):
        if not params.get(name):
            raise MissingParameter(f"the authentication request has no {name}")
    if params["scope"] != "openid" or params["response_type"] != "id_token":
        raise DemoLoginRefused("the authentication request must ask for scope=openid, response_type=id_token")
    if params.get("response_mode", "form_post") != "form_post":
        raise DemoLoginRefused("the demo platform answers with response_mode=form_post only")
    if params["client_id"] != registered.client_id:
        raise DemoLoginRefused(f"client_id {params['client_id']!r} is not the demo platform's tool")
    if params["redirect_uri"] != tool_url(LAUNCH_PATH):
        raise DemoLoginRefused(f"redirect_uri {params['redirect_uri']!r} is not the tool's registered launch URL")
    sub = params["login_hint"]
    number = sub.removeprefix("demo-")
    known = sub == TEACHER or (
        number.isdigit()
        and sub == demo_user(int(number))
        and 1 <= int(number) <= tool().services.settings.demo_learners
    )
    if not known:
        raise DemoLoginRefused(f"the demo platform has no user {sub!r}")


def id_token_claims(sub: str, nonce: str, language: str, now: float) -> dict:
    """What the demo platform says about a launch of the SkillGap widget in its demo course."""
    instructor = sub == TEACHER
    return {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "azp": CLIENT_ID,
        "sub": sub,
        "iat": int(now),
        "exp": int(now) + ID_TOKEN_TTL_S,
        "nonce": nonce,
        c.MESSAGE_TYPE: c.RESOURCE_LINK_REQUEST,
        c.VERSION: "1.3.0",
        c.DEPLOYMENT_ID: DEPLOYMENT,
        c.LTI + "target_link_uri": tool_url(LAUNCH_PATH),
        c.RESOURCE_LINK: {"id": "skillgap-widget", "title": "SkillGap"},
        c.ROLES: [INSTRUCTOR_ROLE if instructor else LEARNER_ROLE],
        c.CONTEXT: {
            "id": COURSE,
            "label": COURSE,
            "title": COURSE_TITLE[language],
            "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
        },
        c.LAUNCH_PRESENTATION: {"locale": "zh-CN" if language == "zh" else "en-US", "document_target": "window"},
        c.LTI + "tool_platform": {
            "guid": ISSUER,
            "name": "SkillGap demo platform",
            "product_family_code": "skillgap-demo",
        },
    }


@blueprint.get(AUTH_PATH)
def authorize():
    """The platform's OIDC authorization endpoint: the tool's login redirects the browser here."""
    registered = registration()
    params = {k: v.strip() for k, v in request.args.items()}
    _check_auth_request(params, registered)
    language = "zh" if params.get("lti_message_hint") == "zh" else "en"
    key = _platform_key()
    claims = id_token_claims(params["login_hint"], params["nonce"], language, time.time())
    id_token = jwt_encode(claims, key.pem, algorithm="RS256", headers={"kid": key.kid})
    return render_template("demo_post.html", action=params["redirect_uri"], id_token=id_token, state=params["state"])


@blueprint.get(PLATFORM + "/autopost.js")
def autopost_script():
    # A file rather than an inline script, so a strict Content-Security-Policy (script-src 'self') allows it.
    return Response("document.getElementById('launch').submit();\n", mimetype="text/javascript")


@blueprint.get(JWKS_PATH)
def jwks():
    return {"keys": [_platform_key().public_jwk()]}


@blueprint.post(TOKEN_PATH)
def token():
    # The demo launches carry no AGS or NRPS claims, so the tool never asks for a token.
    return {"error": "unsupported_grant_type", "error_description": "the demo platform offers no services"}, 400
