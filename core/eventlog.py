"""The event log: Redis Streams, one per partition, several events per entry."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import IO

import orjson
import redis
from redis.cluster import RedisCluster

from core.events import Event
from core.keys import Keys, partition_of
from core.wire import ENTRY_FIELD, MAX_EVENTS_PER_ENTRY, decode_entry, encode, encode_entry


class PartlyWritten(redis.RedisError):
    """On Redis Cluster, a partition's transaction failed after others succeeded: `written`
    holds the ids of the events that are on the log (retrying them all is safe: an id is
    applied once)."""

    def __init__(self, written: list[str], cause: redis.RedisError):
        super().__init__(f"{len(written)} events written before Redis failed: {cause}")
        self.written = written


def append_events(
    client: redis.Redis | RedisCluster, keys: Keys, partitions: int, events: Iterable[Event]
) -> list[bytes]:
    """XADD the events, grouped into entries per partition, all or nothing; returns the entry
    ids. One MULTI/EXEC: an error (Redis out of memory, a lost connection before EXEC) leaves
    nothing written. On Redis Cluster, where a transaction holds one partition's keys, one
    per partition, and PartlyWritten says which events are on the log when one fails.

    Retention does not trim here: workers trim below their snapshots (sidecar/snapshots.py)."""
    if not isinstance(client, RedisCluster):
        with write_pipeline(client) as pipe:
            queue_events(pipe, keys, partitions, events)
            return [reply for reply in pipe.execute() if isinstance(reply, bytes)]  # not the day counts
    ids: list[bytes] = []
    written: list[str] = []
    events = list(events)
    for partition, group in sorted(_by_partition(events, partitions).items()):
        try:
            with client.pipeline(transaction=True) as pipe:
                _queue_partition(pipe, keys, partition, [encode(event) for event in group])
                ids += pipe.execute()
        except redis.RedisError as exc:
            raise PartlyWritten(written, exc) from exc
        written += [event.id for event in group]
    return ids


def write_pipeline(client: redis.Redis | RedisCluster) -> redis.client.Pipeline:
    """A pipeline for events and what a caller writes with them: one MULTI/EXEC on one Redis
    (all or nothing); on Redis Cluster, where one transaction cannot span slots, a plain one."""
    return client.pipeline(transaction=not isinstance(client, RedisCluster))


def queue_events(pipe: redis.client.Pipeline, keys: Keys, partitions: int, events: Iterable[Event]) -> None:
    """What append_events sends, queued on the caller's pipeline (to share its round trip, and
    its transaction: a caller that writes more with the events queues them on a MULTI)."""
    for partition, group in sorted(_by_partition(events, partitions).items()):
        _queue_partition(pipe, keys, partition, [encode(event) for event in group])


def _by_partition(events: Iterable[Event], partitions: int) -> dict[int, list[Event]]:
    by_partition: dict[int, list[Event]] = defaultdict(list)
    for event in events:
        by_partition[partition_of(event.tenant, event.learner, partitions)].append(event)
    return by_partition


def _queue_partition(pipe: redis.client.Pipeline, keys: Keys, partition: int, wires: list[dict]) -> None:
    for start in range(0, len(wires), MAX_EVENTS_PER_ENTRY):
        pipe.xadd(keys.stream(partition), {ENTRY_FIELD: encode_entry(wires[start : start + MAX_EVENTS_PER_ENTRY])})


def entry_key(entry_id: bytes | str) -> tuple[int, int]:
    """A stream entry id as numbers, to compare ids in stream order."""
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    millis, _, seq = text.partition("-")
    return int(millis), int(seq or 0)


def entry_chunks(
    client: redis.Redis, keys: Keys, partition: int, chunk: int = 500, after: bytes | None = None
) -> Iterator[list[tuple[bytes, dict[bytes, bytes]]]]:
    """A partition's retained stream entries (after the id `after`), oldest first, `chunk` at a time."""
    start: bytes | str = b"(" + after if after else "-"
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
    client: redis.Redis,
    keys: Keys,
    partitions: int,
    out: IO[bytes],
    tenant: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the retained log as newline-delimited JSON events (wire form), partition by
    partition in stream order; returns how many were written."""
    written = 0
    for partition in range(partitions):
        for _, raw_events in read_log(client, keys, partition):
            lines = [
                orjson.dumps(raw)
                for raw in raw_events
                if tenant is None or (isinstance(raw, dict) and raw.get("tenant") == tenant)
            ]
            if lines:
                out.write(b"\n".join(lines) + b"\n")
                written += len(lines)
                if progress:
                    progress(written)
    return written
