"""What a batch of events does to learner records, shared by the workers and by replay.

Recommendations are ranked "as of" each learner's latest event time (the largest event
timestamp ever applied to that learner, enrolments included), not the wall clock, so that
replaying the log gives the same rankings as processing it live, whatever the batching.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine import LAST_SEEN, Model, apply_events, recommend
from skillgap.catalog import Catalog
from skillgap.eventlog import decode_entry
from skillgap.events import ACTIVITY_KINDS, Event, EventError
from skillgap.explain import recommendation_items
from skillgap.learner_store import LearnerRecord, LearnerStore

import orjson

KIND_CODES = {name: int(kind) for name, kind in ACTIVITY_KINDS.items()}


@dataclass
class Decoded:
    events: list[Event]
    dead: list[dict]  # {"entry", "reason", "payload"} for the dead-letter stream


def decode_entries(entries: list[tuple[bytes, dict | None]], catalog: Catalog) -> Decoded:
    """The events of stream entries, in stream order; what cannot be used becomes a dead letter.

    An entry trimmed away by retention (fields None) has nothing left to apply."""
    events: list[Event] = []
    dead: list[dict] = []
    modules, roles = catalog.module_index, catalog.role_index
    for entry_id, fields in entries:
        if fields is None:
            continue
        try:
            raw_events = decode_entry(fields)
        except ValueError as exc:
            dead.append({"entry": entry_id, "reason": str(exc), "payload": repr(fields)[:2000]})
            continue
        for raw in raw_events:
            try:
                event = Event.from_wire(raw)
                if event.module is not None and event.module not in modules:
                    raise EventError("module", f"unknown module {event.module!r}")
                if event.role is not None and event.role not in roles:
                    raise EventError("role", f"unknown role {event.role!r}")
            except EventError as exc:
                dead.append({"entry": entry_id, "reason": str(exc), "payload": orjson.dumps(raw)[:2000]})
                continue
            events.append(event)
    return Decoded(events, dead)


def apply_to_records(
    events: list[Event], records: dict[tuple[str, str], LearnerRecord], store: LearnerStore, model: Model
) -> dict[tuple[str, str], set[str]]:
    """Apply `events` (in order) to the learners in `records`: state, role, cohorts, event
    count and the time their ranking is as of (`recommended_at`). Call `rank` after.

    Every learner an event names must be in `records`. Returns the learners newly seen in
    each (tenant, cohort)."""
    catalog = store.catalog
    order = list(records)
    row_of = {key: row for row, key in enumerate(order)}
    as_of = np.array([records[key].recommended_at for key in order])
    joined: dict[tuple[str, str], set[str]] = {}
    n = len(events)
    learner = np.empty(n, dtype=np.int64)
    module = np.empty(n, dtype=np.int64)
    kind = np.empty(n, dtype=np.int64)
    score = np.empty(n)
    when = np.empty(n)
    activities = 0
    module_index = catalog.module_index
    for event in events:
        row = row_of[(event.tenant, event.learner)]
        record = records[(event.tenant, event.learner)]
        if event.timestamp > as_of[row]:
            as_of[row] = event.timestamp
        if event.role is not None:
            record.role = event.role
        if event.cohort is not None:
            if event.cohort not in record.cohorts:
                record.cohorts = (*record.cohorts, event.cohort)
                joined.setdefault((event.tenant, event.cohort), set()).add(event.learner)
        code = KIND_CODES.get(event.kind)
        if code is None:
            continue
        record.events += 1
        learner[activities] = row
        module[activities] = module_index[event.module]
        kind[activities] = code
        score[activities] = np.nan if event.score is None else event.score
        when[activities] = event.timestamp
        activities += 1
    if activities:
        a = activities
        state = np.stack([records[key].state for key in order])
        state = apply_events(state, model, learner[:a], module[:a], kind[:a], score[:a], when[:a])
        for row, key in enumerate(order):
            records[key].state = state[row]
    for row, key in enumerate(order):
        records[key].recommended_at = float(as_of[row])
    return joined


def rank(records: list[LearnerRecord], store: LearnerStore, model: Model, k: int, prerequisite_threshold: float) -> None:
    """Re-rank the modules of `records`, each as of its `recommended_at`."""
    if not records:
        return
    state = np.stack([record.state for record in records])
    targets = np.stack([store.targets_of(record) for record in records])
    as_of = np.array([record.recommended_at for record in records])
    recs = recommend_as_of(state, targets, model, as_of, k, prerequisite_threshold)
    for row, record in enumerate(records):
        record.recommendations = recommendation_items(store.catalog, model, recs, row, targets[row])


def recommend_as_of(
    state: np.ndarray, targets: np.ndarray, model: Model, as_of: np.ndarray, k: int, threshold: float
):
    """`engine.recommend` with each learner evaluated at its own time `as_of[i]`.

    The engine takes one `now`; forgetting depends only on `now - last touched`, so shifting
    each learner's last-touched times by `now - as_of[i]` evaluates it at `as_of[i]`."""
    now = float(as_of.max()) if as_of.size else 0.0
    shifted = state.copy()
    last = shifted[:, LAST_SEEN, :]
    touched = last > 0
    shifted[:, LAST_SEEN, :] = np.where(touched, last + (now - as_of)[:, None], 0.0)
    return recommend(shifted, targets, model, now=now, k=k, prerequisite_threshold=threshold)


def queue_writes(
    pipe, store: LearnerStore, partition: int, records: dict[tuple[str, str], LearnerRecord],
    cohorts: dict[tuple[str, str], set[str]], now: float,
) -> None:  # fmt: skip
    """Queue the learner hashes and the learner and cohort indexes of one partition."""
    keys = store.keys
    for (tenant, learner), record in records.items():
        record.updated = now
        pipe.hset(store.key(tenant, learner), mapping=store.encode(record))
        pipe.zadd(keys.learner_index(partition, tenant), {learner: 0})
    for (tenant, cohort), learners in cohorts.items():
        pipe.zadd(keys.cohort_index(partition, tenant, cohort), dict.fromkeys(learners, 0))
        pipe.zadd(keys.cohorts(partition, tenant), {cohort: 0})
