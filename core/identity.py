"""Pseudonymous learner ids: the same person gets the same id from every channel of one
platform (LTI launches, xAPI statements, AGS results), and no raw LMS user id, name or
email ever reaches the event log."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

import redis

from core.events import MAX_COHORT_CHARS
from core.keys import Keys
from core.sealing import Sealer

SECRET_FIELD = "pseudonym"
COURSE_DIGEST_CHARS = 32  # hex digits of SHA-256 naming a long course: 128 bits


def stored_secret(client: redis.Redis, keys: Keys, field: str, sealer: Sealer | None = None) -> str:
    """A deployment secret (hex), created once and kept in Redis (sealed when the deployment has
    a secrets key): every process reads the same."""
    sealer = sealer or Sealer()
    client.hsetnx(keys.secrets, field, sealer.seal(secrets.token_hex(32)))
    return sealer.open(client.hget(keys.secrets, field).decode())


def pseudonym_secret(client: redis.Redis, keys: Keys, sealer: Sealer | None = None) -> bytes:
    """The deployment's pseudonymisation key (`Services.pseudonym_secret` keeps it per process)."""
    return bytes.fromhex(stored_secret(client, keys, SECRET_FIELD, sealer))


def learner_pseudonym(secret: bytes, platform: str, user_id: str) -> str:
    """`platform` is the LMS's issuer URL; `user_id` its stable user id (the LTI `sub`)."""
    digest = hmac.new(secret, f"{platform}\x1f{user_id}".encode(), hashlib.sha256).hexdigest()
    return f"u-{digest[:24]}"


def _aliases_key(keys: Keys, tenant: str) -> str:
    return f"{keys.prefix}:aliases:{tenant}"


def remember_alias(
    client: redis.Redis, keys: Keys, tenant: str, issuer: str, kind: str, alias: str, learner: str
) -> None:
    """Another id the platform `issuer` uses for this learner (for instance the account name in
    Open edX's xAPI statements, which differs from its LTI `sub`). Aliases are the platform's
    own: a launch from one platform can never re-point a learner of another."""
    client.hset(_aliases_key(keys, tenant), alias_field(issuer, kind, alias), learner)


def learner_for_alias(client: redis.Redis, keys: Keys, tenant: str, issuer: str, kind: str, alias: str) -> str | None:
    found = client.hget(_aliases_key(keys, tenant), alias_field(issuer, kind, alias))
    return found.decode() if found else None


def alias_field(issuer: str, kind: str, alias: str) -> str:
    """Keyed by (platform, kind, id); the issuer without a trailing slash, as xAPI credentials name it."""
    return f"{issuer.rstrip('/')}\x1f{kind}\x1f{alias}"


def learners_for_aliases(pipe: redis.client.Pipeline, keys: Keys, tenant: str, fields: list[str]) -> None:
    """Queue one lookup of many `alias_field`s on a pipeline; its result lists learner ids or None."""
    pipe.hmget(_aliases_key(keys, tenant), fields)


def mbox_alias(secret: bytes, sha1sum: str) -> str:
    """The alias of an xAPI `mbox_sha1sum` (SHA-1 of "mailto:" + email, xAPI 1.0.3 part 2,
    2.4.2.3), keyed so that the alias table holds nothing a dictionary of emails could reverse."""
    return hmac.new(secret, sha1sum.lower().encode(), hashlib.sha256).hexdigest()[:32]


def course_cohort(issuer: str, context_id: str | None) -> str | None:
    """A course of a platform as every channel names it: `<LTI context id>@<platform host>`
    (Moodle's course id, Open edX's course key), as the LTI tool's launches do.

    A name longer than a cohort may be is never cut (another platform could send the cut name
    as its own context id and read this course): it keeps the start of the context id and adds
    a digest of the whole, `<start>~<digest>@<host>`."""
    if not context_id:
        return None
    host = urlsplit(issuer).netloc or issuer
    whole = f"{context_id}@{host}"
    if len(whole) <= MAX_COHORT_CHARS:
        return whole
    digest = hashlib.sha256(f"{host}\x1f{context_id}".encode()).hexdigest()[:COURSE_DIGEST_CHARS]
    suffix = f"~{digest}@{host}"
    if len(suffix) > MAX_COHORT_CHARS:
        # A host too long to name whole: cut, and ended with "/", which no host has, so the
        # name cannot be another platform's.
        return suffix[: MAX_COHORT_CHARS - 1] + "/"
    return context_id[: MAX_COHORT_CHARS - len(suffix)] + suffix


def _email_alias(secret: bytes, email: object) -> str | None:
    if not isinstance(email, str) or "@" not in email:
        return None
    sha1sum = hashlib.sha1(f"mailto:{email}".encode()).hexdigest()
    return mbox_alias(secret, sha1sum)


def record_launch_identity(
    client: redis.Redis, keys: Keys, secret: bytes, tenant: str, issuer: str, claims: dict, learner: str
) -> None:
    """Called on every valid LTI launch: remember the ids other channels will name this learner
    by. `secret`: the pseudonym secret (`Services.pseudonym_secret`)."""
    lis = claims.get("https://purl.imsglobal.org/spec/lti/claim/lis") or {}
    custom = claims.get("https://purl.imsglobal.org/spec/lti/claim/custom") or {}
    email = claims.get("email")
    aliases = {
        "sub": claims.get("sub"),
        "person_sourcedid": lis.get("person_sourcedid"),
        # Open edX: its xAPI actor is an anonymous id unlike the LTI `sub`; with
        # XAPI_AGENT_IFI_TYPE = "mbox_sha1sum" (or "mbox") and the email shared in launches, the
        # hashed address links them; or a custom parameter `xapi_account` carries the xAPI id.
        "mbox": _email_alias(secret, email),
        "xapi_account": custom.get("xapi_account") if isinstance(custom, dict) else None,
    }
    for kind, alias in aliases.items():
        if isinstance(alias, str) and alias:
            remember_alias(client, keys, tenant, issuer, kind, alias, learner)
