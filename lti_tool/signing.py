"""The tool's own RSA keys: the JWKS the platforms fetch, signing, and rotation with a grace period.

Keys live in Redis, so every process of the tool signs with the same key and a rotation
reaches all of them at once. A rotated-out key stays in the JWKS for the grace period, so a
platform that cached the old set can still verify what was signed just before the rotation.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt
import orjson
import redis
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwcrypto.jwk import JWK

from core.sealing import Sealer
from lti_tool.redis_keys import LtiKeys

ALGORITHM = "RS256"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    pem: str
    created: float
    retire_at: float | None = None  # None: the current key, or one not yet rotated out

    def public_jwk(self) -> dict:
        jwk = JWK.from_pem(self.pem.encode()).export_public(as_dict=True)
        return {**jwk, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}

    def to_json(self) -> bytes:
        return orjson.dumps(self.__dict__)


def new_key(now: float) -> SigningKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    # RFC 7638 thumbprint: the same key always gets the same kid.
    kid = JWK.from_pem(pem.encode()).thumbprint()
    return SigningKey(kid=kid, pem=pem, created=now)


class SigningKeys:
    """The tool's keys in Redis; their private halves sealed when the deployment has a secrets key."""

    def __init__(self, client: redis.Redis, lti_keys: LtiKeys, grace_s: float, sealer: Sealer):
        self.client = client
        self.lti_keys = lti_keys
        self.grace_s = grace_s
        self.sealer = sealer

    def _dump(self, key: SigningKey) -> bytes:
        return orjson.dumps({**key.__dict__, "pem": self.sealer.seal(key.pem)})

    def _load(self, raw: bytes) -> SigningKey:
        data = orjson.loads(raw)
        return SigningKey(**{**data, "pem": self.sealer.open(data["pem"])})

    def _all(self) -> list[SigningKey]:
        raw = self.client.hgetall(self.lti_keys.signing_keys)
        return sorted((self._load(v) for v in raw.values()), key=lambda k: k.created)

    def current(self) -> SigningKey:
        """The key that signs now; the first call of a new deployment creates it."""
        kid = self.client.get(self.lti_keys.signing_kid)
        if kid is not None:
            raw = self.client.hget(self.lti_keys.signing_keys, kid)
            if raw is not None:
                return self._load(raw)
        key = new_key(time.time())
        self.client.hset(self.lti_keys.signing_keys, key.kid, self._dump(key))
        # Several processes may start at once: the first to set the kid wins, the others drop theirs.
        if not self.client.set(self.lti_keys.signing_kid, key.kid, nx=True):
            self.client.hdel(self.lti_keys.signing_keys, key.kid)
            return self.current()
        return key

    def published(self, now: float | None = None) -> list[SigningKey]:
        """Keys in the JWKS: the current one and those still in their grace period."""
        now = time.time() if now is None else now
        self.current()
        return [k for k in self._all() if k.retire_at is None or k.retire_at > now]

    def jwks(self, now: float | None = None) -> dict:
        return {"keys": [k.public_jwk() for k in self.published(now)]}

    def rotate(self, now: float | None = None) -> tuple[SigningKey, list[SigningKey]]:
        """Add a new signing key; the old ones retire after the grace period. Keys whose grace
        period has passed are deleted. Returns the new key and the keys deleted."""
        now = time.time() if now is None else now
        old = self.current()
        new = new_key(now)
        retired = SigningKey(old.kid, old.pem, old.created, now + self.grace_s)
        expired = [k for k in self._all() if k.retire_at is not None and k.retire_at <= now]
        with self.client.pipeline(transaction=True) as pipe:
            pipe.hset(self.lti_keys.signing_keys, mapping={new.kid: self._dump(new), old.kid: self._dump(retired)})
            for key in expired:
                pipe.hdel(self.lti_keys.signing_keys, key.kid)
            pipe.set(self.lti_keys.signing_kid, new.kid)
            pipe.execute()
        return new, expired

    def sign(self, claims: dict) -> str:
        key = self.current()
        return jwt.encode(claims, key.pem, algorithm=ALGORITHM, headers={"kid": key.kid})
