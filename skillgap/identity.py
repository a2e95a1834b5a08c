"""Pseudonymous learner ids: the same person gets the same id from every channel of one
platform (LTI launches, xAPI statements, AGS results), and no raw LMS user id, name or
email ever reaches the event log."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import redis

from skillgap.keys import Keys

SECRET_FIELD = "pseudonym"


def pseudonym_secret(client: redis.Redis, keys: Keys) -> bytes:
    """The deployment's pseudonymisation key, created once and kept in Redis."""
    client.hsetnx(keys.secrets, SECRET_FIELD, secrets.token_hex(32))
    return bytes.fromhex(client.hget(keys.secrets, SECRET_FIELD).decode())


def learner_pseudonym(secret: bytes, platform: str, user_id: str) -> str:
    """`platform` is the LMS's issuer URL; `user_id` its stable user id (the LTI `sub`)."""
    digest = hmac.new(secret, f"{platform}\x1f{user_id}".encode(), hashlib.sha256).hexdigest()
    return f"u-{digest[:24]}"


def _aliases_key(keys: Keys, tenant: str) -> str:
    return f"{keys.prefix}:aliases:{tenant}"


def remember_alias(client: redis.Redis, keys: Keys, tenant: str, kind: str, alias: str, learner: str) -> None:
    """Another id the platform uses for this learner (for instance the account name in Open
    edX's xAPI statements, which differs from its LTI `sub`)."""
    client.hset(_aliases_key(keys, tenant), f"{kind}\x1f{alias}", learner)


def learner_for_alias(client: redis.Redis, keys: Keys, tenant: str, kind: str, alias: str) -> str | None:
    found = client.hget(_aliases_key(keys, tenant), f"{kind}\x1f{alias}")
    return found.decode() if found else None


def record_launch_identity(client: redis.Redis, keys: Keys, tenant: str, claims: dict, learner: str) -> None:
    """Called on every valid LTI launch: remember the ids other channels will name this learner by."""
    lis = claims.get("https://purl.imsglobal.org/spec/lti/claim/lis") or {}
    aliases = {"sub": claims.get("sub"), "person_sourcedid": lis.get("person_sourcedid")}
    for kind, alias in aliases.items():
        if isinstance(alias, str) and alias:
            remember_alias(client, keys, tenant, kind, alias, learner)
