"""What a worker keeps in memory of the partitions it owns: their learners (`LearnerTable`) and
their processed-event marks by event day (`KnownMarks`).

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
from sidecar.processing import Applied, Batch
from skillgap.keys import Keys
from skillgap.learner_store import LearnerStore


class KnownMarks:
    """One partition's marks of the days held in memory, each day complete."""

    def __init__(self) -> None:
        self.days: dict[int, set[str]] = {}
        self.size = 0
        self.asked: dict[int, int] = {}  # days asked of Redis for the batch in hand -> marks Redis had

    def load(self, day: int, marks: set[str]) -> None:
        """All the marks Redis holds for a day."""
        self.size += len(marks) - len(self.days.get(day, ()))
        self.days[day] = marks

    def applied(self, day: int, marks: list[str]) -> list[bool]:
        """Per mark of a day held: whether it is there (its event was applied before)."""
        held = self.days[day]
        return [mark in held for mark in marks]

    def add(self, marks: dict[int, list[str]]) -> None:
        """Marks a commit wrote, for the days held."""
        for day, added in marks.items():
            held = self.days.get(day)
            if held is not None:
                before = len(held)
                held.update(added)
                self.size += len(held) - before

    def trim(self, capacity: int) -> None:
        """Drop the oldest days until at most `capacity` marks are held (a day not held is
        asked of Redis)."""
        for day in sorted(self.days):
            if self.size <= capacity:
                break
            self.size -= len(self.days.pop(day))


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
        before). From the days kept; the others are asked of Redis with their size (one round
        trip for all partitions), for `committed` to keep them from then on if they fit."""
        before = {p: np.zeros(len(batch), dtype=bool) for p, batch in batches.items()}
        asked = []
        pipe = self.client.pipeline(transaction=False)
        for p, batch in batches.items():
            known = self._known(p)
            for day, (positions, marks) in batch.marks_by_day.items():
                if day in known.days:
                    before[p][positions] = known.applied(day, marks)
                else:
                    pipe.smismember(self.keys.applied(p, day), marks)
                    pipe.scard(self.keys.applied(p, day))
                    asked.append((p, day, positions))
        if asked:
            replies = pipe.execute()
            for (p, day, positions), flags, size in zip(asked, replies[::2], replies[1::2]):
                before[p][positions] = flags
                self.marks[p].asked[day] = size
        return before

    def committed(self, tables: dict[int, LearnerTable], applied: dict[int, Applied]) -> None:
        """After a commit: the learners it wrote are in their learner index; its marks are
        kept for the days held, and the days asked of Redis for it are kept from now on if
        they fit (empty ones at once, others read back); tables over their share of the
        learners are dropped."""
        marks_share = self.marks_capacity // max(1, self.owned)
        loads = []
        for p, part in applied.items():
            tables[p].unindexed.difference_update(part.changed.tolist())
            added = part.marks
            known = self.marks[p]
            for day, size in known.asked.items():
                if not size:
                    known.load(day, set())
                elif known.size + size + len(added.get(day, ())) <= marks_share:
                    loads.append((p, day))
            known.asked.clear()
            known.add(added)
        if loads:
            pipe = self.client.pipeline(transaction=False)
            for p, day in loads:
                pipe.smembers(self.keys.applied(p, day))
            for (p, day), held in zip(loads, pipe.execute()):
                self.marks[p].load(day, {mark.decode() for mark in held})
        learners_share = self.learners_capacity // max(1, self.owned)
        for p, table in tables.items():
            self.marks[p].trim(marks_share)
            if len(table) > learners_share:
                del self.tables[p]

    def _known(self, partition: int) -> KnownMarks:
        if partition not in self.marks:
            self.marks[partition] = KnownMarks()
        return self.marks[partition]
