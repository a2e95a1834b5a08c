"""Forwarding every accepted statement to the company's LRS, at least once.

The intake puts each new statement (with its id, assigned or sent) on the `xapi_forward`
stream in the pipeline that records it, before the record: a crash in between makes the LMS
send it again, so it is forwarded twice rather than never. `Forwarder` reads the stream in a
consumer group and POSTs batches to the LRS:

1. 200 or 204: delivered (acknowledged and deleted from the stream).
2. Another 4xx for a batch: each statement is sent alone to find which. Alone, a 409 means
   the LRS holds other content under that id (counted `forward_conflict`, not sent again);
   another 4xx that it refuses the statement: a dead letter.
3. No answer, 429, 401, 403 or 5xx: the batch stays pending and is claimed again after
   retry_base * 2^(attempts - 1) seconds (capped); after `xapi_forward_attempts` deliveries
   it becomes a dead letter.

A dead letter is kept on the `xapi_forward_dead` stream with its reason and counted per
tenant (`forward_dead_letter` in `skillgap xapi status`).
"""

from __future__ import annotations

import logging
import time

from core.eventlog import consumer_name, ensure_groups
from core.services import Services
from lti_tool.xapi.lrs import Lrs, LrsError

log = logging.getLogger(__name__)
GROUP = "forwarder"
DEAD_LETTERS_KEPT = 100_000


def build_lrs(services: Services) -> Lrs | None:
    settings = services.settings
    if not settings.xapi_forward_url:
        return None
    return Lrs(
        settings.xapi_forward_url,
        settings.xapi_forward_username,
        settings.xapi_forward_password,
        settings.xapi_http_timeout_s,
    )


class Forwarder:
    def __init__(self, services: Services, lrs: Lrs, consumer: str | None = None):
        self.services = services
        self.redis = services.redis
        self.keys = services.keys
        self.settings = services.settings
        self.lrs = lrs
        self.consumer = consumer or consumer_name()
        self.pause_until = 0.0
        ensure_groups(self.redis, [self.keys.xapi_forward], GROUP)

    def run(self, burst: bool = False, max_batches: int | None = None) -> bool:
        """Forward until stopped (burst: until nothing is due); returns whether it did anything."""
        did = False
        batches = 0
        while max_batches is None or batches < max_batches:
            handled = self.step(block_ms=0 if burst else 1_000)
            batches += 1
            did = did or handled > 0
            if burst and handled == 0:
                return did
            if not burst and self.pause_until > time.time():
                time.sleep(self.pause_until - time.time())
        return did

    def step(self, block_ms: int = 0) -> int:
        """One batch: statements due for another attempt first, else new ones. Returns how
        many were handled (delivered, dead-lettered or left for a later attempt)."""
        entries = self._due()
        if not entries and self.pause_until <= time.time():
            read = self.redis.xreadgroup(
                GROUP,
                self.consumer,
                {self.keys.xapi_forward: ">"},
                count=self.settings.xapi_forward_batch,
                block=block_ms or None,
            )
            entries = [(entry_id, fields, 1) for _, items in read for entry_id, fields in items]
        if not entries:
            return 0
        ready = []
        for entry_id, fields, attempts in entries:
            if attempts > self.settings.xapi_forward_attempts:
                self._dead(entry_id, fields, f"the LRS could not take it in {attempts - 1} attempts")
            else:
                ready.append((entry_id, fields))
        if ready:
            self._send(ready)
        return len(entries)

    def _due(self) -> list[tuple[bytes, dict, int]]:
        """Pending statements whose wait since their last attempt is over, claimed."""
        pending = self.redis.xpending_range(self.keys.xapi_forward, GROUP, "-", "+", self.settings.xapi_forward_batch)
        due = [p for p in pending if p["time_since_delivered"] >= self._wait_ms(p["times_delivered"])]
        if not due:
            return []
        claimed = self.redis.xclaim(self.keys.xapi_forward, GROUP, self.consumer, 0, [p["message_id"] for p in due])
        attempts = {p["message_id"]: p["times_delivered"] + 1 for p in due}
        return [(entry_id, fields, attempts[entry_id]) for entry_id, fields in claimed if fields]

    def _wait_ms(self, attempts: int) -> float:
        settings = self.settings
        wait = settings.xapi_forward_retry_base_s * 2 ** max(0, attempts - 1)
        return 1000 * min(wait, settings.xapi_forward_retry_max_s)

    def _send(self, entries: list[tuple[bytes, dict]]) -> None:
        try:
            status = self.lrs.post([fields[b"statement"] for _, fields in entries])
        except LrsError as exc:
            self._later(entries, str(exc))
            return
        if status in (200, 204):
            self._done(entries, "forwarded")
        elif not 400 <= status < 500 or status in (401, 403, 429):
            self._later(entries, f"the LRS answered {status}")
        elif len(entries) > 1:  # the LRS takes a batch whole or not at all: find which
            for entry in entries:
                self._send([entry])
        elif status == 409:
            self._done(entries, "forward_conflict")
        else:
            self._dead(*entries[0], f"the LRS refused it with {status}")

    def _later(self, entries: list[tuple[bytes, dict]], reason: str) -> None:
        """Leave them pending for a later attempt; pause reading new ones."""
        log.warning("xapi_forward_retry statements=%d reason=%s", len(entries), reason)
        self.pause_until = time.time() + self.settings.xapi_forward_retry_base_s
        pipe = self.redis.pipeline(transaction=False)
        for _, fields in entries:
            pipe.hincrby(self.keys.xapi_counts(fields[b"tenant"].decode()), "forward_retried", 1)
        pipe.execute()

    def _done(self, entries: list[tuple[bytes, dict]], count: str) -> None:
        pipe = self.redis.pipeline(transaction=False)
        ids = [entry_id for entry_id, _ in entries]
        pipe.xack(self.keys.xapi_forward, GROUP, *ids)
        pipe.xdel(self.keys.xapi_forward, *ids)
        for _, fields in entries:
            pipe.hincrby(self.keys.xapi_counts(fields[b"tenant"].decode()), count, 1)
        pipe.execute()

    def _dead(self, entry_id: bytes, fields: dict, reason: str) -> None:
        log.error("xapi_forward_dead_letter entry=%s reason=%s", entry_id.decode(), reason)
        pipe = self.redis.pipeline(transaction=False)
        pipe.xadd(
            self.keys.xapi_forward_dead, {**fields, b"reason": reason}, maxlen=DEAD_LETTERS_KEPT, approximate=True
        )
        pipe.xack(self.keys.xapi_forward, GROUP, entry_id)
        pipe.xdel(self.keys.xapi_forward, entry_id)
        pipe.hincrby(self.keys.xapi_counts(fields[b"tenant"].decode()), "forward_dead_letter", 1)
        pipe.execute()
