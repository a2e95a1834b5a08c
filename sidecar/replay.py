"""Replay: rebuild every learner's mastery and recommendations from the partition's history,
with the active parameters (for instance after a refit).

A partition's history is where its rebuild starts plus the log entries after that, applied in
stream order, each event id applied at its first appearance (exactly what the workers do live):
- with an archive (`--archive DIR`, `sidecar/archive.py`): fresh learners, the archived entries,
  then the retained log after them; every event is re-derived with the active parameters;
- else, when the log was never trimmed, fresh learners and the whole log;
- else the partition's latest snapshot (`sidecar/snapshots.py`): its learners and marks, then
  the retained entries after its position; what the snapshot holds was derived with the
  parameters in use when it was taken, and only later events are re-derived (replay says so);
- else the history is not in the log: the partition is left as stored (replay says so), never
  rebuilt from what retention left.
Rankings are as of each learner's latest event (``sidecar/processing.py``), so the rebuilt state
and recommendations equal the incremental ones to rounding. Learners with no event in what is
applied keep their stored state.

To write, replay takes each partition's lease in turn (its worker hands it over), rebuilds it,
and commits the learners, the marks, and the consumer group's position past the replayed
entries in one fenced MULTI/EXEC; then the workers go on from there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import redis

from core.eventlog import ensure_groups, entry_key
from core.keys import CONSUMER_GROUP
from core.learner_store import LearnerStore
from core.params import active_parameters
from core.services import Services
from core.wire import decode_entries
from engine import EVIDENCE, LAST_SEEN, MASTERY, Recommendations
from sidecar import snapshots
from sidecar.archive import history_chunks
from sidecar.learner_table import LearnerTable
from sidecar.marks import KnownMarks, read_marks
from sidecar.ownership import RELEASE, RENEW, acquire_for_replay
from sidecar.processing import Applied, Batch, apply_to_table, fresh_events, queue_writes, rank
from sidecar.worker import LostPartition

log = logging.getLogger(__name__)
READ_ENTRIES = 500
HANDOVER_TIMEOUT_S = 60.0


FRESH, SNAPSHOT, ARCHIVE, UNDETERMINED = "log", "snapshot", "archive", "undetermined"


@dataclass
class Rebuilt:
    table: LearnerTable
    rankings: Recommendations | None  # of every row, in row order (set once the whole stream is applied)
    cohorts: dict[tuple[str, str], set[str]]
    marks: KnownMarks  # the ids of the events applied, by tenant and event day
    last_entry: bytes | None
    start: str = FRESH  # where the rebuild starts: FRESH, SNAPSHOT, ARCHIVE or UNDETERMINED (nothing rebuilt)
    note: str = ""  # what the rebuild could not re-derive, for the operator
    rederived: bool = True  # every applied event derived with the active parameters
    entries: int = 0
    events: int = 0
    # Events the log holds that name modules the catalog no longer has, and those modules
    not_in_catalog: int = 0
    missing_modules: set[str] = field(default_factory=set)


@dataclass
class Comparison:
    learners: int = 0
    lost: int = 0  # events in the history that the stored state has not applied
    duplicated: int = 0  # events the stored state applied more often than the history holds them
    undetermined: int = 0  # learners with history before the retained log and no snapshot of it
    not_in_catalog: int = 0  # events naming modules the catalog no longer has (Rebuilt.not_in_catalog)
    max_mastery_difference: float = 0.0  # of mastery and evidence
    max_time_difference: float = 0.0  # seconds: last activity per point, time the ranking is as of
    max_gain_difference: float = 0.0
    different_rankings: int = 0
    missing: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, part: Comparison) -> None:
        for name in ("learners", "lost", "duplicated", "undetermined", "not_in_catalog", "different_rankings"):
            setattr(self, name, getattr(self, name) + getattr(part, name))
        for name in ("max_mastery_difference", "max_time_difference", "max_gain_difference"):
            setattr(self, name, max(getattr(self, name), getattr(part, name)))
        self.missing += part.missing
        self.notes += part.notes

    @property
    def healthy(self) -> bool:
        return (
            self.lost == self.duplicated == self.different_rankings == self.not_in_catalog == 0
            and not self.missing
            and self.max_mastery_difference <= 1e-6
            and self.max_time_difference <= 1e-3
        )


def rebuild_partition(
    services: Services,
    store: LearnerStore,
    partition: int,
    keep_alive: Callable[[], None] = lambda: None,
    archive_dir: Path | None = None,
    retained_when_undetermined: bool = False,
) -> Rebuilt:
    """The partition's learners rebuilt in memory from its history (see the module's text);
    `keep_alive` is called after every chunk (replay renews its lease there). A partition
    whose history is not in the log is left empty, or with `retained_when_undetermined` (for
    `check`: a learner whose whole history is retained is determined) built from what is."""
    client, keys = services.redis, services.keys
    table = LearnerTable(store, partition)
    rebuilt = Rebuilt(table, None, {}, KnownMarks(), None)
    snapshot = snapshots.latest(client, keys, partition)
    after = None
    version = _active_version(services)
    archived = archive_dir is not None and snapshots.archive_complete(client, keys, partition)
    said = f"partition {partition}: "
    if archive_dir is not None and not archived:
        said += (
            "the log was trimmed of entries the archive does not hold (was SKILLGAP_ARCHIVE_DIR set since the start?); "
        )
    if archived:
        rebuilt.start = ARCHIVE
        chunks = history_chunks(services, partition, archive_dir, READ_ENTRIES)
    elif snapshots.retained_after(client, keys, partition, None):
        chunks = history_chunks(services, partition, None, READ_ENTRIES)
    elif snapshot is not None and snapshots.retained_after(client, keys, partition, snapshot.position):
        rebuilt.start, after = SNAPSHOT, snapshot.position
        rebuilt.rederived = snapshot.parameters == version
        for group, held in snapshots.marks(client, snapshot).items():
            rebuilt.marks.load(group, held)
        if not rebuilt.rederived:
            # A snapshot holds each learner's state, not the events behind it: what it holds
            # cannot be derived again with other parameters.
            rebuilt.note = (
                f"{said}events up to {_day(snapshot.position)} keep what parameters "
                f"{_version(snapshot.parameters)} made of them (the snapshot holds learners' states, not "
                f"their events); those after it use {_version(version)}"
                + ("" if archive_dir else " (to re-derive them all, replay with --archive)")
            )
        elif archive_dir is not None:
            rebuilt.note = f"{said}rebuilt from the snapshot of {_day(snapshot.position)} instead"
        chunks = history_chunks(services, partition, None, READ_ENTRIES, after=after)
    else:
        rebuilt.start = UNDETERMINED
        rebuilt.rederived = False
        rebuilt.note = (
            f"{said}the log's oldest entries were trimmed and no snapshot holds them; its learners "
            "keep their stored state (workers take a snapshot within SKILLGAP_SNAPSHOT_INTERVAL_S; "
            "replays after it rebuild from there)"
        )
        chunks = history_chunks(services, partition, None, READ_ENTRIES) if retained_when_undetermined else iter(())
    for chunk in chunks:
        rebuilt.entries += len(chunk)
        rebuilt.last_entry = chunk[-1][0]
        decoded = decode_entries(chunk, services.catalog, partition, services.settings.partitions)
        rebuilt.not_in_catalog += len(decoded.unknown_modules)
        rebuilt.missing_modules.update(decoded.unknown_modules)
        batch = Batch(decoded.events, decoded.learners)
        missing = table.missing(batch.distinct_learners)
        stored = (
            snapshots.learner_values(client, snapshot, missing) if rebuilt.start == SNAPSHOT else [None] * len(missing)
        )
        table.add(missing, [store.decode(*key, raw, explain=False) for key, raw in zip(missing, stored)])
        for group in batch.marks_by_group:
            if group not in rebuilt.marks.groups:
                rebuilt.marks.load(group, set())
        applied = apply_to_table(table, batch, store.model, fresh_events(rebuilt.marks, batch))
        for cohort_key, learners in applied.joined.items():
            rebuilt.cohorts.setdefault(cohort_key, set()).update(learners)
        rebuilt.events += applied.applied
        keep_alive()
    if rebuilt.not_in_catalog:
        _left_as_stored_for_the_catalog(rebuilt, said)
    rebuilt.rankings = rank(table, np.arange(len(table)), services.settings)
    return rebuilt


def _left_as_stored_for_the_catalog(rebuilt: Rebuilt, said: str) -> None:
    """Rebuilt without the events of modules the catalog lost, its learners would lose that
    history: the partition is left as stored (replay writes nothing of it and says why)."""
    rebuilt.start = UNDETERMINED
    rebuilt.rederived = False
    named = sorted(rebuilt.missing_modules)
    modules = ", ".join(map(repr, named[:5])) + (", ..." if len(named) > 5 else "")
    rebuilt.note = (
        f"{said}{rebuilt.not_in_catalog} events in the log name modules the catalog no longer has ({modules}); "
        "rebuilt without them its learners would lose that history, so it is left as stored: put the "
        "modules back in the catalog and replay again"
    )


def compare(services: Services, rebuilt: Rebuilt) -> Comparison:
    """How the stored learners differ from the rebuilt ones: only what the rebuild determines
    (a partition whose history is not in the log: learners with more events stored than the
    log holds are undetermined, not duplicated)."""
    result = Comparison(notes=[rebuilt.note] if rebuilt.note else [], not_in_catalog=rebuilt.not_in_catalog)
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
        if rebuilt.start == UNDETERMINED and have.events > fresh.events:
            result.undetermined += 1
            continue
        result.lost += max(0, fresh.events - have.events)
        result.duplicated += max(0, have.events - fresh.events)
        beliefs = [MASTERY, EVIDENCE]
        result.max_mastery_difference = max(
            result.max_mastery_difference, float(np.abs(fresh.state[beliefs] - have.state[beliefs]).max())
        )
        times = max(
            float(np.abs(fresh.state[LAST_SEEN] - have.state[LAST_SEEN]).max()),
            abs(fresh.recommended_at - have.recommended_at),
        )
        result.max_time_difference = max(result.max_time_difference, times)
        same = ("module", "action")
        if [fresh.ranking.get(name) for name in same] != [have.ranking.get(name) for name in same]:
            result.different_rankings += 1
        else:
            gains = [abs(a - b) for a, b in zip(fresh.ranking["gain"], have.ranking["gain"])]
            result.max_gain_difference = max([result.max_gain_difference, *gains])
    return result


def check(services: Services, archive_dir: Path | None = None) -> Comparison:
    """Rebuild every partition in memory and compare with what is stored (writes nothing)."""
    store = _store(services)
    total = Comparison()
    for partition in range(services.settings.partitions):
        total.add(
            compare(
                services,
                rebuild_partition(services, store, partition, archive_dir=archive_dir, retained_when_undetermined=True),
            )
        )
    return total


@dataclass
class Replayed:
    learners: int = 0
    events: int = 0
    # Partitions not wholly re-derived with the active parameters (a snapshot of other
    # parameters, or left as stored), with what replay said of each.
    not_rederived: dict[int, str] = field(default_factory=dict)


def replay(
    services: Services,
    progress: Callable[[str], None] = log.info,
    handover_timeout_s: float = HANDOVER_TIMEOUT_S,
    archive_dir: Path | None = None,
) -> Replayed:
    """Rebuild and write every partition. `progress` hears a line per partition, and what could
    not be re-derived (also in the result's `not_rederived`)."""
    client, keys, settings = services.redis, services.keys, services.settings
    store = _store(services)
    ensure_groups(client, [keys.stream(p) for p in range(settings.partitions)])
    renew, release = client.register_script(RENEW), client.register_script(RELEASE)
    result = Replayed()
    for partition in range(settings.partitions):
        token = acquire_for_replay(client, keys, partition, settings.lease_ttl_ms, handover_timeout_s)
        try:
            keep_alive = _lease_keeper(services, partition, token, renew)
            rebuilt = rebuild_partition(services, store, partition, keep_alive=keep_alive, archive_dir=archive_dir)
            keep_alive()
            if rebuilt.start != UNDETERMINED:
                _commit(services, store, rebuilt, token)
        finally:
            release(keys=[keys.owner(partition)], args=[token])
            client.delete(keys.handover(partition))
        result.learners += len(rebuilt.table)
        result.events += rebuilt.events
        if not rebuilt.rederived:
            result.not_rederived[partition] = rebuilt.note
        progress(
            f"partition {partition + 1}/{settings.partitions}: {len(rebuilt.table)} learners, "
            f"{rebuilt.events} events from {rebuilt.entries} entries after the {rebuilt.start}"
        )
        if rebuilt.note:
            progress(rebuilt.note)
    return result


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
        pending = [
            row["message_id"]
            for row in client.xpending_range(stream, CONSUMER_GROUP, "-", rebuilt.last_entry, 1_000_000)
        ]
    with client.pipeline(transaction=True) as pipe:
        pipe.watch(owner)
        value = pipe.get(owner)
        if value is None or value.decode() != token:
            raise LostPartition({partition})
        pipe.multi()
        table = rebuilt.table
        rows = np.arange(len(table))
        everything = Applied(rebuilt.events, 0, rebuilt.cohorts, rows, marks)
        # Rows of new learners are added to their learner index (queue_writes).
        queue_writes(
            pipe,
            table,
            rows,
            rebuilt.rankings,
            everything,
            time.time(),
            services.settings.retention_days,
            replace_marks=True,
        )
        if rebuilt.last_entry is not None:
            pipe.xgroup_setid(stream, CONSUMER_GROUP, rebuilt.last_entry)
        if pending:
            pipe.xack(stream, CONSUMER_GROUP, *pending)
        try:
            pipe.execute()
        except redis.WatchError:
            raise LostPartition({partition}) from None


def _active_version(services: Services) -> int | None:
    return active_parameters(services.redis, services.keys, services.catalog).version


def _version(version: int | None) -> str:
    return "of the catalog" if version is None else f"version {version}"


def _day(entry_id: bytes) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(entry_key(entry_id)[0] / 1000))


def _store(services: Services) -> LearnerStore:
    params = active_parameters(services.redis, services.keys, services.catalog)
    store = services.store_for(params.model)
    store.register_layout()  # the values it writes refer to it
    return store
