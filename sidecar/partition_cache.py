"""What a worker keeps in memory of the partitions it owns: their learners (`LearnerTable`) and
their processed-event marks by tenant and event day (`KnownMarks`).

While a worker holds a partition's lease only its own commits write the partition's learners
and marks (replay takes the lease first), so what it committed need not be read back: a batch
of known learners and days needs no round trip before its commit. Everything of a partition is
dropped (`forget`) whenever its lease is lost or regained, a batch fails or Redis fails; the
learners also when the parameters change.
"""

from __future__ import annotations

import numpy as np
import redis

from sidecar.learner_table import LearnerTable
from sidecar.marks import KnownMarks, read_marks
from sidecar.processing import Applied, Batch
from skillgap.keys import Keys
from skillgap.learner_store import LearnerStore


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

    def tables_for(self, store: LearnerStore, batches: dict[int, Batch]) -> dict[int, LearnerTable]:
        """Each partition's table, with a row for every learner its events name: kept, else
        read (one round trip for all partitions), else new."""
        for p in batches:
            if p not in self.tables:
                self.tables[p] = LearnerTable(store, p)
        tables = {p: self.tables[p] for p in batches}
        missing = {p: tables[p].missing(batch.learners) for p, batch in batches.items()}
        missing = {p: learners for p, learners in missing.items() if learners}
        if missing:
            pipe = self.client.pipeline(transaction=False)
            for p, learners in missing.items():
                # As a raw command: redis-py refuses pipe.mget() on a cluster, though a
                # partition's keys are in one slot.
                pipe.execute_command("MGET", *[self.keys.learner(p, tenant, learner) for tenant, learner in learners])
            for (p, learners), values in zip(missing.items(), pipe.execute()):
                tables[p].add(learners, [store.decode(*key, raw, explain=False) for key, raw in zip(learners, values)])
        return tables

    def applied_before(self, batches: dict[int, Batch]) -> dict[int, np.ndarray]:
        """Per partition and event: whether the partition holds its mark (it was applied
        before). From the groups kept; the others are read from Redis first (one round trip
        for all partitions) and kept, until `committed` trims them to the capacity."""
        wanted = [(p, group) for p, batch in batches.items() for group in batch.marks_by_group
                  if group not in self._known(p).groups]  # fmt: skip
        for (p, group), marks in zip(wanted, read_marks(self.client, self.keys, wanted)):
            self.marks[p].load(group, marks)
        before = {}
        for p, batch in batches.items():
            flags = before[p] = np.zeros(len(batch), dtype=bool)
            for group, (positions, ids) in batch.marks_by_group.items():
                flags[positions] = self.marks[p].applied(group, ids)
        return before

    def committed(self, tables: dict[int, LearnerTable], applied: dict[int, Applied]) -> None:
        """After a commit: the learners it wrote are in their learner index; its marks are
        kept; what is over its share of the capacity is dropped (marks of the oldest days
        first, whole tables of learners)."""
        marks_share = self.marks_capacity // max(1, self.owned)
        learners_share = self.learners_capacity // max(1, self.owned)
        for p, part in applied.items():
            tables[p].unindexed.difference_update(part.changed.tolist())
            known = self._known(p)
            known.add(part.marks)
            known.trim(marks_share)
            if len(tables[p]) > learners_share:
                del self.tables[p]

    def _known(self, partition: int) -> KnownMarks:
        if partition not in self.marks:
            self.marks[partition] = KnownMarks()
        return self.marks[partition]
