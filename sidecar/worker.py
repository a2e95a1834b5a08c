"""Stream worker: owns some partitions, reads their events in batches, runs the engine, and
commits mastery, recommendations, processed-event marks, counters and the XACK in one
MULTI/EXEC per batch, fenced by the partition's lease.

Exactly once: an event is applied by the commit that acknowledges its entry and marks its id;
that commit is all or nothing, and refused when the lease moved (WATCH), so a crash or pause at
any point leaves either nothing or everything written. Entries left pending by a dead owner are
reclaimed with XAUTOCLAIM, in stream order, before the new owner reads anything newer.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis
from redis.cluster import RedisCluster

from sidecar.metrics import record_batch
from sidecar.ownership import Leases
from sidecar.processing import apply_to_records, decode_entries, queue_writes, rank
from skillgap.events import Event
from skillgap.keys import CONSUMER_GROUP
from skillgap.learner_store import LearnerRecord, LearnerStore
from skillgap.params import active_parameters, active_version
from skillgap.services import Services

log = logging.getLogger(__name__)
SECONDS_PER_DAY = 86_400
CLUSTER_POLL_S = 0.005  # on Redis Cluster reads do not block (one slot per read); poll this often
DEAD_LETTERS_MAX = 100_000


class LostPartition(Exception):
    """The partition's lease moved to another worker; this batch must not be written."""


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    dead: int = 0
    learners: set[tuple[str, str]] = field(default_factory=set)


def ensure_groups(client: redis.Redis, stream_keys: list[str]) -> None:
    for key in stream_keys:
        try:
            client.xgroup_create(key, CONSUMER_GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


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
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        candidates = partitions if partitions is not None else list(range(self.settings.partitions))
        self.leases = Leases(self.client, self.keys, candidates, self.settings.lease_ttl_ms, self.name)
        self.cluster = isinstance(self.client, RedisCluster)
        self._stopping = False
        self._recovering: set[int] = set()  # owned partitions whose pending entries come first
        self._next_heartbeat = 0.0
        self._load_parameters()
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
        try:
            while not self._stopping and (max_batches is None or batches < max_batches):
                try:
                    self._heartbeat_if_due()
                    processed = self._step(block=not burst)
                    failures = 0
                except (redis.ConnectionError, redis.TimeoutError) as exc:
                    failures += 1
                    delay = min(self.settings.reconnect_max_s, 0.1 * 2 ** min(failures, 20))
                    log.warning("worker %s lost Redis (%s); retrying in %.1f s", self.name, exc, delay)
                    self._recovering |= self.leases.owned  # what we read may be pending: reclaim first
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
        if gained or lost:
            log.info("worker %s: gained %s, lost %s, owns %s", self.name, sorted(gained), sorted(lost),
                     sorted(self.leases.owned))  # fmt: skip
        self._recovering = (self._recovering - lost) | gained | self._with_pending(self.leases.owned - gained)
        if active_version(self.client, self.keys) != self.parameters.version:
            self._load_parameters()
        self._next_heartbeat = time.monotonic() + self.settings.lease_ttl_ms / 3000

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
        self.store = LearnerStore(self.client, self.keys, self.settings.partitions, services.catalog,
                                  self.parameters.model)  # fmt: skip
        log.info("worker %s uses parameters %s", self.name, self.parameters.version or "of the catalog")

    def _step(self, block: bool) -> int:
        """Reclaim or read one round of batches and process them; returns how many."""
        processed = 0
        for partition in sorted(self._recovering):
            processed += self._reclaim(partition)
        readable = sorted(self.leases.owned - self._recovering)
        if not readable or (self._recovering and not processed):
            if not processed and (block or self._recovering):
                self._sleep(min(self.settings.block_ms, self.settings.claim_idle_ms) / 1000)
            if not readable:
                return processed
        for partition, entries in self._read(readable, block and not processed):
            processed += self._process_guarded(partition, entries)
        return processed

    def _read(self, partitions: list[int], block: bool) -> list[tuple[int, list]]:
        count = self.settings.batch_entries
        streams = {self.keys.stream(p): ">" for p in partitions}
        if not self.cluster:
            # One read over every owned stream, blocking until something arrives.
            response = self.client.xreadgroup(
                CONSUMER_GROUP, self.name, streams, count=count, block=self.settings.block_ms if block else None
            )
            by_key = {self.keys.stream(p): p for p in partitions}
            return [(by_key[_text(key)], entries) for key, entries in response or [] if entries]
        # Redis Cluster: a read may only name streams of one slot, so read each partition
        # without blocking (pipelined per node) and poll.
        pipe = self.client.pipeline(transaction=False)
        for key in streams:
            pipe.xreadgroup(CONSUMER_GROUP, self.name, {key: ">"}, count=count)
        batches = [(p, response[0][1]) for p, response in zip(partitions, pipe.execute()) if response and response[0][1]]
        if not batches and block:
            time.sleep(CLUSTER_POLL_S)
        return batches

    def _reclaim(self, partition: int) -> int:
        """Take over the partition's pending entries (a dead owner's, or ours from a failed
        commit) in stream order; the partition is read normally once none are left."""
        stream = self.keys.stream(partition)
        start = "0-0"
        processed = 0
        while True:
            reply = self.client.xautoclaim(
                stream, CONSUMER_GROUP, self.name, self.settings.claim_idle_ms, start_id=start,
                count=self.settings.batch_entries,
            )  # fmt: skip
            start, entries = reply[0], reply[1]
            deleted = reply[2] if len(reply) > 2 else []
            if deleted:  # trimmed by retention before anyone applied them
                log.warning("partition %d: %d pending entries were trimmed unread", partition, len(deleted))
                self.client.xack(stream, CONSUMER_GROUP, *deleted)
            if entries:
                processed += self._process_guarded(partition, entries)
            if _text(start) == "0-0":
                break
        if self.client.xpending(stream, CONSUMER_GROUP)["pending"] == 0:
            self._recovering.discard(partition)
        return processed

    def _process_guarded(self, partition: int, entries: list) -> int:
        try:
            self.process(partition, entries)
        except LostPartition:
            self._lost(partition)
        except redis.RedisError:
            raise
        except Exception as exc:  # a batch that cannot be processed must not block its partition
            log.exception("partition %d: batch failed; its %d entries go to the dead letters", partition, len(entries))
            try:
                self._dead_letter_batch(partition, entries, f"batch failed: {exc!r}")
            except LostPartition:
                self._lost(partition)
        return 1

    def _lost(self, partition: int) -> None:
        log.warning("worker %s lost partition %d mid-batch; its new owner will apply it", self.name, partition)
        self.leases.owned.discard(partition)
        self._recovering.discard(partition)

    def _dead_letter_batch(self, partition: int, entries: list, reason: str) -> None:
        with self._fenced(partition) as pipe:
            for entry_id, fields in entries:
                payload = repr(fields)[:100_000]
                pipe.xadd(self.keys.dead_letters(partition), {"entry": entry_id, "reason": reason, "payload": payload},
                          maxlen=DEAD_LETTERS_MAX, approximate=True)  # fmt: skip
            pipe.xack(self.keys.stream(partition), CONSUMER_GROUP, *[entry_id for entry_id, _ in entries])

    @contextmanager
    def _fenced(self, partition: int) -> Iterator[redis.client.Pipeline]:
        """A MULTI/EXEC that commits only while we hold the partition's lease, and renews it.

        WATCH the lease, check it holds our token, queue the caller's writes, EXEC: if the
        lease changed hands in between, EXEC is refused and LostPartition raised."""
        owner = self.keys.owner(partition)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.watch(owner)
            if not self.leases.holds(pipe.get(owner)):
                raise LostPartition(partition)
            pipe.multi()
            yield pipe
            pipe.pexpire(owner, self.settings.lease_ttl_ms)
            try:
                pipe.execute()
            except redis.WatchError:
                raise LostPartition(partition) from None

    # -- one batch ------------------------------------------------------------------------

    def process(self, partition: int, entries: list[tuple[bytes, dict | None]]) -> BatchResult:
        """Apply one batch of a partition's entries exactly once.

        1. Decode every event; unreadable ones and ones naming unknown catalog ids become dead
           letters with the reason.
        2. Drop events already applied (their id is in the processed-event marks) or repeated
           within the batch.
        3. Load the learners' state, apply the events in stream order, re-rank modules.
        4. WATCH the partition's lease and check we hold it; then in one MULTI/EXEC: learner
           state and recommendations, learner and cohort indexes, processed-event marks, dead
           letters, counters, the lease's renewal and the XACK of every entry.
        A crash before EXEC leaves the entries pending, to be reclaimed; after it, all is done.
        Raises LostPartition (and writes nothing) when another worker owns the partition.
        """
        started = time.perf_counter()
        services = self.services
        stream = self.keys.stream(partition)
        decoded = decode_entries(entries, services.catalog)
        marks = self._unapplied(partition, decoded.events)
        fresh = [event for event, mark in zip(decoded.events, marks) if mark is not None]
        records = self._load(fresh)
        cohorts = {}
        if records:
            settings = self.settings
            cohorts = apply_to_records(fresh, records, self.store, self.parameters.model)
            rank(list(records.values()), self.store, self.parameters.model, settings.recommendations_per_learner,
                 settings.prerequisite_threshold)  # fmt: skip
        result = BatchResult(len(fresh), len(decoded.events) - len(fresh), len(decoded.dead), set(records))

        with self._fenced(partition) as pipe:
            queue_writes(pipe, self.store, partition, records, cohorts, self.clock())
            retention_s = int(self.settings.retention_days * SECONDS_PER_DAY)
            for bucket, members in _by_bucket(marks).items():
                pipe.sadd(self.keys.applied(partition, bucket), *members)
                pipe.expire(self.keys.applied(partition, bucket), retention_s)
            for letter in decoded.dead:
                pipe.xadd(self.keys.dead_letters(partition), letter, maxlen=DEAD_LETTERS_MAX, approximate=True)
            record_batch(pipe, self.keys.stats(partition), result.applied, result.duplicates, result.dead,
                         len(entries), time.perf_counter() - started)  # fmt: skip
            pipe.xack(stream, CONSUMER_GROUP, *[entry_id for entry_id, _ in entries])
        for letter in decoded.dead:
            log.warning("dead letter in partition %d: %s", partition, letter["reason"])
        return result

    def _unapplied(self, partition: int, events: list[Event]) -> list[tuple[int, str] | None]:
        """Each event's processed-event mark (day bucket, member), or None if already applied."""
        marks: list[tuple[int, str] | None] = []
        positions: dict[int, list[int]] = {}
        seen_in_batch: set[str] = set()
        for position, event in enumerate(events):
            member = f"{event.tenant}\x1f{event.id}"
            if member in seen_in_batch:
                marks.append(None)
                continue
            seen_in_batch.add(member)
            bucket = int(event.timestamp // SECONDS_PER_DAY)
            marks.append((bucket, member))
            positions.setdefault(bucket, []).append(position)
        if positions:
            pipe = self.client.pipeline(transaction=False)
            for bucket, where in positions.items():
                pipe.smismember(self.keys.applied(partition, bucket), [marks[i][1] for i in where])
            for where, flags in zip(positions.values(), pipe.execute()):
                for position, already in zip(where, flags):
                    if already:
                        marks[position] = None
        return marks

    def _load(self, events: list[Event]) -> dict[tuple[str, str], LearnerRecord]:
        store = self.store
        learners = list(dict.fromkeys((e.tenant, e.learner) for e in events))
        if not learners:
            return {}
        pipe = self.client.pipeline(transaction=False)
        for tenant, learner in learners:
            pipe.hgetall(store.key(tenant, learner))
        records = {}
        for (tenant, learner), raw in zip(learners, pipe.execute()):
            records[(tenant, learner)] = store.decode(tenant, learner, raw) or store.new(tenant, learner)
        return records


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _by_bucket(marks: list[tuple[int, str] | None]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = {}
    for mark in marks:
        if mark is not None:
            grouped.setdefault(mark[0], []).append(mark[1])
    return grouped
