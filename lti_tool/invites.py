"""One-time Dynamic Registration invites: the operator's `skillgap platform invite --tenant T`
makes a URL that registers one platform into T. `/lti/register` without a valid, unused invite
is refused before it fetches anything; the tenant comes from the invite, never from the URL.
Only a hash of the invite is stored, with the invite's lifetime as its TTL."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import orjson
import redis

from core.events import TENANT_PATTERN
from core.settings import Settings
from lti_tool.redis_keys import LtiKeys
from lti_tool.registrations import InvalidRegistration

REGISTER_PATH = "/lti/register"
INVITE_PARAM = "invite"


@dataclass(frozen=True)
class Invite:
    tenant: str
    created: float
    expires: float


class InviteStore:
    def __init__(self, client: redis.Redis, lti_keys: LtiKeys):
        self.client = client
        self.lti_keys = lti_keys

    def create(self, tenant: str, lifetime_s: int) -> str:
        """A new invite's secret (shown once)."""
        if not TENANT_PATTERN.match(tenant):
            raise InvalidRegistration(
                f"tenant {tenant!r} must be lowercase letters, digits, '.', '_' or '-' (at most 64)"
            )
        if lifetime_s < 1:
            raise InvalidRegistration("an invite must last at least a second")
        token = secrets.token_urlsafe(24)
        now = time.time()
        record = orjson.dumps({"tenant": tenant, "created": now, "expires": now + lifetime_s})
        self.client.set(self.lti_keys.invite(token), record, ex=max(1, int(lifetime_s)))
        return token

    def peek(self, token: str) -> Invite | None:
        """The invite, if it is valid and unused (without using it)."""
        if not token or len(token) > 128:
            return None
        raw = self.client.get(self.lti_keys.invite(token))
        return Invite(**orjson.loads(raw)) if raw else None

    def use(self, token: str) -> Invite | None:
        """Use the invite up: the first caller gets it, any later one None."""
        raw = self.client.getdel(self.lti_keys.invite(token))
        return Invite(**orjson.loads(raw)) if raw else None


def invite_url(settings: Settings, token: str) -> str:
    """The URL the LMS admin pastes into the LMS's Dynamic Registration dialog."""
    base = settings.tool_base_url or f"http://{settings.tool_host}:{settings.tool_port}"
    return f"{base.rstrip('/')}{REGISTER_PATH}?{INVITE_PARAM}={token}"
