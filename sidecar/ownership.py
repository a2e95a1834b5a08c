"""Partition ownership: one worker per partition at a time, moving when a worker dies.

A partition's lease is the key ``{pN}:owner`` holding the owner's token with a TTL; the owner
renews it on every heartbeat and inside every commit. A worker that stops renewing (killed,
paused, cut off) loses its partitions when the TTL runs out, and a live worker takes them.
The commit itself WATCHes the lease and checks the token first (``sidecar/worker.py``), so a
worker that wakes up after losing its lease cannot write: its EXEC is refused.

Live workers announce themselves in a sorted set scored by when their heartbeat expires, so
each can take its fair share, ceil(P / live workers), and give back what is beyond it.
"""

from __future__ import annotations

import math
import secrets
import time

import redis

from core.keys import Keys

# Renew or release only while the lease still holds our token (compare-and-set in one step).
RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class Leases:
    """The partitions one worker owns; `heartbeat()` renews, balances and reports changes."""

    def __init__(self, client: redis.Redis, keys: Keys, partitions: list[int], ttl_ms: int, name: str):
        self.client = client
        self.keys = keys
        self.candidates = sorted(partitions)
        self.ttl_ms = ttl_ms
        self.name = name
        self.token = f"{name}/{secrets.token_hex(6)}"
        self.owned: set[int] = set()
        self._renew = client.register_script(RENEW)
        self._release = client.register_script(RELEASE)

    def heartbeat(self, now: float | None = None) -> tuple[set[int], set[int]]:
        """Renew what we own, give up what is asked for or beyond our share, take free
        partitions up to it. Returns (gained, lost)."""
        now = time.time() if now is None else now
        pipe = self.client.pipeline(transaction=False)
        pipe.zadd(self.keys.workers, {self.name: now + self.ttl_ms / 1000})
        pipe.zremrangebyscore(self.keys.workers, "-inf", now)
        pipe.zcard(self.keys.workers)
        live = max(1, pipe.execute()[2])
        share = math.ceil(len(self.candidates) / live)

        lost = {
            p for p in sorted(self.owned) if not self._renew(keys=[self.keys.owner(p)], args=[self.token, self.ttl_ms])
        }
        self.owned -= lost
        handover = self._handover_requested(self.candidates)
        for partition in sorted(self.owned & handover) + sorted(self.owned - handover)[share:]:
            self.release(partition)
            lost.add(partition)

        gained: set[int] = set()
        for partition in self.candidates:
            if len(self.owned) >= share:
                break
            if partition in self.owned or partition in handover:
                continue
            if self.client.set(self.keys.owner(partition), self.token, nx=True, px=self.ttl_ms):
                self.owned.add(partition)
                gained.add(partition)
        return gained, lost

    def _handover_requested(self, partitions: list[int]) -> set[int]:
        pipe = self.client.pipeline(transaction=False)
        for partition in partitions:
            pipe.exists(self.keys.handover(partition))
        return {p for p, asked in zip(partitions, pipe.execute()) if asked}

    def release(self, partition: int) -> None:
        self._release(keys=[self.keys.owner(partition)], args=[self.token])
        self.owned.discard(partition)

    def release_all(self) -> None:
        for partition in sorted(self.owned):
            self.release(partition)
        self.client.zrem(self.keys.workers, self.name)

    def holds(self, owner_value: bytes | None) -> bool:
        return owner_value is not None and owner_value.decode() == self.token


def acquire_for_replay(client: redis.Redis, keys: Keys, partition: int, ttl_ms: int, timeout_s: float) -> str:
    """Ask the partition's owner to hand it over, then take its lease; returns the token.

    Raises TimeoutError when the partition does not come free within `timeout_s`."""
    token = f"replay/{secrets.token_hex(6)}"
    deadline = time.monotonic() + timeout_s
    client.set(keys.handover(partition), token, px=max(ttl_ms * 4, int(timeout_s * 1000)))
    while time.monotonic() < deadline:
        if client.set(keys.owner(partition), token, nx=True, px=ttl_ms):
            return token
        time.sleep(0.05)
    client.delete(keys.handover(partition))
    raise TimeoutError(f"partition {partition} was not handed over within {timeout_s:g} s")
