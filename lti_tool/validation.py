"""Validating a launch (LTI 1.3 core §5.1.3, 1EdTech Security Framework §5.1.3).

`validate_launch` checks everything and returns a `Launch`, or raises the typed error that says
what was wrong; its only write is claiming the nonce, last, once everything else held. Saving
what the launch means (events, identity, the launch session) is a separate step (activity.py).

What it adds to pylti1p3 2.0.0, which this tool does not use for launches: the state is bound
to the browser that logged in; the nonce must be the login's and is used once; `aud` and `azp`
are checked; exp and iat are checked with a small leeway; only RS256 is accepted, whatever the
header says (alg none, or HS256 keyed with the public key, are refused before any key is used);
an unknown kid re-fetches the platform's key set once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from lti_tool import claims as c
from lti_tool.errors import (
    AlgorithmNotAllowed,
    BadSignature,
    CookiesRefused,
    InvalidClaim,
    IssuedInFuture,
    MalformedToken,
    MissingClaim,
    MissingParameter,
    NonceMismatch,
    ReplayedLaunch,
    StateMismatch,
    StateUnknown,
    TokenExpired,
    UnknownClient,
    UnknownDeployment,
    UnknownKey,
    UnsupportedMessage,
    WrongAudience,
    WrongAuthorizedParty,
    WrongIssuer,
)
from lti_tool.outbound import origin_of
from lti_tool.platform_keys import PlatformKeySets
from lti_tool.registrations import Registration, RegistrationStore
from lti_tool.sessions import SessionStore, browser_hash

ALGORITHMS = ("RS256",)
SUPPORTED_MESSAGES = (c.RESOURCE_LINK_REQUEST, c.DEEP_LINKING_REQUEST)


@dataclass(frozen=True)
class Launch:
    registration: Registration
    claims: dict[str, Any]

    @property
    def message_type(self) -> str:
        return self.claims[c.MESSAGE_TYPE]

    @property
    def deployment_id(self) -> str:
        return self.claims[c.DEPLOYMENT_ID]


def validate_launch(
    form: Mapping[str, str],
    browser_cookie: str | None,
    *,
    sessions: SessionStore,
    registrations: RegistrationStore,
    platform_keys: PlatformKeySets,
    leeway_s: float,
    now: float,
    max_token_chars: int = 65_536,
    max_lifetime_s: float = 86_400,
    relaunch_url: Any = None,
) -> Launch:
    """`relaunch_url(login_params)` builds the "open in a new window" link for refused cookies;
    `max_lifetime_s`: how far ahead of now an id_token's exp may be."""
    id_token, state = form.get("id_token"), form.get("state")
    if not id_token:
        raise MissingParameter("the launch has no id_token")
    if not state:
        raise MissingParameter("the launch has no state")
    if len(id_token) > max_token_chars:
        raise MalformedToken(f"the id_token is longer than {max_token_chars} characters")
    if len(state) > 256:
        raise StateUnknown("this launch's state is not one the tool issued")
    login = sessions.state(state)
    if login is None:
        raise StateUnknown("this launch's state is unknown or has expired (it is kept for a few minutes)")
    if browser_cookie is None:
        error = CookiesRefused("the browser did not send back the cookie set when the launch began")
        error.relaunch_url = relaunch_url(login.login) if relaunch_url else None
        raise error
    if browser_hash(browser_cookie) != login.browser:
        raise StateMismatch("the launch's state belongs to another browser session")

    registration = registrations.get(login.issuer, login.client_id)
    if registration is None:
        raise UnknownClient(f"client id {login.client_id!r} of {login.issuer} is no longer registered")
    claims = _verified_claims(id_token, registration, platform_keys, leeway_s, now)
    if claims.get("nonce") != login.nonce:
        raise NonceMismatch("the id_token's nonce is not the one this login asked for")
    if not isinstance(claims["exp"], (int, float)) or isinstance(claims["exp"], bool):
        raise InvalidClaim("the id_token's exp must be a number")
    if claims["exp"] > now + max_lifetime_s + leeway_s:
        raise InvalidClaim(f"the id_token's exp is more than {max_lifetime_s:g} s ahead")
    _check_message(claims, registration)
    _check_types(claims, registration)
    ttl = max(int(claims["exp"] - now + leeway_s), sessions.state_ttl_s)
    if not sessions.use_nonce(registration.issuer, login.nonce, ttl):
        raise ReplayedLaunch("this id_token was already used; a launch is accepted once")
    return Launch(registration, claims)


def _verified_claims(
    id_token: str, registration: Registration, platform_keys: PlatformKeySets, leeway_s: float, now: float
) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.DecodeError as exc:
        raise MalformedToken(f"the id_token is not a JWT: {exc}") from None
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise AlgorithmNotAllowed(f"the id_token is signed with alg {alg!r}; only {', '.join(ALGORITHMS)} is accepted")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise UnknownKey("the id_token's header names no kid")
    key = platform_keys.key_for(registration.jwks_url, kid)
    try:
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=list(ALGORITHMS),
            audience=registration.client_id,
            issuer=registration.issuer,
            leeway=leeway_s,
            options={"require": ["iss", "aud", "exp", "iat", "nonce"]},
        )
    except jwt.ExpiredSignatureError:
        raise TokenExpired("the id_token has expired") from None
    except jwt.ImmatureSignatureError:
        raise IssuedInFuture("the id_token is issued in the future (iat or nbf after now)") from None
    except jwt.InvalidAudienceError:
        raise WrongAudience(
            f"the id_token's aud does not name this tool's client id {registration.client_id!r}"
        ) from None
    except jwt.InvalidIssuerError:
        raise WrongIssuer(
            f"the id_token's iss is not {registration.issuer!r}, the platform this login began with"
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise MissingClaim(exc.claim) from None
    except jwt.InvalidSignatureError:
        raise BadSignature("the id_token's signature does not verify with the platform's key") from None
    except jwt.InvalidTokenError as exc:
        raise MalformedToken(f"the id_token cannot be read: {exc}") from None
    except (TypeError, ValueError, OverflowError):  # a header or claim of an unexpected JSON type
        raise MalformedToken("the id_token cannot be read") from None
    _check_azp(claims, registration)
    return claims


def _check_azp(claims: dict[str, Any], registration: Registration) -> None:
    """OIDC Core §3.1.3.7 and LTI 1.3 §5.1.2: several audiences require azp; azp, when present,
    must be this tool's client id."""
    aud = claims["aud"]
    azp = claims.get("azp")
    if isinstance(aud, list) and len(aud) > 1 and azp is None:
        raise WrongAuthorizedParty("the id_token has several audiences but no azp")
    if azp is not None and azp != registration.client_id:
        raise WrongAuthorizedParty(f"the id_token's azp {azp!r} is not this tool's client id")


def _check_message(claims: dict[str, Any], registration: Registration) -> None:
    deployment = claims.get(c.DEPLOYMENT_ID)
    if not isinstance(deployment, str) or not deployment:
        raise MissingClaim("deployment_id")
    if deployment not in registration.deployments:
        raise UnknownDeployment(f"deployment {deployment!r} is not registered for {registration.issuer}")
    message_type = claims.get(c.MESSAGE_TYPE)
    if not message_type:
        raise MissingClaim("message_type")
    if message_type not in SUPPORTED_MESSAGES:
        raise UnsupportedMessage(f"message type {message_type!r} is not supported ({', '.join(SUPPORTED_MESSAGES)})")
    version = claims.get(c.VERSION)
    if version is None:
        raise MissingClaim("version")
    if version != "1.3.0":
        raise InvalidClaim(f"LTI version {version!r} is not supported (1.3.0)")
    roles = claims.get(c.ROLES)
    if roles is None:
        raise MissingClaim("roles")
    if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
        raise InvalidClaim("the roles claim must be a list of role URIs")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise MissingClaim("sub", "the id_token names no user (sub): anonymous launches are not supported")
    if message_type == c.RESOURCE_LINK_REQUEST:
        link = claims.get(c.RESOURCE_LINK)
        if not isinstance(link, dict) or not link.get("id"):
            raise MissingClaim("resource_link", "a resource link launch must carry a resource_link with an id")
    else:
        settings = claims.get(c.DEEP_LINKING_SETTINGS)
        if not isinstance(settings, dict) or not settings.get("deep_link_return_url"):
            raise MissingClaim(
                "deep_linking_settings",
                "a deep linking request must carry deep_linking_settings with a deep_link_return_url",
            )


# Claims the tool reads, and the JSON type each must have when present: a launch whose claims
# have other types is refused before anything is written.
OBJECT_CLAIMS = (
    c.CONTEXT,
    c.RESOURCE_LINK,
    c.CUSTOM,
    c.LIS,
    c.LAUNCH_PRESENTATION,
    c.AGS_ENDPOINT,
    c.NRPS,
    c.DEEP_LINKING_SETTINGS,
)
STRING_FIELDS = {
    c.CONTEXT: ("id", "title", "label"),
    c.RESOURCE_LINK: ("id", "title"),
    c.LIS: ("person_sourcedid", "course_section_sourcedid"),
    c.LAUNCH_PRESENTATION: ("locale", "return_url"),
    c.AGS_ENDPOINT: ("lineitem", "lineitems"),
    c.NRPS: ("context_memberships_url",),
    c.DEEP_LINKING_SETTINGS: ("deep_link_return_url",),
}
MAX_ID_CHARS = 255  # LTI 1.3 §5.3.6: sub, and the ids the tool keys data by
# Course and link ids name cohorts and course items, which hold no control character (C0, DEL, C1).
CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _check_types(claims: dict[str, Any], registration: Registration) -> None:
    if len(claims["sub"]) > MAX_ID_CHARS:
        raise InvalidClaim(f"sub is longer than {MAX_ID_CHARS} characters")
    for name in ("email", "nonce"):
        if name in claims and not isinstance(claims[name], str):
            raise InvalidClaim(f"the {name} claim must be a string")
    for name in OBJECT_CLAIMS:
        if name in claims and not isinstance(claims[name], dict):
            raise InvalidClaim(f"the {name.rsplit('/', 1)[-1]} claim must be a JSON object")
    for name, fields in STRING_FIELDS.items():
        section = claims.get(name) or {}
        for field in fields:
            value = section.get(field)
            if value is not None and not isinstance(value, str):
                raise InvalidClaim(f"{name.rsplit('/', 1)[-1]}.{field} must be a string")
    for name in (c.CONTEXT, c.RESOURCE_LINK):
        key_id = (claims.get(name) or {}).get("id") or ""
        if len(key_id) > MAX_ID_CHARS:
            raise InvalidClaim(f"{name.rsplit('/', 1)[-1]}.id is longer than {MAX_ID_CHARS} characters")
        if CONTROL_CHARACTER.search(key_id):
            raise InvalidClaim(f"{name.rsplit('/', 1)[-1]}.id holds a control character")
    scope = (claims.get(c.AGS_ENDPOINT) or {}).get("scope")
    if scope is not None and (not isinstance(scope, list) or not all(isinstance(s, str) for s in scope)):
        raise InvalidClaim("the AGS endpoint's scope must be a list of strings")
    return_url = (claims.get(c.DEEP_LINKING_SETTINGS) or {}).get("deep_link_return_url")
    if return_url is not None and origin_of(return_url) not in registration.origins:
        raise InvalidClaim("deep_link_return_url must be an http(s) URL on the platform's registered origin")
