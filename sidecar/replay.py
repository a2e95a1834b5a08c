"""Replay: rebuild every learner's mastery and recommendations from the retained event log,
with the active parameters (for instance after a refit).

A partition is rebuilt from its stream alone, in stream order, each event id applied at its
first appearance (exactly what the workers do live), starting from fresh learners. Rankings
are as of each learner's latest event (``sidecar/processing.py``), so the rebuilt state and
recommendations equal the incremental ones to rounding. Learners with no event left in the
retained log keep their stored state.

To write, replay takes each partition's lease in turn (its worker hands it over), rebuilds it,
and commits the learners, the marks, and the consumer group's position past the replayed
entries in one fenced MULTI/EXEC; then the workers go on from there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import redis

from engine import Recommendations
from sidecar.learner_table import LearnerTable
from sidecar.marks import KnownMarks, read_marks
from sidecar.ownership import RELEASE, RENEW, acquire_for_replay
from core.wire import decode_entries
from sidecar.processing import Applied, Batch, apply_to_table, fresh_events, queue_writes, rank
from sidecar.worker import LostPartition, ensure_groups
from core.eventlog import entry_chunks
from core.keys import CONSUMER_GROUP
from core.learner_store import LearnerStore
from core.params import active_parameters
from core.services import Services

log = logging.getLogger(__name__)
READ_ENTRIES = 500
HANDOVER_TIMEOUT_S = 60.0


@dataclass
class Rebuilt:
    table: LearnerTable
    rankings: Recommendations | None  # of every row, in row order (set once the whole stream is applied)
    cohorts: dict[tuple[str, str], set[str]]
    marks: KnownMarks  # the ids of the events applied, by tenant and event day
    last_entry: bytes | None
    entries: int = 0
    events: int = 0

@dataclass
class Comparison:
    learners: int = 0
    lost: int = 0  # events in the log that the stored state has not applied
    duplicated: int = 0  # events the stored state applied more often than the log holds them
    max_mastery_difference: float = 0.0
    max_gain_difference: float = 0.0
    different_rankings: int = 0
    missing: list[tuple[str, str]] = field(default_factory=list)


def rebuild_partition(
    services: Services, store: LearnerStore, partition: int, keep_alive: Callable[[], None] = lambda: None
) -> Rebuilt:
    """The partition's learners rebuilt in memory from its stream; `keep_alive` is called
    after every chunk (replay renews its lease there)."""
    table = LearnerTable(store, partition)
    rebuilt = Rebuilt(table, None, {}, KnownMarks(), None)
    for chunk in entry_chunks(services.redis, services.keys, partition, READ_ENTRIES):
        rebuilt.entries += len(chunk)
        rebuilt.last_entry = chunk[-1][0]
        decoded = decode_entries(chunk, services.catalog, partition, services.settings.partitions)
        batch = Batch(decoded.events, decoded.learners)
        missing = table.missing(batch.distinct_learners)
        table.add(missing, [None] * len(missing))
        for group in batch.marks_by_group:
            if group not in rebuilt.marks.groups:
                rebuilt.marks.load(group, set())
        applied = apply_to_table(table, batch, store.model, fresh_events(rebuilt.marks, batch))
        for cohort_key, learners in applied.joined.items():
            rebuilt.cohorts.setdefault(cohort_key, set()).update(learners)
        rebuilt.events += applied.applied
        keep_alive()
    rebuilt.rankings = rank(table, np.arange(len(table)), services.settings)
    return rebuilt


def compare(services: Services, rebuilt: Rebuilt) -> Comparison:
    """How the stored learners differ from the rebuilt ones."""
    result = Comparison()
    table = rebuilt.table
    stored = {}
    for tenant in {tenant for tenant, _ in table.learners}:
        learners = [learner for t, learner in table.learners if t == tenant]
        for record in services.learners.get_many(tenant, learners, explain=False):
            stored[(tenant, record.learner)] = record
    for row, key in enumerate(table.learners):
        fresh = table.record(row, table.ranking(rebuilt.rankings, row))
        result.learners += 1
        have = stored.get(key)
        if have is None:
            result.missing.append(key)
            result.lost += fresh.events
            continue
        result.lost += max(0, fresh.events - have.events)
        result.duplicated += max(0, have.events - fresh.events)
        result.max_mastery_difference = max(result.max_mastery_difference, float(np.abs(fresh.state - have.state).max()))
        same = ("module", "action")
        if [fresh.ranking.get(name) for name in same] != [have.ranking.get(name) for name in same]:
            result.different_rankings += 1
        else:
            gains = [abs(a - b) for a, b in zip(fresh.ranking["gain"], have.ranking["gain"])]
            result.max_gain_difference = max([result.max_gain_difference, *gains])
    return result


def check(services: Services) -> Comparison:
    """Rebuild every partition in memory and compare with what is stored (writes nothing)."""
    store = _store(services)
    total = Comparison()
    for partition in range(services.settings.partitions):
        part = compare(services, rebuild_partition(services, store, partition))
        total.learners += part.learners
        total.lost += part.lost
        total.duplicated += part.duplicated
        total.different_rankings += part.different_rankings
        total.max_mastery_difference = max(total.max_mastery_difference, part.max_mastery_difference)
        total.max_gain_difference = max(total.max_gain_difference, part.max_gain_difference)
        total.missing += part.missing
    return total


def replay(
    services: Services, progress: Callable[[str], None] = log.info, handover_timeout_s: float = HANDOVER_TIMEOUT_S
) -> tuple[int, int]:
    """Rebuild and write every partition; returns (learners, events) replayed."""
    client, keys, settings = services.redis, services.keys, services.settings
    store = _store(services)
    ensure_groups(client, [keys.stream(p) for p in range(settings.partitions)])
    renew, release = client.register_script(RENEW), client.register_script(RELEASE)
    learners = events = 0
    for partition in range(settings.partitions):
        token = acquire_for_replay(client, keys, partition, settings.lease_ttl_ms, handover_timeout_s)
        try:
            keep_alive = _lease_keeper(services, partition, token, renew)
            rebuilt = rebuild_partition(services, store, partition, keep_alive=keep_alive)
            keep_alive()
            _commit(services, store, rebuilt, token)
        finally:
            release(keys=[keys.owner(partition)], args=[token])
            client.delete(keys.handover(partition))
        learners += len(rebuilt.table)
        events += rebuilt.events
        progress(f"partition {partition + 1}/{settings.partitions}: {len(rebuilt.table)} learners, "
                 f"{rebuilt.events} events from {rebuilt.entries} entries")  # fmt: skip
    return learners, events


def _lease_keeper(services: Services, partition: int, token: str, renew: Callable) -> Callable[[], None]:
    """Renews replay's lease of the partition, and the handover request that keeps the workers
    off it: a rebuild may take longer than the lease lives. Raises LostPartition when the
    lease is no longer ours."""
    client, keys, ttl_ms = services.redis, services.keys, services.settings.lease_ttl_ms

    def keep_alive() -> None:
        if not renew(keys=[keys.owner(partition)], args=[token, ttl_ms]):
            raise LostPartition({partition})
        client.pexpire(keys.handover(partition), ttl_ms * 4)

    return keep_alive


def _commit(services: Services, store: LearnerStore, rebuilt: Rebuilt, token: str) -> None:
    client, keys = services.redis, services.keys
    partition = rebuilt.table.partition
    stream, owner = keys.stream(partition), keys.owner(partition)
    # The stored marks stay: they may name events the log no longer holds.
    groups = list(rebuilt.marks.groups)
    stored = read_marks(client, keys, [(partition, group) for group in groups])
    marks = {group: sorted(rebuilt.marks.groups[group] | held) for group, held in zip(groups, stored)}
    pending = []
    if rebuilt.last_entry is not None:
        pending = [row["message_id"] for row in client.xpending_range(stream, CONSUMER_GROUP, "-", rebuilt.last_entry, 1_000_000)]
    with client.pipeline(transaction=True) as pipe:
        pipe.watch(owner)
        value = pipe.get(owner)
        if value is None or value.decode() != token:
            raise LostPartition({partition})
        pipe.multi()
        table = rebuilt.table
        rows = np.arange(len(table))
        everything = Applied(rebuilt.events, 0, rebuilt.cohorts, rows, marks)
        # Every row is a fresh learner (rebuild_partition), so all are indexed.
        queue_writes(pipe, table, rows, rebuilt.rankings, everything, time.time(), services.settings.retention_days,
                     replace_marks=True)  # fmt: skip
        if rebuilt.last_entry is not None:
            pipe.xgroup_setid(stream, CONSUMER_GROUP, rebuilt.last_entry)
        if pending:
            pipe.xack(stream, CONSUMER_GROUP, *pending)
        try:
            pipe.execute()
        except redis.WatchError:
            raise LostPartition({partition}) from None


def _store(services: Services) -> LearnerStore:
    params = active_parameters(services.redis, services.keys, services.catalog)
    store = services.store_for(params.model)
    store.register_layout()  # the values it writes refer to it
    return store
