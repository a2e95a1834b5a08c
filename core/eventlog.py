"""The event log: Redis Streams, one per partition, several events per entry."""

from __future__ import annotations

import os
import socket
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from typing import IO

import orjson
import redis
from redis.cluster import RedisCluster

from core.events import Event
from core.keys import CONSUMER_GROUP, Keys, partition_of
from core.wire import ENTRY_FIELD, MAX_EVENTS_PER_ENTRY, decode_entry, encode, encode_entry


class PartlyWritten(redis.RedisError):
    """On Redis Cluster, some partitions' transactions failed after others succeeded: which
    events are on the log (`written`) and which are not (`not_written`), in request order.
    Retrying them all with the same ids is safe: an id is applied once."""

    def __init__(self, written: list[str], not_written: list[str], cause: redis.RedisError):
        super().__init__(f"{len(written)} events written, {len(not_written)} not: {cause}")
        self.written, self.not_written, self.cause = written, not_written, cause


def consumer_name() -> str:
    """This process's default name in a consumer group: host-pid (`skillgap worker --check` finds
    a host's workers by the host part)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def ensure_groups(client: redis.Redis, stream_keys: list[str], group: str = CONSUMER_GROUP) -> None:
    """Create the consumer group on each stream (and the stream), unless it is there already."""
    for key in stream_keys:
        try:
            client.xgroup_create(key, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


def append_events(
    client: redis.Redis | RedisCluster, keys: Keys, partitions: int, events: Iterable[Event]
) -> list[bytes]:
    """XADD the events, grouped into entries per partition, all or nothing; returns the entry
    ids. One MULTI/EXEC: an error (Redis out of memory, a lost connection before EXEC) leaves
    nothing written. On Redis Cluster, where a transaction holds one partition's keys, one
    per partition, each tried: when some fail and others succeed, PartlyWritten says which
    events are on the log; when all fail, Redis's error (nothing written).

    Retention does not trim here: workers trim below their snapshots (sidecar/snapshots.py)."""
    if not isinstance(client, RedisCluster):
        with client.pipeline(transaction=True) as pipe:
            queue_events(pipe, keys, partitions, events)
            return [reply for reply in pipe.execute() if isinstance(reply, bytes)]  # not the day counts
    events = list(events)
    ids: list[bytes] = []
    written: set[str] = set()
    failure: redis.RedisError | None = None
    for partition, group in sorted(_by_partition(events, partitions).items()):
        try:
            with client.pipeline(transaction=True) as pipe:
                _queue_partition(pipe, keys, partition, [encode(event) for event in group])
                ids += pipe.execute()
        except redis.RedisError as exc:
            failure = failure or exc
            continue
        written.update(event.id for event in group)
    if failure is None:
        return ids
    if not written:
        raise failure
    raise PartlyWritten(
        [e.id for e in events if e.id in written], [e.id for e in events if e.id not in written], failure
    ) from failure


def events_pipeline(
    client: redis.Redis | RedisCluster, keys: Keys, partitions: int, events: list[Event]
) -> redis.client.Pipeline:
    """A pipeline holding the events, for the caller to queue what records them (fingerprints,
    statement records) and execute. On one Redis a MULTI/EXEC: all or nothing. On Redis
    Cluster the events are written first (append_events, raising when any is not written) and
    a plain pipeline returned: a record never lands without its events, so a retry of a
    request that failed re-sends them instead of taking them as already written."""
    if isinstance(client, RedisCluster):
        append_events(client, keys, partitions, events)
        return client.pipeline(transaction=False)
    pipe = client.pipeline(transaction=True)
    queue_events(pipe, keys, partitions, events)
    return pipe


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
