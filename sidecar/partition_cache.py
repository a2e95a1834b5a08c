"""What a worker keeps in memory of the partitions it owns: their learners (`LearnerTable`) and
their processed-event marks by tenant and event day (`KnownMarks`).

While a worker holds a partition's lease only its own commits write the partition's learners
and marks (replay takes the lease first), so what it committed need not be read back: a batch
of known learners and days needs no round trip before its commit, and the worker can apply
each piece of a partition's events right after decoding it, while it is in the CPU's cache.
Everything of a partition is dropped (`forget`) whenever its lease is lost or regained, a
batch fails or Redis fails; the learners also when the parameters change.
"""

from __future__ import annotations

import numpy as np
import redis

from core.keys import Keys
from core.learner_store import LearnerStore
from sidecar.learner_table import LearnerTable
from sidecar.marks import KnownMarks, read_marks
from sidecar.processing import Applied, Batch, fresh_events

MARKS_READ_DAYS = 64  # at most this many days of marks read at once per tenant


class PartitionCache:
    def __init__(self, client: redis.Redis, keys: Keys, learners_capacity: int, marks_capacity: int):
        self.client = client
        self.keys = keys
        self.learners_capacity = learners_capacity  # per worker, shared by the partitions it owns
        self.marks_capacity = marks_capacity
        self.owned = 1  # partitions the worker owns (it says when that changes)
        self.tables: dict[int, LearnerTable] = {}
        self.marks: dict[int, KnownMarks] = {}

    def forget(self, partitions: set[int]) -> None:
        """Drop what is kept of these partitions; it is read from Redis again."""
        for partition in partitions:
            self.tables.pop(partition, None)
            self.marks.pop(partition, None)

    def forget_everything(self) -> None:
        self.forget(set(self.tables) | set(self.marks))

    def forget_learners(self) -> None:
        self.tables.clear()

    def table_for(self, store: LearnerStore, partition: int, batch: Batch) -> LearnerTable:
        """The partition's table, with a row for every learner the batch names: kept, else read
        (one round trip), else new."""
        table = self.tables.get(partition)
        if table is None:
            table = self.tables[partition] = LearnerTable(store, partition)
        missing = table.missing(batch.distinct_learners)
        if missing:
            # As a raw command: redis-py refuses mget() on a cluster, though a partition's keys
            # are in one slot.
            values = self.client.execute_command("MGET", *[self.keys.learner(partition, *key) for key in missing])
            table.add(missing, [store.decode(*key, raw, explain=False) for key, raw in zip(missing, values)])
        return table

    def claim(self, partition: int, batch: Batch) -> np.ndarray:
        """Per event: whether it is new (not marked applied, not repeated earlier in the
        batch); the new ones are marked at once (before their commit: the rest of the batch
        must see them; a failed commit makes the worker forget the partition). From the
        groups kept; the others are read from Redis first (one round trip) and kept, until
        `committed` trims them to the capacity. A read takes every day between the batch's
        first and last (up to MARKS_READ_DAYS), so that the next pieces find their days held."""
        known = self._known(partition)
        groups = batch.marks_by_group
        days = sorted({day for _, day in groups})
        span = range(days[0], days[-1] + 1) if days and days[-1] - days[0] < MARKS_READ_DAYS else days
        wanted = [
            (partition, (tenant, day))
            for tenant in {tenant for tenant, _ in groups}
            for day in span
            if (tenant, day) not in known.groups
        ]
        for (_, group), marks in zip(wanted, read_marks(self.client, self.keys, wanted)):
            known.load(group, marks)
        return fresh_events(known, batch)

    def committed(self, tables: dict[int, LearnerTable], applied: dict[int, Applied]) -> None:
        """After a commit: the learners it wrote are in their learner index; what is over its
        share of the capacity is dropped (marks of the oldest days first, whole tables of
        learners)."""
        marks_share = self.marks_capacity // max(1, self.owned)
        learners_share = self.learners_capacity // max(1, self.owned)
        for p, part in applied.items():
            tables[p].unindexed.difference_update(part.changed.tolist())
            self._known(p).trim(marks_share)
            if len(tables[p]) > learners_share:
                del self.tables[p]

    def _known(self, partition: int) -> KnownMarks:
        if partition not in self.marks:
            self.marks[partition] = KnownMarks()
        return self.marks[partition]
