"""The learners of one partition in memory, as columns.

A batch touches thousands of learners. With one Python object per learner, gathering,
ranking and encoding them cost more than the events themselves and set the batch latency
(issue 4's freshness); as columns, a batch gathers the rows it changed, runs the engine on
them and writes them back with a few array operations. Workers keep a partition's table
between batches while they hold its lease (no one else writes those learners); replay builds
one from fresh learners.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import filterfalse

import numpy as np

from core.learner_store import MAX_COHORTS, LearnerRecord, LearnerStore, learner_numbers, meta_json, ranking_lists
from core.wire import NO_ROLE
from engine import STATE_FIELDS, Recommendations, new_state

Learner = tuple[str, str]  # (tenant, learner)
NO_COHORT = -1


class CohortCodes(dict):
    """Cohort name -> a small integer, given out on first sight (None: NO_COHORT)."""

    def __init__(self) -> None:
        super().__init__({None: NO_COHORT})

    def __missing__(self, cohort: str) -> int:
        code = self[cohort] = len(self) - 1
        return code


class LearnerTable:
    def __init__(self, store: LearnerStore, partition: int):
        self.store = store
        self.partition = partition
        self.learners: list[Learner] = []  # row -> (tenant, learner)
        self.row_of: dict[Learner, int] = {}
        self.value_keys: list[str] = []  # row -> the Redis key of the learner's value
        n_points = store.model.n_points
        self.state = np.empty((0, STATE_FIELDS, n_points))  # rows past len(self) are spare capacity
        self.events = np.zeros(0, np.int64)
        self.as_of = np.zeros(0)  # the latest event time: rankings are as of it (see processing.py)
        self.roles = np.zeros(0, np.int64)  # the catalog's index of each row's role; NO_ROLE: none
        self.cohorts: list[tuple[str, ...]] = []  # sorted, at most MAX_COHORTS, as stored
        # A cohort each row is known to be in (its code in `cohort_codes`, or NO_COHORT): an event
        # naming it needs no further look.
        self.cohort_seen = np.zeros(0, np.int64)
        self.cohort_codes = CohortCodes()
        self.metas: list[bytes | None] = []  # the stored value's JSON part (None: changed since)
        self.unindexed: set[int] = set()  # rows not yet in their tenant's learner index

    def __len__(self) -> int:
        return len(self.learners)

    def missing(self, learners: Iterable[Learner]) -> list[Learner]:
        """Those of the (distinct) learners that have no row yet, in their order."""
        return list(filterfalse(self.row_of.__contains__, learners))

    def add(self, learners: list[Learner], records: list[LearnerRecord | None]) -> None:
        """Rows for learners from their stored records; None: a learner never seen (the prior)."""
        start, end = len(self), len(self) + len(learners)
        self._reserve(end)
        keys = self.store.keys
        self.learners.extend(learners)
        self.row_of.update(zip(learners, range(start, end)))
        self.value_keys.extend([keys.learner(self.partition, *learner) for learner in learners])
        self.state[start:end] = new_state(self.store.model, 1)[0]
        self.events[start:end], self.as_of[start:end], self.roles[start:end] = 0, 0.0, NO_ROLE
        self.cohort_seen[start:end] = NO_COHORT
        self.cohorts.extend([()] * len(learners))
        self.metas.extend([None] * len(learners))
        for row, record in enumerate(records, start):
            if record is None:
                self.unindexed.add(row)
                continue
            self.state[row] = record.state
            self.events[row], self.as_of[row] = record.events, record.recommended_at
            self.roles[row] = self.store.catalog.role_index.get(record.role, NO_ROLE)
            self.cohorts[row] = tuple(sorted(record.cohorts)[-MAX_COHORTS:])

    def _reserve(self, rows: int) -> None:
        if rows <= self.state.shape[0]:
            return
        capacity = max(rows, 2 * self.state.shape[0], 64)  # doubling: new learners arrive in most batches
        self.state = _grown(self.state, capacity)
        self.events = _grown(self.events, capacity)
        self.as_of = _grown(self.as_of, capacity)
        self.roles = _grown(self.roles, capacity)
        self.cohort_seen = _grown(self.cohort_seen, capacity)

    def set_role(self, row: int, role: int) -> None:
        if role != self.roles[row]:
            self.roles[row], self.metas[row] = role, None

    def join(self, row: int, cohort: str) -> bool:
        """Add the learner to a cohort; False when it was in it already."""
        self.cohort_seen[row] = self.cohort_codes[cohort]
        cohorts = self.cohorts[row]
        if cohort in cohorts:
            return False
        self.cohorts[row], self.metas[row] = tuple(sorted((*cohorts, cohort))[-MAX_COHORTS:]), None
        return True

    def role_name(self, row: int) -> str | None:
        role = int(self.roles[row])
        return None if role == NO_ROLE else self.store.catalog.roles[role].id

    def record(self, row: int, ranking: dict[str, list] | None = None) -> LearnerRecord:
        """One row as a LearnerRecord (replay compares these with the stored ones)."""
        tenant, learner = self.learners[row]
        return LearnerRecord(
            tenant,
            learner,
            self.state[row].copy(),
            self.role_name(row),
            self.cohorts[row],
            int(self.events[row]),
            recommended_at=float(self.as_of[row]),
            ranking=ranking or {},
        )

    def values(self, rows: np.ndarray, rankings: Recommendations, now: float) -> list[bytes]:
        """The stored values of `rows` (ranked in `rankings`, in the same order), updated `now`."""
        numbers = learner_numbers(
            self.events[rows],
            now,
            self.as_of[rows],
            rankings.module,
            rankings.action,
            rankings.gain,
            rankings.gain_per_minute,
            rankings.information,
            self.state[rows],
        )
        return self.store.values([self._meta(row) for row in rows.tolist()], numbers)

    def _meta(self, row: int) -> bytes:
        meta = self.metas[row]
        if meta is None:
            meta = self.metas[row] = meta_json(self.role_name(row), self.cohorts[row])
        return meta

    def ranking(self, rankings: Recommendations, i: int) -> dict[str, list]:
        """The `i`-th ranking as the stored parallel lists."""
        return ranking_lists(
            rankings.module[i],
            rankings.action[i],
            rankings.gain[i],
            rankings.gain_per_minute[i],
            rankings.information[i],
            self.store.layout.modules,
        )


def _grown(array: np.ndarray, capacity: int) -> np.ndarray:
    grown = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    grown[: array.shape[0]] = array
    return grown
