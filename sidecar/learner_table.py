"""The learners of one partition in memory, as columns.

A batch touches thousands of learners. With one Python object per learner, gathering,
ranking and encoding them cost more than the events themselves and set the batch latency
(issue 4's freshness); as columns, a batch gathers the rows it changed, runs the engine on
them and writes them back with a few array operations. Workers keep a partition's table
between batches while they hold its lease (no one else writes those learners); replay builds
one from fresh learners.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from itertools import filterfalse

import numpy as np

from core.learner_store import MAX_COHORTS, LearnerRecord, LearnerStore, learner_numbers, meta_json, ranking_lists
from core.mandatory import enrolment_times
from core.people import start_times
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
        # Mandatory modules (core/mandatory.py): the earliest event's time (inf: none yet), the
        # start date from HR (NaN: none), when each mandatory module was first completed (inf: not)
        self.first_seen = np.zeros(0)
        self.start = np.zeros(0)
        self.done = np.zeros((0, len(store.due_rules.ids)))
        self.start_unread: set[int] = set()  # rows enrolled since HR's start date was last read
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
        self.first_seen[start:end], self.start[start:end], self.done[start:end] = np.inf, np.nan, np.inf
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
            self.first_seen[row] = np.inf if record.first_seen is None else record.first_seen
            self.start[row] = np.nan if record.start is None else record.start
            for module, completed in record.done.items():
                q = self.store.catalog.module_index.get(module)
                if q is not None and self.store.due_rules.column[q] >= 0:  # still mandatory
                    self.done[row, self.store.due_rules.column[q]] = completed

    def _reserve(self, rows: int) -> None:
        if rows <= self.state.shape[0]:
            return
        capacity = max(rows, 2 * self.state.shape[0], 64)  # doubling: new learners arrive in most batches
        self.state = _grown(self.state, capacity)
        self.events = _grown(self.events, capacity)
        self.as_of = _grown(self.as_of, capacity)
        self.roles = _grown(self.roles, capacity)
        self.cohort_seen = _grown(self.cohort_seen, capacity)
        self.first_seen = _grown(self.first_seen, capacity)
        self.start = _grown(self.start, capacity)
        self.done = _grown(self.done, capacity)

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
            first_seen=_known(self.first_seen[row]),
            start=_known(self.start[row]),
            done=self._done(row),
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
        listed = rows.tolist()
        self._make_metas(listed)
        return self.store.values([self.metas[row] for row in listed], numbers)

    def _make_metas(self, rows: list[int]) -> None:
        """The JSON part of the rows whose one changed (or was never made): their columns read
        at once, as Python values (a worker that loaded many learners makes each one's)."""
        stale = [row for row in rows if self.metas[row] is None]
        if not stale:
            return
        ids, roles, inf = self.store.due_rules.ids, self.store.catalog.roles, math.inf
        done = self.done[stale]
        finished = np.isfinite(done).any(axis=1).tolist()
        columns = (self.roles[stale], self.first_seen[stale], self.start[stale], done)
        for row, role, first, start, times, any_done in zip(stale, *(c.tolist() for c in columns), finished):
            self.metas[row] = meta_json(
                None if role == NO_ROLE else roles[role].id,
                self.cohorts[row],
                None if first == inf else first,
                None if start != start else start,  # NaN: none
                {ids[d]: t for d, t in enumerate(times) if t != inf} if any_done else None,
            )

    def _done(self, row: int) -> dict[str, float]:
        ids = self.store.due_rules.ids
        return {ids[d]: completed for d, completed in enumerate(self.done[row].tolist()) if completed != math.inf}

    def changed_meta(self, rows: np.ndarray) -> None:
        """The stored JSON part of these rows must be made again."""
        for row in rows.tolist():
            self.metas[row] = None

    def enrolment(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows),) each row's enrolment time (core/mandatory.py)."""
        return enrolment_times(self.start[rows], self.first_seen[rows], self.as_of[rows])

    def read_start_dates(self) -> None:
        """HR's start dates of the rows enrolled since they were last read (one round trip)."""
        if not self.start_unread:
            return
        rows = sorted(self.start_unread)
        store = self.store
        found = start_times(store.client, store.keys, [self.learners[row] for row in rows])
        for row, start in zip(rows, found):
            start = np.nan if start is None else start
            if not (start == self.start[row] or (np.isnan(start) and np.isnan(self.start[row]))):
                self.start[row], self.metas[row] = start, None
        self.start_unread.clear()

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


def _known(value: float) -> float | None:
    """A column's value as stored: None for NaN or inf (not known)."""
    return float(value) if math.isfinite(value) else None


def _grown(array: np.ndarray, capacity: int) -> np.ndarray:
    grown = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    grown[: array.shape[0]] = array
    return grown
