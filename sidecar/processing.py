"""What a batch of events does to a partition's learners, shared by the workers and by replay.

Hot path: an event is decoded once into a plain tuple (`core/wire.py:decode_row`, no object
per event); a batch's tuples are turned into columns at once and
applied to the partition's learner table (`sidecar/learner_table.py`) with array operations.

Exactly once: the ids of applied events are kept per partition, tenant and event day
(processed-event marks, `sidecar/marks.py`); an event whose id is marked is skipped. The worker
writes marks, learners and the acknowledgement in one transaction.

Recommendations are ranked "as of" each learner's latest event time (the largest event
timestamp ever applied to that learner, enrolments included), not the wall clock, so that
replaying the log gives the same rankings as processing it live, whatever the batching.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain, compress
from operator import itemgetter

import numpy as np

from core.settings import SECONDS_PER_DAY, Settings
from core.wire import ENROLMENT, ENTRY_FIELD, NO_ROLE, EventRow
from engine import Kind, Model, Recommendations, apply_events
from engine import recommend_as_of as engine_recommend_as_of  # this module's adds the settings
from sidecar.learner_table import NO_COHORT, LearnerTable
from sidecar.marks import Group, KnownMarks, queue_marks


def pieces(entries: list[tuple[bytes, dict | None]], budget: int) -> Iterator[list[tuple[bytes, dict | None]]]:
    """Consecutive runs of entries with about `budget` bytes of payload each."""
    start, size = 0, 0
    for end, (_, fields) in enumerate(entries, 1):
        size += len(fields.get(ENTRY_FIELD, b"")) if fields else 0
        if size >= budget:
            yield entries[start:end]
            start, size = end, 0
    if start < len(entries) or not entries:
        yield entries[start:]


class Batch:
    """A batch's events as columns, in stream order (numbers as arrays, the rest as tuples),
    and each event's day. Events name their learner by code: its index in `distinct_learners`."""

    def __init__(self, events: list[EventRow], distinct_learners: list[tuple[str, str]]):
        self.events = events
        self.distinct_learners = distinct_learners
        n = len(events)
        columns = tuple(zip(*events)) or ((),) * 8
        learners, self.ids, kinds, modules, scores, times, self.cohorts, roles = columns
        self.learner_codes = np.fromiter(learners, np.int64, n)
        self.kinds, self.modules = np.fromiter(kinds, np.int64, n), np.fromiter(modules, np.int64, n)
        self.roles = np.fromiter(roles, np.int64, n)
        self.scores, self.times = np.fromiter(scores, np.float64, n), np.fromiter(times, np.float64, n)
        self.days = (self.times // SECONDS_PER_DAY).astype(np.int64)

    def __len__(self) -> int:
        return len(self.events)

    def only(self, keep: np.ndarray) -> Batch:
        """The events where `keep` is true (learner codes unchanged)."""
        return Batch(list(compress(self.events, keep.tolist())), self.distinct_learners)

    def tenants(self) -> tuple[list[str], np.ndarray]:
        """The tenants named, each once, and each event's index in that list."""
        names = list(map(itemgetter(0), self.distinct_learners))
        tenants = list(dict.fromkeys(names))
        if len(tenants) == 1:
            return tenants, np.zeros(len(self), np.int64)
        code = dict(zip(tenants, range(len(tenants))))
        return tenants, np.fromiter(map(code.__getitem__, names), np.int64, len(names))[self.learner_codes]

    @cached_property
    def marks_by_group(self) -> dict[Group, tuple[np.ndarray, Sequence[str]]]:
        """(tenant, day) -> (positions of its events, their ids)."""
        if not len(self):
            return {}
        tenants, tenant_of = self.tenants()
        first_day, last_day = int(self.days.min()), int(self.days.max())
        if len(tenants) == 1 and first_day == last_day:  # the common case: one group
            return {(tenants[0], first_day): (np.arange(len(self)), self.ids)}
        days = last_day - first_day + 1
        group_of = tenant_of * days + (self.days - first_day)  # one small integer per (tenant, day)
        order = np.argsort(group_of, kind="stable")
        sizes = np.bincount(group_of)
        groups = np.flatnonzero(sizes).tolist()
        bounds = np.cumsum(sizes[groups]).tolist()
        ids = [self.ids[i] for i in order.tolist()]
        return {
            (tenants[group // days], first_day + group % days): (order[b - size : b], ids[b - size : b])
            for group, b, size in zip(groups, bounds, sizes[groups].tolist())
        }


@dataclass
class Applied:
    applied: int
    duplicates: int
    joined: dict[tuple[str, str], set[str]]  # learners newly seen in each (tenant, cohort)
    changed: np.ndarray  # table rows at least one event was applied to, ascending
    marks: dict[Group, Sequence[str]]  # the applied events' ids, by tenant and event day


def merged(parts: list[Applied]) -> Applied:
    """One Applied for pieces of a partition's batch applied one after another."""
    if len(parts) == 1:
        return parts[0]
    joined: dict[tuple[str, str], set[str]] = {}
    marks: dict[Group, list[str]] = {}
    for part in parts:
        for key, learners in part.joined.items():
            joined.setdefault(key, set()).update(learners)
        for group, ids in part.marks.items():
            marks.setdefault(group, []).extend(ids)
    changed = np.unique(np.concatenate([part.changed for part in parts]))
    return Applied(sum(p.applied for p in parts), sum(p.duplicates for p in parts), joined, changed, marks)


def fresh_events(known: KnownMarks, batch: Batch) -> np.ndarray:
    """Per event: whether it is new (`KnownMarks.claim`: not marked, not repeated earlier in
    the batch); marks the new ones. Every group of the batch must be held."""
    fresh = np.ones(len(batch), dtype=bool)
    for group, (positions, ids) in batch.marks_by_group.items():
        new = known.claim(group, ids)
        if new is not None:
            fresh[positions] = new
    return fresh


def apply_to_table(table: LearnerTable, batch: Batch, model: Model, fresh: np.ndarray) -> Applied:
    """Apply the batch's `fresh` events (`fresh_events`), in stream order, to their learners'
    rows: state, role, cohorts, event count and the time their ranking is as of. Every learner
    named must have a row; call `rank` on `Applied.changed` after."""
    duplicates = len(batch) - int(fresh.sum())
    if duplicates:
        batch = batch.only(fresh)
    new_marks = {group: ids for group, (_, ids) in batch.marks_by_group.items()}
    if not len(batch):
        return Applied(0, duplicates, {}, np.empty(0, dtype=np.int64), new_marks)
    learners = batch.distinct_learners
    rows = np.fromiter(map(table.row_of.__getitem__, learners), np.int64, len(learners))[batch.learner_codes]
    np.maximum.at(table.as_of, rows, batch.times)
    activity = batch.kinds != ENROLMENT
    active = slice(None) if activity.all() else activity  # enrolments change no state and are not counted
    if activity.any():
        apply_events(
            table.state,
            model,
            rows[active],
            batch.modules[active],
            batch.kinds[active],
            batch.scores[active],
            batch.times[active],
            in_place=True,
        )
        counted, counts = _distinct(rows[active], len(table))
        table.events[counted] += counts
    touched = _distinct(rows, len(table))[0]
    _note_mandatory(table, batch, rows, touched)
    # Roles and cohorts: only events that name another than the one the table holds (seldom:
    # learners rarely change role or cohort) take a Python step each, in stream order.
    roles = batch.roles
    named = np.flatnonzero(roles != NO_ROLE)
    if named.size:  # the last event naming a role wins: per learner, the largest such position
        last = np.full(len(table), -1)
        np.maximum.at(last, rows[named], named)
        last = last[last >= 0]
        for i in last[roles[last] != table.roles[rows[last]]].tolist():
            table.set_role(int(rows[i]), int(roles[i]))
    cohorts = batch.cohorts  # None where an event names none
    codes = np.fromiter(map(table.cohort_codes.__getitem__, cohorts), np.int64, len(batch))
    joined: dict[tuple[str, str], set[str]] = {}
    other = np.flatnonzero((codes != NO_COHORT) & (codes != table.cohort_seen[rows]))
    if other.size:  # a learner's events mostly repeat one cohort: one step per distinct pair
        _, first = np.unique(rows[other] * len(table.cohort_codes) + codes[other], return_index=True)
        other = other[np.sort(first)]
    for i in other.tolist():
        row, cohort = int(rows[i]), cohorts[i]
        if table.join(row, cohort):
            tenant, learner = table.learners[row]
            joined.setdefault((tenant, cohort), set()).add(learner)
    return Applied(len(batch), duplicates, joined, touched, new_marks)


def _note_mandatory(table: LearnerTable, batch: Batch, rows: np.ndarray, touched: np.ndarray) -> None:
    """What mandatory modules need (core/mandatory.py): each learner's earliest event, when each
    mandatory module was first completed (a completed or graded event), and which learners'
    start dates to read from HR again (those enrolled). Both times are minima, so the same
    whatever the batching or order (replay agrees)."""
    first = table.first_seen[touched]
    np.minimum.at(table.first_seen, rows, batch.times)
    changed = [touched[table.first_seen[touched] != first]]
    column = table.store.due_rules.column[batch.modules]  # an enrolment's module -1 reads the last: masked
    finished = (column >= 0) & ((batch.kinds == Kind.COMPLETED) | (batch.kinds == Kind.GRADED))
    if finished.any():
        where = (rows[finished], column[finished])
        before = table.done[where]
        np.minimum.at(table.done, where, batch.times[finished])
        changed.append(where[0][table.done[where] != before])
    table.changed_meta(np.unique(np.concatenate(changed)))
    enrolled = batch.kinds == ENROLMENT
    if enrolled.any():
        table.start_unread.update(rows[enrolled].tolist())


def _distinct(rows: np.ndarray, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct rows, ascending, and how many times each appears (np.unique without
    sorting: rows are indexes below n_rows)."""
    counts = np.bincount(rows, minlength=n_rows)
    touched = np.flatnonzero(counts)
    return touched, counts[touched]


def rank(table: LearnerTable, rows: np.ndarray, settings: Settings) -> Recommendations:
    """Rank the modules for the learners of `rows`, each as of its latest event, mandatory
    modules due soon first (core/mandatory.py: due from HR's start date or the earliest
    event; none once completed)."""
    store = table.store
    table.read_start_dates()
    roles = table.roles[rows]
    due = store.due_rules.due(store.role_rows(roles), table.enrolment(rows), table.done[rows], store.model.n_modules)
    targets = store.targets_for_roles(roles)
    own = store.own_points_for_roles(roles)
    return recommend_as_of(table.state[rows], targets, store.model, table.as_of[rows], settings, due, own)


def recommend_as_of(
    state: np.ndarray,
    targets: np.ndarray,
    model: Model,
    as_of: np.ndarray,
    settings: Settings,
    due: np.ndarray | None = None,
    own_points: np.ndarray | None = None,
) -> Recommendations:
    """`engine.recommend_as_of` with the workers' settings (`own_points`: (L, M) the points that
    set each learner's role apart, shown early in the plan)."""
    return engine_recommend_as_of(
        state, targets, model, as_of, due, own_points=own_points, **settings.ranking_options()
    )


def queue_writes(
    pipe,
    table: LearnerTable,
    rows: np.ndarray,
    rankings: Recommendations,
    applied: Applied,
    now: float,
    retention_days: float,
    replace_marks: bool = False,
) -> None:
    """Queue one partition's learner values for `rows` (one MSET), its learner index (the rows
    not in it yet), its cohort indexes, its marks (added, or with `replace_marks` the groups'
    whole sets) and, live, the applied events' count per tenant and day."""
    keys, partition = table.store.keys, table.partition
    listed = rows.tolist()
    if listed:
        value_keys = table.value_keys
        pairs = zip([value_keys[row] for row in listed], table.values(rows, rankings, now))
        # As a raw command: redis-py refuses pipe.mset() on a cluster, though every key of a
        # partition is in one slot.
        pipe.execute_command("MSET", *chain.from_iterable(pairs))
    by_tenant: dict[str, list[str]] = {}
    for row in sorted(table.unindexed.intersection(listed)):
        tenant, learner = table.learners[row]
        by_tenant.setdefault(tenant, []).append(learner)
    for tenant, learners in by_tenant.items():
        pipe.zadd(keys.learner_index(partition, tenant), dict.fromkeys(learners, 0))
    for (tenant, cohort), learners in applied.joined.items():
        pipe.zadd(keys.cohort_index(partition, tenant, cohort), dict.fromkeys(learners, 0))
        pipe.zadd(keys.cohorts(partition, tenant), {cohort: 0})
    queue_marks(pipe, keys, partition, applied.marks, int(retention_days * SECONDS_PER_DAY), replace=replace_marks)
    if not replace_marks:  # a replay rebuilds what was counted already
        for (tenant, day), ids in applied.marks.items():
            pipe.hincrby(keys.events_per_day(partition, tenant), str(day), len(ids))
