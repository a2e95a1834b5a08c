"""The last events each LMS channel delivered, kept short, so an admin can check that
statements and syncs arrive (`skillgap xapi status`)."""

from __future__ import annotations

import orjson
import redis

from core.events import Event
from core.keys import Keys
from core.wire import encode

KEEP = 50
PER_DELIVERY = 10  # the newest of each delivery are enough to see that events arrive
SOURCES = ("xapi", "moodle")


def note_recent(pipe: redis.client.Pipeline, keys: Keys, tenant: str, source: str, events: list[Event]) -> None:
    """Queue the newest events of a delivery on a pipeline (at most PER_DELIVERY of them)."""
    if not events:
        return
    key = keys.recent_events(tenant, source)
    pipe.lpush(key, *(orjson.dumps(encode(event)) for event in events[-PER_DELIVERY:]))
    pipe.ltrim(key, 0, KEEP - 1)


def recent(client: redis.Redis, keys: Keys, tenant: str, source: str, limit: int = 10) -> list[dict]:
    return [orjson.loads(raw) for raw in client.lrange(keys.recent_events(tenant, source), 0, limit - 1)]
