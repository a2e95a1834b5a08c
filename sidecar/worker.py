"""Stream worker: owns some partitions, reads their events in batches, runs the engine, and
commits mastery, recommendations, processed-event marks, counters and the XACK in one
MULTI/EXEC per batch, fenced by the partition's lease.

Exactly once: an event is applied by the commit that acknowledges its entry and marks its id;
that commit is all or nothing, and refused when the lease moved (WATCH), so a crash or pause at
any point leaves either nothing or everything written. Entries left pending by a dead owner are
reclaimed with XAUTOCLAIM, in stream order, before the new owner reads anything newer.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import redis
from redis.cluster import RedisCluster

from core.eventlog import consumer_name, ensure_groups
from core.keys import CONSUMER_GROUP
from core.params import active_parameters, active_version
from core.services import Services
from core.wire import decode_entries
from sidecar import snapshots
from sidecar.batching import BatchSizer
from sidecar.learner_table import NO_ROLE, LearnerTable
from sidecar.metrics import as_text, record_batch
from sidecar.ownership import Leases
from sidecar.partition_cache import PartitionCache
from sidecar.processing import Applied, Batch, apply_to_table, merged, pieces, queue_writes, rank

log = logging.getLogger(__name__)
CLUSTER_POLL_S = 0.005  # on Redis Cluster reads do not block (one slot per read); poll this often
DEAD_LETTERS_MAX = 100_000
# A batch allocates many short-lived objects, and the learners kept in memory are many
# long-lived ones: the default thresholds make the collector scan them all several times a
# second. Cycles are rare here (reference counting frees the rest), so collect seldom.
GC_THRESHOLDS = (100_000, 50, 1_000)
# Entry payload decoded and applied at a time (some 20,000 events): the decoded events of a whole
# batch are never in memory at once. Each piece costs a few steps per learner it names, so pieces
# are not small: 4 MB measured 17% faster per event than 512 KB, and as fast as whole batches.
PIECE_BYTES = 1 << 22


def tune_gc() -> None:
    """For a worker process, once it is built: what is alive now (modules, catalog, compiled
    engine) is never garbage, so the collector stops scanning it; then collect seldom."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class LostPartition(Exception):
    """A partition's lease moved to another worker; this batch must not be written."""

    def __init__(self, partitions: set[int]):
        super().__init__(f"lost partitions {sorted(partitions)}")
        self.partitions = partitions


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    dead: int = 0


@dataclass
class PartitionDone:
    """A partition's share of a batch, applied in memory and ready to commit."""

    table: LearnerTable
    applied: Applied
    events: int  # decoded
    dead: list[dict]  # dead letters


def _narrower(batches: dict[int, list]) -> list[dict[int, list]]:
    """A failed batch in smaller parts, in order: its partitions one by one, or a partition's
    entries in two halves; none for a single entry."""
    if len(batches) > 1:
        return [{partition: entries} for partition, entries in batches.items()]
    ((partition, entries),) = batches.items()
    if len(entries) < 2:
        return []
    middle = len(entries) // 2
    return [{partition: entries[:middle]}, {partition: entries[middle:]}]


class Worker:
    """`run(burst=True)` drains the streams and returns whether it processed anything."""

    def __init__(
        self,
        services: Services,
        partitions: list[int] | None = None,
        name: str | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.services = services
        self.settings = services.settings
        self.keys = services.keys
        self.client = services.redis
        self.clock = clock
        self.name = name or consumer_name()
        candidates = partitions if partitions is not None else list(range(self.settings.partitions))
        self.leases = Leases(self.client, self.keys, candidates, self.settings.lease_ttl_ms, self.name)
        self.cluster = isinstance(self.client, RedisCluster)
        self._stopping = False
        self._recovering: set[int] = set()  # owned partitions whose pending entries come first
        self._in_hand: set[int] = set()  # partitions with entries read in this round, not yet committed
        s = self.settings
        # The learners and marks of the partitions we own, as our commits wrote them
        self.cache = PartitionCache(self.client, self.keys, s.worker_cache_learners, s.worker_cache_marks)
        self._next_heartbeat = 0.0
        self._next_maintenance = 0.0
        self.sizer = BatchSizer(s.batch_ms, s.batch_max_ms, s.lease_ttl_ms, s.batch_entries)
        self._redis_clock_s = 0.0  # Redis's clock minus ours: entry ids carry Redis's time
        self._load_parameters()
        self._warm_up()
        ensure_groups(self.client, [self.keys.stream(p) for p in candidates])

    @property
    def partitions(self) -> list[int]:
        return self.leases.candidates

    def stop(self) -> None:
        """Finish the batch in hand, then return from run()."""
        self._stopping = True

    # -- the loop -------------------------------------------------------------------------

    def run(self, burst: bool = False, max_batches: int | None = None) -> bool:
        """Process batches until stop(); with `burst`, only until the owned streams are drained.

        Returns whether any entry was processed. Lost connections are retried with capped
        exponential backoff; on the way out the leases are released."""
        did_work = False
        batches = 0
        failures = 0
        self._next_heartbeat = 0.0  # take partitions at once (a previous run released them)
        try:
            while not self._stopping and (max_batches is None or batches < max_batches):
                try:
                    self._heartbeat_if_due()
                    processed = self._step(block=not burst)
                    self._maintain_if_due()
                    failures = 0
                except redis.RedisError as exc:
                    # Lost connections, and errors Redis answers with (out of memory, a key of the
                    # wrong type): nothing of the batch was written; back off and read it again.
                    failures += 1
                    delay = min(self.settings.reconnect_max_s, 0.1 * 2 ** min(failures, 20))
                    log.warning("worker %s: Redis failed (%s); retrying in %.1f s", self.name, exc, delay)
                    self._recovering |= self.leases.owned  # what we read may be pending: reclaim first
                    self.cache.forget_everything()
                    self._next_heartbeat = 0.0
                    self._sleep(delay)
                    continue
                batches += processed
                did_work |= processed > 0
                if not processed and burst and not self._recovering:
                    break
        finally:
            try:
                self.leases.release_all()
            except redis.RedisError:
                pass  # the leases expire by themselves
        return did_work

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            time.sleep(min(0.05, seconds))

    def _heartbeat_if_due(self) -> None:
        if time.monotonic() < self._next_heartbeat:
            return
        gained, lost = self.leases.heartbeat()
        self.cache.forget(gained | lost)
        self.cache.owned = len(self.leases.owned)
        if gained or lost:
            log.info(
                "worker %s: gained %s, lost %s, owns %s",
                self.name,
                sorted(gained),
                sorted(lost),
                sorted(self.leases.owned),
            )
        # Entries in hand are pending because we are applying them, not because a read was lost.
        checked = self.leases.owned - gained - self._in_hand
        self._recovering = (self._recovering - lost) | gained | self._with_pending(checked)
        if active_version(self.client, self.keys) != self.parameters.version:
            self._load_parameters()
        self._redis_clock_s = _redis_time(self.client) - self.clock()
        self._next_heartbeat = time.monotonic() + self.settings.lease_ttl_ms / 3000

    def _maintain_if_due(self) -> None:
        """Between batches: snapshot the owned partitions that are due, then trim their logs
        to what retention and their snapshots allow (`sidecar/snapshots.py`)."""
        if time.monotonic() < self._next_maintenance:
            return
        self._next_maintenance = time.monotonic() + self.settings.maintenance_interval_s
        self.maintain()

    def maintain(self) -> None:
        """Snapshot an owned partition when retention would trim its log and its latest
        snapshot is older than the interval (or missing), then trim."""
        s, now = self.settings, self.clock() + self._redis_clock_s  # entry ids carry Redis's time
        for partition in sorted(self.leases.owned - self._recovering):
            if not snapshots.trimmable(self.client, self.keys, partition, s.retention_days, now):
                continue
            if snapshots.due(snapshots.latest(self.client, self.keys, partition), s.snapshot_interval_s, now):
                try:
                    snapshots.take(
                        self.client,
                        self.keys,
                        partition,
                        self.parameters.version,
                        now,
                        lambda queue, p=partition: self._commit_fenced(p, queue),
                        self._heartbeat_if_due,
                    )
                except LostPartition as lost:
                    self._lost(lost.partitions, set())
                    continue
            snapshots.trim(self.client, self.keys, partition, s.retention_days, now, s.archive_dir)

    def _commit_fenced(self, partition: int, queue: Callable) -> None:
        with self._fenced([partition]) as pipe:
            queue(pipe)

    def _warm_up(self) -> None:
        """Load the engine's compiled kernels before taking partitions, so the first batch
        does not hold its leases while Numba loads its cache."""
        table = LearnerTable(self.store, 0)
        table.add([("warm", "up")], [None])
        event = (0, "warm-up", 0, 0, 0.5, 1.0, None, NO_ROLE)
        batch = Batch([event], [("warm", "up")])
        applied = apply_to_table(table, batch, self.parameters.model, np.ones(1, dtype=bool))
        rank(table, applied.changed, self.settings)

    def _with_pending(self, partitions: set[int]) -> set[int]:
        """Partitions with entries pending outside a commit of ours (a worker that read after
        losing its lease, or a lost connection): they are reclaimed before reading on."""
        ordered = sorted(partitions)
        pipe = self.client.pipeline(transaction=False)
        for partition in ordered:
            pipe.xpending(self.keys.stream(partition), CONSUMER_GROUP)
        return {p for p, summary in zip(ordered, pipe.execute()) if summary["pending"]}

    def _load_parameters(self) -> None:
        self.parameters = active_parameters(self.client, self.keys, self.services.catalog)
        services = self.services
        self.store = services.store_for(self.parameters.model)
        self.store.register_layout()  # the values it writes refer to it
        self.cache.forget_learners()  # their rows were built with the previous model
        log.info("worker %s uses parameters %s", self.name, self.parameters.version or "of the catalog")

    def _step(self, block: bool) -> int:
        """Reclaim or read one round of batches and process them; returns how many."""
        processed = 0
        for partition in sorted(self._recovering):
            processed += self._reclaim(partition)
        readable = sorted(self.leases.owned - self._recovering)
        if readable:
            batches = self._read(readable, block and not processed)
            self._in_hand = set(batches)
            try:
                # One node: the round is one unit (one load, one engine call, one commit). A
                # cluster commits each partition on its own shard.
                for unit in [{p: e} for p, e in batches.items()] if self.cluster else ([batches] if batches else []):
                    processed += self._process_guarded(unit)
            finally:
                self._in_hand = set()
        if not processed and (self._recovering or (block and not readable)):
            # pending entries not yet idle long enough to claim, or nothing owned yet
            self._sleep(min(self.settings.block_ms, self.settings.claim_idle_ms) / 1000)
        return processed

    def _read(self, partitions: list[int], block: bool) -> dict[int, list]:
        batches = self._read_streams(partitions, block, self.sizer.count(self._redis_now_ms()))
        self.sizer.read(batches, self._redis_now_ms())
        return batches

    def _redis_now_ms(self) -> float:
        """Now on Redis's clock, which entry ids carry."""
        return (self.clock() + self._redis_clock_s) * 1000

    def _read_streams(self, partitions: list[int], block: bool, count: int) -> dict[int, list]:
        streams = {self.keys.stream(p): ">" for p in partitions}
        if not self.cluster:
            # One read over every owned stream, blocking until something arrives.
            response = self.client.xreadgroup(
                CONSUMER_GROUP, self.name, streams, count=count, block=self.settings.block_ms if block else None
            )
            by_key = {self.keys.stream(p): p for p in partitions}
            return {by_key[as_text(key)]: entries for key, entries in response or [] if entries}
        # Redis Cluster: a read may only name streams of one slot, so read each partition
        # without blocking (pipelined per node) and poll.
        pipe = self.client.pipeline(transaction=False)
        for key in streams:
            pipe.xreadgroup(CONSUMER_GROUP, self.name, {key: ">"}, count=count)
        batches = {p: response[0][1] for p, response in zip(partitions, pipe.execute()) if response and response[0][1]}
        if not batches and block:
            time.sleep(CLUSTER_POLL_S)
        return batches

    def _reclaim(self, partition: int) -> int:
        """Take over the partition's pending entries (a dead owner's, or ours from a failed
        commit) in stream order; the partition is read normally once none are left."""
        stream = self.keys.stream(partition)
        start = "0-0"
        processed = 0
        while partition in self.leases.owned:
            reply = self.client.xautoclaim(
                stream,
                CONSUMER_GROUP,
                self.name,
                self.settings.claim_idle_ms,
                start_id=start,
                count=self.sizer.count(self._redis_now_ms()),
            )
            start, entries = reply[0], reply[1]
            deleted = reply[2] if len(reply) > 2 else []
            if deleted:  # trimmed by retention before anyone applied them
                log.warning("partition %d: %d pending entries were trimmed unread", partition, len(deleted))
                self.client.xack(stream, CONSUMER_GROUP, *deleted)
            if entries:
                processed += self._process_guarded({partition: entries})
            if as_text(start) == "0-0":
                break
        if self.client.xpending(stream, CONSUMER_GROUP)["pending"] == 0:
            self._recovering.discard(partition)
        return processed

    def _process_guarded(self, batches: dict[int, list]) -> int:
        self._heartbeat_if_due()  # a long round must not let the other leases lapse
        # Partitions lost at that heartbeat are skipped: their entries stay pending for the new owner.
        batches = {p: entries for p, entries in batches.items() if p in self.leases.owned}
        if not batches:
            return 0
        try:
            self.process(batches)
        except LostPartition as lost:
            self._lost(lost.partitions, set(batches))
        except redis.RedisError:
            raise
        except Exception as exc:  # a batch that cannot be processed must not block its partition
            parts = _narrower(batches)
            if parts:
                # What failed may be one entry, or nothing lasting: each part again, down to the
                # entry, so that only what fails alone becomes a dead letter (in stream order).
                log.warning("batch of partitions %s failed (%r); processing it in parts", sorted(batches), exc)
                for part in parts:
                    self._process_guarded(part)
                return 1
            log.exception("entry of partition %s failed alone; it goes to the dead letters", sorted(batches))
            try:
                self._dead_letter_batches(batches, f"batch failed: {exc!r}")
            except LostPartition as lost:
                self._lost(lost.partitions, set(batches))
        return 1

    def _lost(self, lost: set[int], attempted: set[int]) -> None:
        """After a refused commit: drop the partitions now owned by others; reclaim the rest
        (their entries are still pending, read by us)."""
        if lost:
            log.warning("worker %s lost partitions %s mid-batch; their new owners apply them", self.name, sorted(lost))
        self.leases.owned -= lost
        self._recovering = (self._recovering - lost) | (attempted - lost)

    def _dead_letter_batches(self, batches: dict[int, list], reason: str) -> None:
        with self._fenced(list(batches)) as pipe:
            for partition, entries in batches.items():
                for entry_id, fields in entries:
                    letter = {"entry": entry_id, "reason": reason, "payload": repr(fields)[:100_000]}
                    pipe.xadd(self.keys.dead_letters(partition), letter, maxlen=DEAD_LETTERS_MAX, approximate=True)
                pipe.xack(self.keys.stream(partition), CONSUMER_GROUP, *[entry_id for entry_id, _ in entries])

    @contextmanager
    def _fenced(self, partitions: list[int]) -> Iterator[redis.client.Pipeline]:
        """A MULTI/EXEC that commits only while we hold the partitions' leases, and renews them.

        WATCH the leases, check they hold our token, queue the caller's writes, EXEC: if a
        lease changed hands in between, EXEC is refused and LostPartition raised."""
        owners = [self.keys.owner(p) for p in partitions]
        with self.client.pipeline(transaction=True) as pipe:
            pipe.watch(*owners)
            held = pipe.mget(owners) if len(owners) > 1 else [pipe.get(owners[0])]
            lost = {p for p, value in zip(partitions, held) if not self.leases.holds(value)}
            if lost:
                raise LostPartition(lost)
            pipe.multi()
            yield pipe
            for owner in owners:
                pipe.pexpire(owner, self.settings.lease_ttl_ms)
            try:
                pipe.execute()
            except redis.WatchError:
                values = self.client.mget(owners)
                raise LostPartition({p for p, v in zip(partitions, values) if not self.leases.holds(v)}) from None

    # -- one batch ------------------------------------------------------------------------

    def process(self, batches: dict[int, list[tuple[bytes, dict | None]]]) -> BatchResult:
        """Apply one batch of entries (from one or more partitions) exactly once.

        Per partition: 1. decode its events; unreadable ones and ones naming unknown catalog
        ids become dead letters with the reason. 2. Find the learners' rows and the marks of
        the events' days in what we keep of the partition, reading what is not kept (one round
        trip); skip events already marked applied or repeated within the batch; apply the
        rest in stream order; re-rank the learners that changed. Then, for all partitions:
        3. WATCH the partitions' leases and check we hold them; then in one MULTI/EXEC: the
           changed learners (state and ranking, one value each), the learner and cohort
           indexes, the processed-event marks, dead letters, counters, the leases' renewal and
           the XACK of every entry.
        A crash before EXEC leaves the entries pending, to be reclaimed; after it, all is done.
        Raises LostPartition (and writes nothing) when another worker owns a partition.
        """
        try:
            return self._process(batches)
        except BaseException:
            self.cache.forget(set(batches))  # what is in memory may hold what was not committed
            raise

    def _process(self, batches: dict[int, list[tuple[bytes, dict | None]]]) -> BatchResult:
        started = time.perf_counter()
        settings = self.settings
        done = {p: self._apply_partition(p, entries) for p, entries in batches.items()}
        rankings = {p: rank(part.table, part.applied.changed, settings) for p, part in done.items()}
        now = self.clock()
        elapsed = time.perf_counter() - started
        with self._fenced(list(batches)) as pipe:
            for p, entries in batches.items():
                part = done[p]
                queue_writes(
                    pipe, part.table, part.applied.changed, rankings[p], part.applied, now, settings.retention_days
                )
                for letter in part.dead:
                    pipe.xadd(self.keys.dead_letters(p), letter, maxlen=DEAD_LETTERS_MAX, approximate=True)
                record_batch(
                    pipe,
                    self.keys.stats(p),
                    part.applied.applied,
                    part.applied.duplicates,
                    len(part.dead),
                    len(entries),
                    elapsed,
                )
                pipe.xack(self.keys.stream(p), CONSUMER_GROUP, *[entry_id for entry_id, _ in entries])
        self.cache.committed({p: part.table for p, part in done.items()}, {p: part.applied for p, part in done.items()})
        self._note_batch(batches, done, started)
        return self._result(done)

    def _apply_partition(self, partition: int, entries: list[tuple[bytes, dict | None]]) -> PartitionDone:
        """Decode and apply a partition's entries a piece at a time (PIECE_BYTES), each piece
        right after it is decoded."""
        catalog, partitions, model = self.services.catalog, self.settings.partitions, self.parameters.model
        events, dead, parts = 0, [], []
        for piece in pieces(entries, PIECE_BYTES):
            table = self.cache.tables.get(partition)
            decoded = decode_entries(piece, catalog, partition, partitions, table.row_of if table else ())
            events += len(decoded.events)
            dead += decoded.dead
            batch = Batch(decoded.events, decoded.learners)
            table = self.cache.table_for(self.store, partition, batch)
            parts.append(apply_to_table(table, batch, model, self.cache.claim(partition, batch)))
        return PartitionDone(table, merged(parts), events, dead)

    def _note_batch(self, batches: dict[int, list], done: dict[int, PartitionDone], started: float) -> None:
        entries = sum(len(part) for part in batches.values())
        events = sum(part.events + len(part.dead) for part in done.values())
        seconds = time.perf_counter() - started
        self.sizer.processed(entries, events, seconds)
        log.debug(
            "batch: %d entries, %d events, %.1f ms (%.0f ms waited before it)",
            entries,
            events,
            seconds * 1000,
            self.sizer.lag_s * 1000,
        )

    @staticmethod
    def _result(done: dict[int, PartitionDone]) -> BatchResult:
        result = BatchResult()
        for part in done.values():
            result.applied += part.applied.applied
            result.duplicates += part.applied.duplicates
            result.dead += len(part.dead)
            for letter in part.dead:
                log.warning("dead letter: %s", letter["reason"])
        return result


def _redis_time(client: redis.Redis) -> float:
    reply = client.time()
    seconds, micros = next(iter(reply.values())) if isinstance(reply, dict) else reply  # a cluster: one node's
    return seconds + micros / 1e6
