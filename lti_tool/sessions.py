"""What the tool remembers between the steps of a launch, in Redis with a TTL:

- a login's state: the nonce it asked the platform for, which platform, and which browser
  (the hash of a cookie) — so the launch must come back to the same browser;
- the nonces already used: an id_token is accepted once (pylti1p3 2.0.0 never consumes them);
- a validated launch, under an unguessable id, for the links of the page it rendered (in the
  browser that launched only).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import asdict, dataclass, field

import orjson
import redis

from lti_tool.redis_keys import LtiKeys

BROWSER_COOKIE = "skillgap_browser"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def browser_hash(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


@dataclass(frozen=True)
class LoginState:
    issuer: str
    client_id: str
    nonce: str
    browser: str  # sha256 of the browser cookie
    login: dict  # the login's own parameters, to start it again in a new window
    created: float = field(default_factory=time.time)


@dataclass(frozen=True)
class LaunchSession:
    """What the pages of one launch need after the launch request itself."""

    tenant: str
    learner: str
    issuer: str
    client_id: str
    deployment_id: str
    message_type: str
    instructor: bool
    cohort: str | None
    language: str
    claims: dict
    browser: str = ""  # sha256 of the browser cookie of the launch: its links work in that browser only
    created: float = field(default_factory=time.time)


class SessionStore:
    def __init__(self, client: redis.Redis, lti_keys: LtiKeys, state_ttl_s: int, launch_ttl_s: int):
        self.client = client
        self.lti_keys = lti_keys
        self.state_ttl_s = state_ttl_s
        self.launch_ttl_s = launch_ttl_s

    def save_state(self, state: str, login: LoginState) -> None:
        self.client.set(self.lti_keys.state(state), orjson.dumps(asdict(login)), ex=self.state_ttl_s)

    def state(self, state: str) -> LoginState | None:
        raw = self.client.get(self.lti_keys.state(state))
        return LoginState(**orjson.loads(raw)) if raw else None

    def use_nonce(self, issuer: str, nonce: str, ttl_s: int) -> bool:
        """True the first time; False when this nonce was used before (a replay)."""
        return bool(self.client.set(self.lti_keys.nonce(issuer, nonce), 1, nx=True, ex=max(1, ttl_s)))

    def save_launch(self, session: LaunchSession) -> str:
        launch_id = new_token()
        self.client.set(self.lti_keys.launch(launch_id), orjson.dumps(asdict(session)), ex=self.launch_ttl_s)
        return launch_id

    def launch(self, launch_id: str, browser_cookie: str | None) -> LaunchSession | None:
        """The launch, when it is live and this is the browser that made it (its id alone is not enough)."""
        if not browser_cookie or len(launch_id) > 128:
            return None
        raw = self.client.get(self.lti_keys.launch(launch_id))
        if not raw:
            return None
        session = LaunchSession(**orjson.loads(raw))
        return session if hmac.compare_digest(session.browser, browser_hash(browser_cookie)) else None
