"""Stream worker: reads batches of events from the partition streams, runs the engine,
and writes mastery, recommendations, processed-event marks and the acknowledgement in
one MULTI/EXEC per batch."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import orjson
import redis

from engine import apply_events, recommend
from skillgap.eventlog import decode_entry
from skillgap.events import ACTIVITY_KINDS, Event, EventError
from skillgap.explain import recommendation_items
from skillgap.keys import CONSUMER_GROUP
from skillgap.learner_store import LearnerRecord
from skillgap.services import Services

log = logging.getLogger(__name__)
SECONDS_PER_DAY = 86_400


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
        self.partitions = partitions if partitions is not None else list(range(self.settings.partitions))
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self.clock = clock
        self._stopping = False
        self._streams = {self.keys.stream(p): p for p in self.partitions}
        ensure_groups(self.client, list(self._streams))

    def stop(self) -> None:
        """Finish the batch in hand, then return from run()."""
        self._stopping = True

    def run(self, burst: bool = False, max_batches: int | None = None) -> bool:
        """Process batches until stop(); with `burst`, only until the streams are drained.

        Returns whether any entry was processed. Entries this consumer read but never
        acknowledged (it died mid-batch) are processed first.
        """
        did_work = False
        batches = 0
        backlog = True
        while not self._stopping and (max_batches is None or batches < max_batches):
            start_id = "0" if backlog else ">"
            block = None if (burst or backlog) else self.settings.block_ms
            response = self.client.xreadgroup(
                CONSUMER_GROUP,
                self.name,
                {key: start_id for key in self._streams},
                count=self.settings.batch_entries,
                block=block,
            )
            entries_read = False
            for stream_key, entries in response or []:
                if not entries:
                    continue
                entries_read = True
                key = stream_key.decode() if isinstance(stream_key, bytes) else stream_key
                self.process(self._streams[key], entries)
                batches += 1
                did_work = True
            if not entries_read:
                if backlog:
                    backlog = False
                elif burst:
                    break
        return did_work

    def process(self, partition: int, entries: list[tuple[bytes, dict]]) -> BatchResult:
        """Apply one batch of a partition's entries exactly once.

        1. Decode every event; unreadable ones and ones naming unknown catalog ids go to the
           dead-letter stream with the reason.
        2. Drop events already applied (their id is in the processed-event marks).
        3. Load the learners' state, apply the events in stream order, re-rank modules.
        4. In one MULTI/EXEC: learner state and recommendations, the learner index,
           processed-event marks, dead letters and the XACK of every entry.
        A crash before EXEC leaves the entries pending, to be read again; after it, all is done.
        """
        result = BatchResult()
        services = self.services
        catalog = services.catalog
        stream = self.keys.stream(partition)
        dead: list[dict] = []
        events: list[Event] = []
        for entry_id, fields in entries:
            try:
                raw_events = decode_entry(fields)
            except ValueError as exc:
                dead.append({"entry": entry_id, "reason": str(exc), "payload": repr(fields)[:2000]})
                continue
            for raw in raw_events:
                try:
                    event = Event.from_wire(raw)
                    if event.module is not None and event.module not in catalog.module_index:
                        raise EventError("module", f"unknown module {event.module!r}")
                    if event.role is not None and event.role not in catalog.role_index:
                        raise EventError("role", f"unknown role {event.role!r}")
                except EventError as exc:
                    dead.append({"entry": entry_id, "reason": str(exc), "payload": orjson.dumps(raw)})
                    continue
                events.append(event)

        marks = self._unapplied(partition, events)
        fresh = [event for event, mark in zip(events, marks) if mark is not None]
        result.duplicates = len(events) - len(fresh)
        result.dead = len(dead)
        records = self._load(fresh)
        cohorts = self._apply(fresh, records) if fresh else {}
        now = self.clock()

        pipe = self.client.pipeline(transaction=True)
        for (tenant, learner), record in records.items():
            record.updated = now
            pipe.hset(services.learners.key(tenant, learner), mapping=services.learners.encode(record))
            pipe.zadd(self.keys.learner_index(partition, tenant), {learner: 0})
        for (tenant, cohort), learners in cohorts.items():
            pipe.zadd(self.keys.cohort_index(partition, tenant, cohort), dict.fromkeys(learners, 0))
            pipe.zadd(self.keys.cohorts(partition, tenant), {cohort: 0})
        retention_s = int(self.settings.retention_days * SECONDS_PER_DAY)
        for bucket, members in _by_bucket(marks).items():
            pipe.sadd(self.keys.applied(partition, bucket), *members)
            pipe.expire(self.keys.applied(partition, bucket), retention_s)
        for letter in dead:
            pipe.xadd(self.keys.dead_letters(partition), letter, maxlen=100_000, approximate=True)
        pipe.xack(stream, CONSUMER_GROUP, *[entry_id for entry_id, _ in entries])
        pipe.execute()
        for letter in dead:
            log.warning("dead letter in partition %d: %s", partition, letter["reason"])
        result.applied = len(fresh)
        result.learners = set(records)
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
        store = self.services.learners
        learners = list(dict.fromkeys((e.tenant, e.learner) for e in events))
        pipe = self.client.pipeline(transaction=False)
        for tenant, learner in learners:
            pipe.hgetall(store.key(tenant, learner))
        records = {}
        for (tenant, learner), raw in zip(learners, pipe.execute()):
            records[(tenant, learner)] = store.decode(tenant, learner, raw) or store.new(tenant, learner)
        return records

    def _apply(
        self, events: list[Event], records: dict[tuple[str, str], LearnerRecord]
    ) -> dict[tuple[str, str], set[str]]:
        """Update role, cohorts and state of the learners in `records`; re-rank their modules.

        Returns the learners newly seen in each (tenant, cohort).
        """
        services = self.services
        catalog, model, store = services.catalog, services.model, services.learners
        order = list(records)
        row_of = {key: row for row, key in enumerate(order)}
        joined: dict[tuple[str, str], set[str]] = {}
        activities = []
        for event in events:
            record = records[(event.tenant, event.learner)]
            if event.role is not None:
                record.role = event.role
            if event.cohort is not None:
                joined.setdefault((event.tenant, event.cohort), set()).add(event.learner)
                if event.cohort not in record.cohorts:
                    record.cohorts = (*record.cohorts, event.cohort)
            if event.kind in ACTIVITY_KINDS:
                record.events += 1
                activities.append(event)
        state = np.stack([records[key].state for key in order])
        if activities:
            n = len(activities)
            learner = np.empty(n, dtype=np.int64)
            module = np.empty(n, dtype=np.int64)
            kind = np.empty(n, dtype=np.int64)
            score = np.empty(n)
            when = np.empty(n)
            for e, event in enumerate(activities):
                learner[e] = row_of[(event.tenant, event.learner)]
                module[e] = catalog.module_index[event.module]
                kind[e] = int(ACTIVITY_KINDS[event.kind])
                score[e] = np.nan if event.score is None else event.score
                when[e] = event.timestamp
            state = apply_events(state, model, learner, module, kind, score, when)
        targets = np.stack([store.targets_of(records[key]) for key in order])
        now = self.clock()
        recs = recommend(
            state,
            targets,
            model,
            now=now,
            k=self.settings.recommendations_per_learner,
            prerequisite_threshold=self.settings.prerequisite_threshold,
        )
        for row, key in enumerate(order):
            record = records[key]
            record.state = state[row]
            record.recommendations = recommendation_items(catalog, model, recs, row, targets[row])
            record.recommended_at = now
        return joined


def _by_bucket(marks: list[tuple[int, str] | None]) -> dict[int, list[str]]:
    grouped: dict[int, list[str]] = {}
    for mark in marks:
        if mark is not None:
            grouped.setdefault(mark[0], []).append(mark[1])
    return grouped
