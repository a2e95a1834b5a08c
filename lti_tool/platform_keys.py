"""Platforms' public key sets: cached in Redis, fetched again once when a token names a kid the
cached set does not have (the platform rotated its key). pylti1p3 2.0.0 caches a key set and
never re-fetches it, so a platform's key rotation breaks every launch until the cache expires."""

from __future__ import annotations

import logging

import orjson
import redis
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from lti_tool.errors import PlatformKeysUnavailable, UnknownKey
from lti_tool.outbound import Outbound, OutboundError
from lti_tool.redis_keys import LtiKeys

log = logging.getLogger(__name__)


class PlatformKeySets:
    def __init__(
        self,
        client: redis.Redis,
        lti_keys: LtiKeys,
        outbound: Outbound,
        *,
        cache_s: int,
        refetch_s: float,
    ):
        self.client = client
        self.lti_keys = lti_keys
        self.outbound = outbound
        self.cache_s = cache_s
        self.refetch_s = refetch_s

    def _fetch(self, jwks_url: str) -> dict:
        try:
            key_set = self.outbound.request("GET", jwks_url, headers={"Accept": "application/json"}).json()
        except (OutboundError, ValueError) as exc:
            raise PlatformKeysUnavailable(f"could not fetch the platform's key set: {exc}") from None
        if not isinstance(key_set, dict) or not isinstance(key_set.get("keys"), list):
            raise PlatformKeysUnavailable(f"{jwks_url} did not answer with a JWK set")
        self.client.set(self.lti_keys.platform_jwks(jwks_url), orjson.dumps(key_set), ex=self.cache_s)
        return key_set

    def _cached(self, jwks_url: str) -> dict | None:
        raw = self.client.get(self.lti_keys.platform_jwks(jwks_url))
        return orjson.loads(raw) if raw else None

    def key_for(self, jwks_url: str, kid: str) -> PyJWK:
        """The platform's public key named `kid`; raises UnknownKey after at most one re-fetch."""
        key_set = self._cached(jwks_url)
        if key_set is None:
            key_set = self._fetch(jwks_url)
        elif _find(key_set, kid) is None:
            # One re-fetch per platform per refetch_s: random kids cannot make us hammer the LMS.
            if self.client.set(
                self.lti_keys.platform_jwks_refetch(jwks_url), 1, nx=True, px=int(self.refetch_s * 1000)
            ):
                log.info("kid %r not in the cached key set of %s; fetching it again", kid, jwks_url)
                key_set = self._fetch(jwks_url)
        jwk = _find(key_set, kid)
        if jwk is None:
            raise UnknownKey(f"the platform's key set ({jwks_url}) has no key with kid {kid!r}")
        try:
            return PyJWK.from_dict(jwk, algorithm="RS256")
        except PyJWKError as exc:
            raise UnknownKey(f"the platform's key {kid!r} is not a usable RSA key: {exc}") from None


def _find(key_set: dict, kid: str) -> dict | None:
    for jwk in key_set.get("keys", []):
        if isinstance(jwk, dict) and jwk.get("kid") == kid and jwk.get("kty") == "RSA":
            return jwk
    return None
