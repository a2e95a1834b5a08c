"""The event log: Redis Streams, one per partition, several events per entry."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import IO

import orjson
import redis

from core.events import Event
from core.keys import Keys, partition_of
from core.wire import ENTRY_FIELD, MAX_EVENTS_PER_ENTRY, decode_entry, encode, encode_entry

def append_events(
    client: redis.Redis, keys: Keys, partitions: int, events: Iterable[Event], retention_days: float
) -> list[bytes]:
    """XADD the events, grouped into entries per partition; returns the entry ids.

    Entries older than the retention are trimmed (approximately) as new ones arrive.
    """
    pipe = client.pipeline(transaction=False)
    queue_events(pipe, keys, partitions, events, retention_days)
    return pipe.execute()


def queue_events(
    pipe: redis.client.Pipeline, keys: Keys, partitions: int, events: Iterable[Event], retention_days: float
) -> None:
    """What append_events sends, queued on the caller's pipeline (to share its round trip)."""
    by_partition: dict[int, list[dict]] = defaultdict(list)
    per_day: dict[tuple[str, int], int] = defaultdict(int)
    for event in events:
        by_partition[partition_of(event.tenant, event.learner, partitions)].append(encode(event))
        per_day[event.tenant, int(event.timestamp // 86_400)] += 1
    for (tenant, day), count in per_day.items():
        pipe.hincrby(keys.events_per_day(tenant), str(day), count)
    oldest_ms = int((time.time() - retention_days * 86_400) * 1000)
    for partition, wires in sorted(by_partition.items()):
        for start in range(0, len(wires), MAX_EVENTS_PER_ENTRY):
            chunk = wires[start : start + MAX_EVENTS_PER_ENTRY]
            pipe.xadd(
                keys.stream(partition),
                {ENTRY_FIELD: encode_entry(chunk)},
                minid=max(oldest_ms, 0),
                approximate=True,
            )


def entry_chunks(
    client: redis.Redis, keys: Keys, partition: int, chunk: int = 500
) -> Iterator[list[tuple[bytes, dict[bytes, bytes]]]]:
    """A partition's retained stream entries, oldest first, `chunk` at a time."""
    start: bytes | str = "-"
    while True:
        entries = client.xrange(keys.stream(partition), min=start, max="+", count=chunk)
        if entries:
            yield entries
        if len(entries) < chunk:
            return
        start = b"(" + entries[-1][0]


def read_log(client: redis.Redis, keys: Keys, partition: int, chunk: int = 500) -> Iterator[tuple[bytes, list[object]]]:
    """Every readable entry of a partition's stream, oldest first: (entry id, raw events)."""
    for entries in entry_chunks(client, keys, partition, chunk):
        for entry_id, fields in entries:
            try:
                yield entry_id, decode_entry(fields)
            except ValueError:
                continue  # already in the dead letters


def export_events(
    client: redis.Redis, keys: Keys, partitions: int, out: IO[bytes], tenant: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:  # fmt: skip
    """Write the retained log as newline-delimited JSON events (wire form), partition by
    partition in stream order; returns how many were written."""
    written = 0
    for partition in range(partitions):
        for _, raw_events in read_log(client, keys, partition):
            lines = [orjson.dumps(raw) for raw in raw_events if tenant is None or (isinstance(raw, dict) and raw.get("tenant") == tenant)]
            if lines:
                out.write(b"\n".join(lines) + b"\n")
                written += len(lines)
                if progress:
                    progress(written)
    return written
