"""Right to erasure: every trace of one learner in the shared data — their events in the retained
log (and dead letters), their state and index entries, the processed-event marks and xAPI
statement records of their events, their aliases and recent-event entries. What the LTI tool
keeps besides (grade targets, launches, waiting statements) is erased by lti_tool/erasure.py.

A stream entry holds several learners' events and a stream only grows at its end, so a
partition's entries from the first one holding the learner's events onward are written again,
in order, without them (one transaction, retried if the stream moved meanwhile). Workers read
the rewritten entries again; the marks make sure no other learner's event applies twice."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import orjson
import redis

from core.keys import Keys, partition_of
from core.recent import SOURCES
from core.settings import SECONDS_PER_DAY
from core.wire import ENTRY_FIELD, decode_entry, encode_entry


@dataclass
class Erased:
    """What was removed, by kind (printed by `skillgap forget-learner`)."""

    counts: Counter = field(default_factory=Counter)
    event_ids: dict[str, int] = field(default_factory=dict)  # the learner's event ids -> event day

    def add(self, kind: str, n: int = 1) -> None:
        if n:
            self.counts[kind] += n


def _theirs(raw: object, tenant: str, learner: str) -> bool:
    return isinstance(raw, dict) and raw.get("tenant") == tenant and raw.get("learner") == learner


def _rewrite_stream(client: redis.Redis, stream: str, tenant: str, learner: str, erased: Erased, kind: str) -> None:
    while True:
        with client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(stream)
                entries = pipe.xrange(stream, "-", "+")
                first = next((i for i, (_, fields) in enumerate(entries) if _holds(fields, tenant, learner)), None)
                if first is None:
                    pipe.unwatch()
                    return
                rewritten, removed = [], []
                for _, fields in entries[first:]:
                    try:
                        events = decode_entry(fields)
                    except ValueError:  # unreadable (a dead letter already): kept unless it names them
                        rewritten.append(None if learner.encode() in b"".join(fields.values()) else fields)
                        continue
                    mine = [e for e in events if _theirs(e, tenant, learner)]
                    removed.extend(mine)
                    others = [e for e in events if not _theirs(e, tenant, learner)]
                    rewritten.append({**fields, ENTRY_FIELD: encode_entry(others)} if others else None)
                pipe.multi()
                pipe.xdel(stream, *[entry_id for entry_id, _ in entries[first:]])
                for fields in rewritten:
                    if fields is not None:
                        pipe.xadd(stream, fields)
                pipe.execute()
            except redis.WatchError:
                continue
        erased.add(kind, len(removed))
        for event in removed:
            if isinstance(event.get("id"), str) and isinstance(event.get("timestamp"), (int, float)):
                erased.event_ids[event["id"]] = int(event["timestamp"] // SECONDS_PER_DAY)
        return


def _holds(fields: dict[bytes, bytes], tenant: str, learner: str) -> bool:
    if learner.encode() not in b"".join(fields.values()):
        return False
    try:
        return any(_theirs(e, tenant, learner) for e in decode_entry(fields))
    except ValueError:
        return True


def _drop_letters(client: redis.Redis, stream: str, learner: str) -> int:
    """Dead letters quote whole entries: every letter naming the learner goes."""
    naming = [
        entry_id
        for entry_id, fields in client.xrange(stream, "-", "+")
        if learner.encode() in b"".join(fields.values())
    ]
    return client.xdel(stream, *naming) if naming else 0


def drop_marks(client: redis.Redis, key: str, ids: set[str]) -> int:
    while True:
        with client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)
                raw = pipe.get(key)
                if raw is None:
                    pipe.unwatch()
                    return 0
                lines = raw.decode().split("\n")
                kept = [line for line in lines if line not in ids]
                removed = len(lines) - len(kept)
                if not removed:
                    pipe.unwatch()
                    return 0
                pipe.multi()
                pipe.set(key, "\n".join(kept), keepttl=True)
                pipe.execute()
                return removed
            except redis.WatchError:
                continue


def erase_learner(client: redis.Redis, keys: Keys, partitions: int, tenant: str, learner: str) -> Erased:
    erased = Erased()
    partition = partition_of(tenant, learner, partitions)
    # The state first, then the log (a worker applying an older batch could write it again:
    # it goes once more at the end).
    _erase_state(client, keys, partition, tenant, learner, erased)
    for p in range(partitions):  # events are on their partition; dead letters anywhere
        _rewrite_stream(client, keys.stream(p), tenant, learner, erased, "events in the log")
        erased.add("dead letters", _drop_letters(client, keys.dead_letters(p), learner))
    ids = set(erased.event_ids)
    for day in sorted(set(erased.event_ids.values())):
        erased.add("processed-event marks", drop_marks(client, keys.marks(partition, tenant, day), ids))
    if ids:
        erased.add("xAPI statement records", client.delete(*(keys.xapi_statement(tenant, i) for i in ids)))
    aliases = f"{keys.prefix}:aliases:{tenant}"
    mine = [name for name, value in client.hscan_iter(aliases) if value.decode() == learner]
    if mine:
        erased.add("aliases", client.hdel(aliases, *mine))
    for source in SOURCES:
        key = keys.recent_events(tenant, source)
        for raw in client.lrange(key, 0, -1):
            if _theirs(orjson.loads(raw), tenant, learner):
                erased.add("recent events", client.lrem(key, 0, raw))
    _erase_state(client, keys, partition, tenant, learner, erased)
    return erased


def _erase_state(client: redis.Redis, keys: Keys, partition: int, tenant: str, learner: str, erased: Erased) -> None:
    pipe = client.pipeline(transaction=True)
    pipe.delete(keys.learner(partition, tenant, learner))
    pipe.zrem(keys.learner_index(partition, tenant), learner)
    for cohort in client.zrange(keys.cohorts(partition, tenant), 0, -1):
        pipe.zrem(keys.cohort_index(partition, tenant, cohort.decode()), learner)
    removed = pipe.execute()
    erased.add("learner state", removed[0])
    erased.add("index entries", sum(removed[1:]))
