"""Snapshots of a partition's learners, and retention: history survives the log's trimming.

A snapshot copies every learner value and every processed-event marks group of a partition
as they stand after exactly the entries up to its position (a stream entry id), with the
parameter version in use. The partition's owner takes one between batches (nothing of the
partition is then read but not committed: the consumer group has no pending entry, so its
last delivered id is the position), at most every SKILLGAP_SNAPSHOT_INTERVAL_S, and switches
the partition's pointer to it in a commit fenced by its lease; the previous snapshot is deleted
only then.

Retention trims the log only below both its cutoff and the latest snapshot's position, so the
latest snapshot plus the retained entries after it always give every learner's state (replay
starts there), and no entry is trimmed before a worker applied it. With an archive directory,
entries are written there before they are trimmed (`sidecar/archive.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import redis

from core.eventlog import entry_chunks, entry_key
from core.keys import CONSUMER_GROUP, Keys
from sidecar import archive
from sidecar.marks import SEPARATOR, Group, parse_marks
from sidecar.metrics import as_text

COPY_CHUNK = 1_000
LEARNER, MARKS = "l:", "m:"  # field prefixes in a snapshot's hash
FIELD_SEPARATOR = "\x1f"  # between tenant and learner (or day): neither contains it


@dataclass(frozen=True)
class Snapshot:
    partition: int
    position: bytes  # the state reflects exactly the stream entries up to this id
    parameters: int | None  # the version the workers used (None: the catalog's defaults)
    taken: float
    learners: int
    key: str  # the hash holding the values


@dataclass(frozen=True)
class GroupState:
    last_delivered: bytes
    pending: int


def latest(client: redis.Redis, keys: Keys, partition: int) -> Snapshot | None:
    raw = client.get(keys.snapshot(partition))
    if raw is None:
        return None
    meta = orjson.loads(raw)
    return Snapshot(
        partition, meta["position"].encode(), meta["parameters"], meta["taken"], meta["learners"], meta["key"]
    )


def group_state(client: redis.Redis, keys: Keys, partition: int) -> GroupState | None:
    try:
        groups = client.xinfo_groups(keys.stream(partition))
    except redis.ResponseError:
        return None  # no stream yet
    for group in groups:
        if as_text(group["name"]) == CONSUMER_GROUP:
            return GroupState(_as_bytes(group["last-delivered-id"]), int(group["pending"]))
    return None


def retained_after(client: redis.Redis, keys: Keys, partition: int, position: bytes | None) -> bool:
    """Whether the partition's log still holds every entry after `position` (None: every
    entry ever added). Retention trims the oldest entries only, so that holds when nothing was
    removed or the first retained entry is not after `position`. Whether anything was removed:
    Redis 7 counts the entries added; Redis 6.2 does not, and only our trims are known."""
    try:
        info = client.xinfo_stream(keys.stream(partition))
    except redis.ResponseError:
        return True  # no stream: nothing was ever added
    added = info.get("entries-added")
    removed = int(added) > int(info["length"]) if added is not None else bool(client.exists(keys.trimmed(partition)))
    if not removed:
        return True
    if position is None:
        return False
    first = info.get("first-entry")
    if first is None:  # all removed: fine only if none was added after `position`
        return entry_key(info["last-generated-id"]) <= entry_key(position)
    return entry_key(first[0]) <= entry_key(position)


def take(
    client: redis.Redis,
    keys: Keys,
    partition: int,
    parameters: int | None,
    now: float,
    commit: Callable[[Callable], None],
    keep_alive: Callable[[], None] = lambda: None,
) -> Snapshot | None:
    """Copy the partition's learners and marks and make the copy its latest snapshot. Only its
    owner may call this, between batches; `commit(queue)` runs `queue(pipe)` in its fenced
    MULTI/EXEC. None (and nothing kept) when entries are pending or nothing is new."""
    before = group_state(client, keys, partition)
    previous = latest(client, keys, partition)
    if before is None or before.pending or (previous is not None and previous.position == before.last_delivered):
        return None
    key = keys.snapshot_data(partition, before.last_delivered.decode())
    client.delete(key)
    learners = 0
    try:
        for fields in _copy_fields(client, keys, partition):
            client.hset(key, mapping=fields)
            learners += sum(1 for name in fields if name.startswith(LEARNER))
            keep_alive()
        if group_state(client, keys, partition) != before:  # read meanwhile: no single position
            client.delete(key)
            return None
        snapshot = Snapshot(partition, before.last_delivered, parameters, now, learners, key)
        meta = {
            "position": snapshot.position.decode(),
            "parameters": parameters,
            "taken": now,
            "learners": learners,
            "key": key,
        }
        commit(lambda pipe: pipe.set(keys.snapshot(partition), orjson.dumps(meta)))
    except BaseException:
        client.delete(key)
        raise
    if previous is not None and previous.key != key:
        client.delete(previous.key)
    return snapshot


def _copy_fields(client: redis.Redis, keys: Keys, partition: int) -> Iterator[dict[str, bytes]]:
    """The snapshot's hash fields, a chunk at a time: every indexed learner's value, every marks group."""
    index_prefix = keys.learner_index(partition, "")
    for index_key in client.scan_iter(match=_glob(index_prefix) + "*", count=1_000):
        tenant = as_text(index_key)[len(index_prefix) :]
        members = [as_text(m) for m, _ in client.zscan_iter(index_key, count=COPY_CHUNK)]
        for start in range(0, len(members), COPY_CHUNK):
            chunk = members[start : start + COPY_CHUNK]
            values = client.execute_command("MGET", *[keys.learner(partition, tenant, m) for m in chunk])
            fields = {LEARNER + tenant + FIELD_SEPARATOR + m: v for m, v in zip(chunk, values) if v is not None}
            if fields:
                yield fields
    marks_prefix = keys.marks(partition, "", 0)[: -len(":0")]
    for marks_key in client.scan_iter(match=_glob(marks_prefix) + "*", count=1_000):
        tenant, _, day = as_text(marks_key)[len(marks_prefix) :].rpartition(":")
        value = client.get(marks_key)
        if value is not None:
            yield {MARKS + tenant + FIELD_SEPARATOR + day: value}


def learner_values(client: redis.Redis, snapshot: Snapshot, learners: list[tuple[str, str]]) -> list[bytes | None]:
    """The stored values of these learners in the snapshot (None: not in it)."""
    if not learners:
        return []
    return client.hmget(snapshot.key, [LEARNER + tenant + FIELD_SEPARATOR + learner for tenant, learner in learners])


def marks(client: redis.Redis, snapshot: Snapshot) -> dict[Group, set[str]]:
    """Every marks group of the snapshot."""
    groups = {}
    for name, value in client.hscan_iter(snapshot.key, match=MARKS + "*", count=COPY_CHUNK):
        tenant, _, day = as_text(name)[len(MARKS) :].partition(FIELD_SEPARATOR)
        groups[(tenant, int(day))] = parse_marks(value)
    return groups


def forget(
    client: redis.Redis, keys: Keys, partition: int, tenant: str, learner: str, event_ids: set[str]
) -> tuple[int, int]:
    """Erasure: remove a learner's value, and the marks of `event_ids`, from every snapshot of
    the partition (the latest and one being taken); returns (values, marks) removed."""
    values = marks_removed = 0
    for key in client.scan_iter(match=_glob(keys.snapshot_data(partition, "")) + "*", count=1_000):
        values += client.hdel(key, LEARNER + tenant + FIELD_SEPARATOR + learner)
        if not event_ids:
            continue
        for name, value in client.hscan_iter(key, match=_glob(MARKS + tenant + FIELD_SEPARATOR) + "*"):
            marked = parse_marks(value)
            kept = marked - event_ids
            if len(kept) < len(marked):
                client.hset(key, name, SEPARATOR.join(sorted(kept)) + SEPARATOR if kept else "")
                marks_removed += len(marked) - len(kept)
    return values, marks_removed


def trimmable(client: redis.Redis, keys: Keys, partition: int, retention_days: float, now: float) -> bool:
    """Whether the partition's log holds an entry older than the retention."""
    first = client.xrange(keys.stream(partition), count=1)
    return bool(first) and entry_key(first[0][0]) < _cutoff(retention_days, now)


def _cutoff(retention_days: float, now: float) -> tuple[int, int]:
    return int((now - retention_days * 86_400) * 1000), 0


def trim(
    client: redis.Redis, keys: Keys, partition: int, retention_days: float, now: float, archive_dir: Path | None = None
) -> int:
    """Trim the partition's log below both the retention cutoff and the latest snapshot's
    position (nothing without a snapshot), archiving what goes first; returns how many
    entries were archived."""
    snapshot = latest(client, keys, partition)
    if snapshot is None:
        return 0
    bound = min(_cutoff(retention_days, now), entry_key(snapshot.position))
    bound_id = f"{bound[0]}-{bound[1]}"
    archived = 0
    if archive_dir is not None:
        state = client.hgetall(keys.archived(partition))
        if not state:  # the first archiving: does the log still hold everything?
            whole = retained_after(client, keys, partition, None)
            client.hset(keys.archived(partition), "whole", int(whole))
        for entries in entry_chunks(client, keys, partition, after=state.get(b"last")):
            entries = [entry for entry in entries if entry_key(entry[0]) < bound]
            if not entries:
                break
            archive.write(archive_dir, partition, entries)
            client.hset(keys.archived(partition), "last", entries[-1][0])
            archived += len(entries)
        client.hset(keys.archived(partition), "below", bound_id)  # every entry below it is archived
    if client.xtrim(keys.stream(partition), minid=bound_id, approximate=False):
        client.set(keys.trimmed(partition), bound_id)
    return archived


def archive_complete(client: redis.Redis, keys: Keys, partition: int) -> bool:
    """Whether the archive and the log hold every entry ever added: archiving began before any
    trim, and the last trim was archived."""
    if retained_after(client, keys, partition, None):
        return True
    state, trimmed = client.hgetall(keys.archived(partition)), client.get(keys.trimmed(partition))
    return (
        state.get(b"whole") == b"1"
        and trimmed is not None
        and b"below" in state
        and entry_key(trimmed) <= entry_key(state[b"below"])
    )


def _glob(text: str) -> str:
    """`text` as a literal in a SCAN MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def due(snapshot: Snapshot | None, interval_s: float, now: float | None = None) -> bool:
    return snapshot is None or (time.time() if now is None else now) - snapshot.taken >= interval_s
