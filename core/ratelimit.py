"""Failed authentications counted in Redis per client address and per key (a token, an xAPI
key), in fixed windows: past `allowed` failures in a window, a failed attempt from that address
or with that key is refused with the seconds until the window ends (answered as 429 Retry-After).
Callers verify the credential first and call `refuse` only when it is wrong: a right credential
is never held back by failures others caused from the same address (a NAT, a campus proxy).
Counters are keyed by a digest, never by the token."""

from __future__ import annotations

import hashlib

import redis

from core.keys import Keys
from core.services import Services


class TooManyFailures(Exception):
    def __init__(self, retry_after_s: int):
        super().__init__(f"too many failed attempts; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class FailureLimit:
    def __init__(self, client: redis.Redis, keys: Keys, scope: str, allowed: int, window_s: int):
        self.client = client
        self.keys = keys
        self.scope = scope
        self.allowed = allowed
        self.window_s = window_s

    @classmethod
    def of(cls, services: Services, scope: str) -> FailureLimit:
        """The deployment's limit (SKILLGAP_AUTH_FAILURES_ALLOWED per SKILLGAP_AUTH_FAILURE_WINDOW_S) for `scope`."""
        settings = services.settings
        return cls(services.redis, services.keys, scope, settings.auth_failures_allowed, settings.auth_failure_window_s)

    def _counters(self, address: str | None, key: str | None) -> list[str]:
        named = [("address", address), ("key", key)]
        digests = [
            hashlib.sha256("\x1f".join((kind, value)).encode()).hexdigest()[:32] for kind, value in named if value
        ]
        return [f"{self.keys.prefix}:auth-failures:{self.scope}:{digest}" for digest in digests]

    def check(self, address: str | None, key: str | None = None) -> None:
        """Raise TooManyFailures when this address or key is over the limit."""
        counters = self._counters(address, key)
        if not counters:
            return
        pipe = self.client.pipeline(transaction=False)
        for counter in counters:
            pipe.get(counter)
            pipe.ttl(counter)
        answers = pipe.execute()
        for count, ttl in zip(answers[::2], answers[1::2]):
            if count is not None and int(count) >= self.allowed:
                raise TooManyFailures(max(1, int(ttl)))

    def refuse(self, address: str | None, key: str | None = None) -> None:
        """A wrong credential: raise TooManyFailures when this address or key is already over
        the limit, else count the failure (the caller then answers it as wrong)."""
        self.check(address, key)
        self.failed(address, key)

    def failed(self, address: str | None, key: str | None = None) -> None:
        pipe = self.client.pipeline(transaction=False)
        for counter in self._counters(address, key):
            # The window starts at the first failure (SET NX EX; EXPIRE NX needs Redis 7, the embedded one is 6.2).
            pipe.set(counter, 0, ex=self.window_s, nx=True)
            pipe.incr(counter)
        pipe.execute()
