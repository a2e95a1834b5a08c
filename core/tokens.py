"""Bearer tokens for the analyst API: one or more per tenant, each with a name, stored only as
hashes. `skillgap token create/list/revoke` manages them; the API notes when each was last used."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import orjson
import redis

from core.errors import UserError
from core.events import TENANT_PATTERN
from core.keys import Keys

TOKEN_PREFIX = "sgk_"
ID_LENGTH = 12  # hex digits of the hash that name a token in `token list` and `token revoke`
LAST_USED_EVERY_S = 60.0  # the API records a token's use at most this often


class TokenError(UserError, ValueError):
    """A tenant or token that cannot be registered, or a token that is not there to revoke."""


@dataclass(frozen=True)
class TokenInfo:
    digest: str  # the stored hash
    tenant: str
    name: str
    created: float
    last_used: float | None

    @property
    def id(self) -> str:
        return self.digest[:ID_LENGTH]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def register_token(client: redis.Redis, keys: Keys, token: str, tenant: str, name: str = "") -> None:
    if not TENANT_PATTERN.match(tenant):
        raise TokenError(f"tenant {tenant!r} must be lowercase letters, digits, '.', '_' or '-'")
    if len(token) < 16:
        raise TokenError("a token must be at least 16 characters")
    record = {"tenant": tenant, "name": name, "created": time.time()}
    client.hset(keys.tokens, hash_token(token), orjson.dumps(record))


def create_token(client: redis.Redis, keys: Keys, tenant: str, name: str = "") -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    register_token(client, keys, token, tenant, name)
    return token


def tenant_for(client: redis.Redis, keys: Keys, token: str) -> str | None:
    if len(token) > 256:
        return None
    raw = client.hget(keys.tokens, hash_token(token))
    return orjson.loads(raw)["tenant"] if raw else None


def note_use(client: redis.Redis, keys: Keys, token: str, now: float) -> None:
    client.hset(keys.tokens_used, hash_token(token), repr(now))


def list_tokens(client: redis.Redis, keys: Keys, tenant: str | None = None) -> list[TokenInfo]:
    used = {k.decode(): float(v) for k, v in client.hgetall(keys.tokens_used).items()}
    found = []
    for digest, raw in client.hgetall(keys.tokens).items():
        record = orjson.loads(raw)
        digest = digest.decode()
        if tenant is None or record["tenant"] == tenant:
            name = record.get("name", record.get("label", ""))
            found.append(TokenInfo(digest, record["tenant"], name, record["created"], used.get(digest)))
    return sorted(found, key=lambda t: (t.tenant, t.created))


def revoke_token(client: redis.Redis, keys: Keys, token_id: str) -> TokenInfo:
    """Revoke the token whose id (from `list_tokens`) is `token_id`."""
    matches = [t for t in list_tokens(client, keys) if len(token_id) >= 6 and t.id.startswith(token_id.lower())]
    if len(matches) != 1:
        raise TokenError(f"no single token with id {token_id!r}: see `skillgap token list`")
    client.hdel(keys.tokens, matches[0].digest)
    client.hdel(keys.tokens_used, matches[0].digest)
    return matches[0]
