"""xAPI credentials: a key and secret per LMS, for HTTP Basic auth, stored with only the
secret's hash. Each names its tenant and its platform, whose rules map actors to learners."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

import orjson
import redis

from core.errors import UserError
from core.events import TENANT_PATTERN
from core.keys import Keys

PLATFORMS = ("moodle", "openedx")
KEY_PREFIX = "sgx_"
# A URL without white space or control characters: its host names the cohorts of the
# events built from this platform's statements (core.events.trusted_event).
ISSUER_PATTERN = re.compile(r"[^\s\x00-\x1f\x7f]+")


class CredentialError(UserError, ValueError):
    """Credentials that cannot be created as asked."""


@dataclass(frozen=True, slots=True)
class Credential:
    key: str
    tenant: str
    platform: str  # moodle | openedx
    issuer: str  # the LMS's URL: its LTI issuer, and the home page of its xAPI accounts
    label: str = ""


def normal_issuer(url: str) -> str:
    return url.rstrip("/")


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_credentials(
    client: redis.Redis, keys: Keys, tenant: str, platform: str, issuer: str, label: str = ""
) -> tuple[Credential, str]:
    """A new key and secret; the secret is returned once and stored only as a hash."""
    if not TENANT_PATTERN.match(tenant):
        raise CredentialError(f"tenant {tenant!r} must be lowercase letters, digits, '.', '_' or '-'")
    if platform not in PLATFORMS:
        raise CredentialError(f"platform must be one of {', '.join(PLATFORMS)}, not {platform!r}")
    if not issuer.startswith(("https://", "http://")) or not ISSUER_PATTERN.fullmatch(issuer):
        raise CredentialError(
            f"issuer {issuer!r} must be the LMS's address as its LTI launches name it, such as https://moodle.example.com"
        )
    credential = Credential(KEY_PREFIX + secrets.token_hex(8), tenant, platform, normal_issuer(issuer), label)
    secret = secrets.token_urlsafe(32)
    record = {
        "tenant": tenant,
        "platform": platform,
        "issuer": credential.issuer,
        "label": label,
        "secret_sha256": _digest(secret),
        "created": time.time(),
    }
    client.hset(keys.xapi_credentials, credential.key, orjson.dumps(record))
    return credential, secret


def revoke_credentials(client: redis.Redis, keys: Keys, key: str) -> bool:
    return bool(client.hdel(keys.xapi_credentials, key))


def list_credentials(client: redis.Redis, keys: Keys, tenant: str | None = None) -> list[Credential]:
    found = []
    for key, raw in sorted(client.hgetall(keys.xapi_credentials).items()):
        record = orjson.loads(raw)
        if tenant is None or record["tenant"] == tenant:
            found.append(
                Credential(
                    key.decode(),
                    record["tenant"],
                    record["platform"],
                    record["issuer"],
                    record["label"],
                )
            )
    return found


def _credential(key: str, record: dict) -> Credential:
    return Credential(key, record["tenant"], record["platform"], record["issuer"], record["label"])


def find_credential(client: redis.Redis, keys: Keys, key: str) -> Credential | None:
    raw = client.hget(keys.xapi_credentials, key)
    return None if raw is None else _credential(key, orjson.loads(raw))


class CredentialCache:
    """Checks key and secret against Redis, remembering good pairs for `ttl_s` seconds so a
    busy LMS costs no Redis round trip per request (a revoked key works at most that long)."""

    def __init__(self, client: redis.Redis, keys: Keys, ttl_s: float):
        self.client = client
        self.keys = keys
        self.ttl_s = ttl_s
        self._known: dict[tuple[str, str], tuple[Credential, float]] = {}

    def cached(self, key: str, secret: str) -> Credential | None:
        """The credential when this pair was checked good within `ttl_s` (no Redis round trip)."""
        cached = self._known.get((key, _digest(secret)))
        return cached[0] if cached is not None and cached[1] > time.monotonic() else None

    def check(self, key: str, secret: str) -> Credential | None:
        found = self.cached(key, secret)
        if found is not None:
            return found
        digest = _digest(secret)
        now = time.monotonic()
        raw = self.client.hget(self.keys.xapi_credentials, key)
        if raw is None:
            return None
        record = orjson.loads(raw)
        if not hmac.compare_digest(record["secret_sha256"], digest):
            return None
        credential = _credential(key, record)
        if len(self._known) > 10_000:
            self._known.clear()
        self._known[(key, digest)] = (credential, now + self.ttl_s)
        return credential
