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
