"""A real LTI 1.3 platform for the tool's tests: Open edX's LTI consumer (lti-consumer-xblock),
run standalone with Django settings and a local-memory cache. It signs launches, deep-linking
requests and access tokens, and verifies the tool's client assertions and deep-linking responses
against the tool's JWKS over HTTP. The library has no HTTP endpoints, so this module serves them
(authorization, JWKS, token, AGS line items / scores / results, NRPS memberships) on loopback."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import django
import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings as django_settings
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


def _configure_django() -> None:
    if not django_settings.configured:
        django_settings.configure(
            CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
            PLATFORM_NAME="Open edX test platform",
            USE_TZ=True,
            INSTALLED_APPS=[],
            LOGGING_CONFIG=None,
        )
        django.setup()


_configure_django()

from lti_consumer.data import Lti1p3LaunchData  # noqa: E402
from lti_consumer.lti_1p3.consumer import LtiAdvantageConsumer  # noqa: E402

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
NRPS_SCOPE = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
AGS = "https://purl.imsglobal.org/spec/lti-ags/scope/"


def rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_pem(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


class LoopbackServer:
    """A WSGI app on 127.0.0.1 and a free port, served from a thread."""

    def __init__(self, app):
        self.server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class FormParser(HTMLParser):
    """The first form of a page: its action and its inputs (what a browser would submit)."""

    def __init__(self):
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.done = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and self.action is None:
            self.action = attrs.get("action")
        elif tag == "input" and self.action is not None and not self.done and attrs.get("name"):
            if attrs.get("type") in ("checkbox", "radio") and "checked" not in attrs:
                return
            self.fields[attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.done = True


def first_form(html: str) -> tuple[str, dict[str, str]]:
    parser = FormParser()
    parser.feed(html)
    assert parser.action, f"no form in the page: {html[:500]}"
    return parser.action, parser.fields


class EdxPlatform:
    def __init__(self, tool_url: str):
        self.tool_url = tool_url
        self.key_pem, self.kid = rsa_pem(), "edx-" + secrets.token_hex(4)
        self.extra_jwks: list[dict] = []  # keys published besides the signing one (rotation tests)
        self.client_id = "edx-" + secrets.token_hex(6)
        self.deployment_id = "1"
        self.context_id = "course-v1:SkillGap+LLM101+2026"
        self.line_items: dict[str, dict] = {}
        self.scores: list[tuple[str, dict]] = []
        self.results: dict[str, list[dict]] = {}
        self.members: list[dict] = []
        self.deep_link_items: list[dict] | None = None
        self.fail_scores = 0  # answer this many score posts with 503
        self.token_requests = 0
        self.jwks_requests = 0
        self.registration_token = secrets.token_urlsafe(16)
        self.product = "openedx"
        self.tool_registration: dict | None = None  # what the tool posted to /register
        self._pending: LtiAdvantageConsumer | None = None
        self.server = LoopbackServer(self.wsgi)
        self.url = self.issuer = self.server.url
        self.add_line_item({"label": "SkillGap", "scoreMaximum": 10, "resourceLinkId": "rl-1"})

    # --- the platform's configuration --------------------------------------------------

    @property
    def lineitem_url(self) -> str:
        return next(iter(self.line_items))

    def registration(self) -> dict:
        return {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "auth_login_url": self.url + "/auth",
            "auth_token_url": self.url + "/token",
            "jwks_url": self.url + "/jwks",
            "deployments": [self.deployment_id],
        }

    def consumer(self, lineitem: str | None = "") -> LtiAdvantageConsumer:
        """`lineitem`: the launch's line item claim ("": the widget's, None: none)."""
        consumer = LtiAdvantageConsumer(
            iss=self.issuer,
            lti_oidc_url=self.tool_url + "/lti/login",
            lti_launch_url=self.tool_url + "/lti/launch",
            client_id=self.client_id,
            deployment_id=self.deployment_id,
            rsa_key=self.key_pem,
            rsa_key_id=self.kid,
            redirect_uris=[self.tool_url + "/lti/launch"],
            tool_keyset_url=self.tool_url + "/.well-known/jwks.json",
        )
        lineitem = self.lineitem_url if lineitem == "" else lineitem
        consumer.enable_ags(self.url + "/lineitems", lineitem, allow_programmatic_grade_interaction=True)
        consumer.enable_nrps(self.url + "/memberships")
        consumer.enable_deep_linking(self.tool_url + "/lti/launch", self.url + "/deep-link-return")
        return consumer

    def add_line_item(self, body: dict) -> dict:
        item_id = f"{self.url}/lineitems/{len(self.line_items) + 1}/lineitem"
        item = {**body, "id": item_id}
        self.line_items[item_id] = item
        return item

    # --- starting launches -------------------------------------------------------------------

    def begin(
        self,
        user_id: str,
        role: str = "student",
        *,
        resource_link: str = "rl-1",
        custom: dict | None = None,
        message_type: str = "LtiResourceLinkRequest",
        locale: str | None = None,
        lineitem: str | None = "",
    ) -> str:
        """Prepare a launch as the Open edX XBlock does; returns the login URL the browser opens."""
        consumer = self.consumer(lineitem)
        consumer.set_user_data(user_id, role)
        consumer.set_resource_link_claim(resource_link, title="SkillGap")
        consumer.set_context_claim(self.context_id, context_title="LLM upskilling 101", context_label="LLM101")
        if custom:
            consumer.set_custom_parameters(custom)
        if locale:
            consumer.set_extra_claim(
                {"https://purl.imsglobal.org/spec/lti/claim/launch_presentation": {"locale": locale}}
            )
        data = Lti1p3LaunchData(
            user_id=user_id,
            user_role=role,
            config_id="skillgap",
            resource_link_id=resource_link,
            message_type=message_type,
            context_id=self.context_id,
        )
        self._pending = consumer
        return consumer.prepare_preflight_url(data)

    def id_token_for(self, preflight: dict) -> str:
        return self._pending.generate_launch_request(preflight)["id_token"]

    def sign(self, claims: dict, *, key_pem: str | None = None, kid: str | None = None) -> str:
        return jwt.encode(claims, key_pem or self.key_pem, algorithm="RS256", headers={"kid": kid or self.kid})

    def sign_none(self, claims: dict) -> str:
        return _b64({"alg": "none", "typ": "JWT", "kid": self.kid}) + "." + _b64(claims) + "."

    def sign_hs256_with_public_key(self, claims: dict) -> str:
        """The classic key-confusion forgery: HMAC keyed with the platform's public PEM."""
        signing_input = _b64({"alg": "HS256", "typ": "JWT", "kid": self.kid}) + "." + _b64(claims)
        mac = hmac.new(public_pem(self.key_pem).encode(), signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def jwks(self) -> dict:
        keys = self.consumer().get_public_keyset()["keys"]
        return {"keys": keys + self.extra_jwks}

    # --- HTTP ------------------------------------------------------------------------------

    def _bearer(self, request: Request, scopes: list[str]) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return False
        try:
            return self.consumer().check_token(header[7:], scopes)
        except jwt.InvalidTokenError:
            return False

    def wsgi(self, environ, start_response):
        request = Request(environ)
        return self.route(request)(environ, start_response)

    def route(self, request: Request) -> Response:
        path = request.path
        if path == "/auth":
            fields = {"id_token": self.id_token_for(dict(request.args)), "state": request.args["state"]}
            inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in fields.items())
            return Response(
                f'<form method="post" action="{request.args["redirect_uri"]}">{inputs}</form>', mimetype="text/html"
            )
        if path == "/jwks":
            self.jwks_requests += 1
            return _json(self.jwks())
        if path == "/token":
            self.token_requests += 1
            try:
                return _json(self.consumer().access_token(dict(request.form)))
            except Exception as exc:  # the library raises several unrelated types
                return _json({"error": "invalid_client", "error_description": str(exc)}, 400)
        if path == "/.well-known/openid-configuration":
            return _json(self.openid_configuration())
        if path == "/register" and request.method == "POST":
            return self._register(request)
        if path == "/deep-link-return":
            self.deep_link_items = self.consumer().check_and_decode_deep_linking_token(request.form["JWT"])
            return _json({"saved": len(self.deep_link_items)})
        if path == "/memberships":
            if not self._bearer(request, [NRPS_SCOPE]):
                return _json({"error": "unauthorized"}, 401)
            return self._memberships(request)
        if path.startswith("/lineitems"):
            return self._ags(request)
        return _json({"error": "not found"}, 404)

    def openid_configuration(self) -> dict:
        """Shaped like Moodle 4.5's (shared/lms-samples/moodle-4.5/dynamic-registration.json)."""
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.url + "/auth",
            "token_endpoint": self.url + "/token",
            "jwks_uri": self.url + "/jwks",
            "registration_endpoint": self.url + "/register",
            "scopes_supported": [
                AGS + "lineitem",
                AGS + "lineitem.readonly",
                AGS + "result.readonly",
                AGS + "score",
                NRPS_SCOPE,
                "openid",
            ],
            "response_types_supported": ["id_token"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "https://purl.imsglobal.org/spec/lti-platform-configuration": {
                "product_family_code": self.product,
                "messages_supported": [{"type": "LtiResourceLinkRequest"}, {"type": "LtiDeepLinkingRequest"}],
            },
        }

    def _register(self, request: Request) -> Response:
        if request.headers.get("Authorization") != f"Bearer {self.registration_token}":
            return _json({"error": "invalid registration token"}, 401)
        body = request.get_json(force=True)
        self.tool_registration = body
        config = body["https://purl.imsglobal.org/spec/lti-tool-configuration"]
        # Moodle refuses a launch or deep-linking URL missing from the redirect URIs.
        if any(m["target_link_uri"] not in body["redirect_uris"] for m in config["messages"]):
            return _json({"error": "invalidrequest"}, 400)
        answer = {**body, "client_id": self.client_id}
        answer["https://purl.imsglobal.org/spec/lti-tool-configuration"] = {
            **config,
            "deployment_id": self.deployment_id,
            "version": "1.3.0",
            "messages": [m for m in config["messages"] if m["type"] == "LtiDeepLinkingRequest"],
        }
        return _json(answer)

    def _memberships(self, request: Request) -> Response:
        # Two members a page; the next-page URL has upper-case letters, which must survive.
        start = int(request.args.get("After", 0))
        page = self.members[start : start + 2]
        response = _json({"id": self.url + "/memberships", "context": {"id": self.context_id}, "members": page})
        if start + 2 < len(self.members):
            response.headers["Link"] = f'<{self.url}/memberships?After={start + 2}&Page=Next>; rel="next"'
        return response

    def _ags(self, request: Request) -> Response:
        path = request.path
        url = self.url + path
        if path == "/lineitems":
            if not self._bearer(request, [AGS + "lineitem", AGS + "lineitem.readonly"]):
                return _json({"error": "unauthorized"}, 401)
            if request.method == "POST":
                return _json(self.add_line_item(request.get_json(force=True)), 201)
            return _json(list(self.line_items.values()))
        if path.endswith("/scores") and request.method == "POST":
            if not self._bearer(request, [AGS + "score"]):
                return _json({"error": "unauthorized"}, 401)
            if self.fail_scores > 0:
                self.fail_scores -= 1
                return _json({"error": "try later"}, 503)
            self.scores.append((url.removesuffix("/scores"), request.get_json(force=True)))
            return Response("", 204)
        if path.endswith("/results"):
            if not self._bearer(request, [AGS + "result.readonly"]):
                return _json({"error": "unauthorized"}, 401)
            return _json(self.results.get(url.removesuffix("/results"), []))
        return _json({"error": "not found"}, 404)

    def close(self) -> None:
        self.server.close()


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _json(body, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


class Browser:
    """A browser as far as LTI needs one: a cookie jar that follows redirects and submits forms."""

    def __init__(self):
        self.http = requests.Session()

    def launch(self, login_url: str) -> requests.Response:
        page = self.http.get(login_url, timeout=30)
        page.raise_for_status()
        action, fields = first_form(page.text)
        return self.http.post(action, data=fields, timeout=30)

    def login(self, tool_url: str, platform: EdxPlatform, **params) -> dict:
        """Only the login initiation: the tool's redirect to the platform, as parsed query params."""
        query = {
            "iss": platform.issuer,
            "client_id": platform.client_id,
            "login_hint": "7",
            "target_link_uri": tool_url + "/lti/launch",
            "lti_deployment_id": platform.deployment_id,
            **params,
        }
        response = self.http.get(tool_url + "/lti/login", params=query, allow_redirects=False, timeout=30)
        assert response.status_code == 302, response.text
        return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}

    def post_launch(self, tool_url: str, id_token: str, state: str) -> requests.Response:
        return self.http.post(tool_url + "/lti/launch", data={"id_token": id_token, "state": state}, timeout=30)
