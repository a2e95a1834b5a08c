"""Bearer tokens for the analyst API: one or more per tenant, stored only as hashes."""

from __future__ import annotations

import hashlib
import secrets
import time

import orjson
import redis

from core.errors import UserError
from core.events import TENANT_PATTERN
from core.keys import Keys

TOKEN_PREFIX = "sgk_"


class TokenError(UserError, ValueError):
    """A tenant or token that cannot be registered."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def register_token(client: redis.Redis, keys: Keys, token: str, tenant: str, label: str = "") -> None:
    if not TENANT_PATTERN.match(tenant):
        raise TokenError(f"tenant {tenant!r} must be lowercase letters, digits, '.', '_' or '-'")
    if len(token) < 16:
        raise TokenError("a token must be at least 16 characters")
    record = {"tenant": tenant, "label": label, "created": time.time()}
    client.hset(keys.tokens, hash_token(token), orjson.dumps(record))


def create_token(client: redis.Redis, keys: Keys, tenant: str, label: str = "") -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    register_token(client, keys, token, tenant, label)
    return token


def tenant_for(client: redis.Redis, keys: Keys, token: str) -> str | None:
    raw = client.hget(keys.tokens, hash_token(token))
    return orjson.loads(raw)["tenant"] if raw else None
