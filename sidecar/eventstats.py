"""What the dashboard shows of the event log: events per day (counted by the workers in their
commits, sidecar/processing.py:queue_writes) and a learner's latest events (read back from their partition)."""

from __future__ import annotations

from datetime import UTC, datetime

import redis

from core.keys import Keys, partition_of
from core.wire import decode_entry

DAY = 86_400
RECENT_ENTRIES = 200  # how far back a learner's partition is searched (entries, newest first)


def events_per_day(
    client: redis.Redis, keys: Keys, partitions: int, tenant: str, now: float, days: int
) -> tuple[list[str], list[int]]:
    """The last `days` days (ISO dates, oldest first) and the events applied for each (the
    workers count them per partition in their commits)."""
    today = int(now // DAY)
    wanted = [str(day) for day in range(today - days + 1, today + 1)]
    pipe = client.pipeline(transaction=False)
    for partition in range(partitions):
        pipe.hmget(keys.events_per_day(partition, tenant), wanted)
    counts = [sum(int(c) for c in day if c) for day in zip(*pipe.execute())] if partitions else [0] * days
    dates = [datetime.fromtimestamp(int(day) * DAY, UTC).strftime("%Y-%m-%d") for day in wanted]
    return dates, counts


def learner_recent_events(
    client: redis.Redis, keys: Keys, partitions: int, tenant: str, learner: str, limit: int = 10
) -> list[dict]:
    """The learner's newest events among the last RECENT_ENTRIES entries of their partition's
    log, newest first (events older than that, or trimmed by retention, are not shown)."""
    stream = keys.stream(partition_of(tenant, learner, partitions))
    found: list[dict] = []
    for _, fields in client.xrevrange(stream, count=RECENT_ENTRIES):
        try:
            events = decode_entry(fields)
        except ValueError:
            continue
        found.extend(
            e for e in events if isinstance(e, dict) and e.get("tenant") == tenant and e.get("learner") == learner
        )
    found.sort(key=lambda e: -float(e.get("timestamp", 0)))
    return found[:limit]
