"""What a batch of events does to learner records, shared by the workers and by replay.

Hot path: an event is decoded once into a plain tuple (no objects per event), checked with
the same rules as `Event.from_wire`, and gathered into the engine's arrays in one pass.

Exactly once: the ids of applied events are kept per partition and event day (processed-event
marks, `{pN}:applied:<day>`, for the log's retention); an event whose id is marked is skipped.
The worker writes marks, learners and the acknowledgement in one transaction.

Recommendations are ranked "as of" each learner's latest event time (the largest event
timestamp ever applied to that learner, enrolments included), not the wall clock, so that
replaying the log gives the same rankings as processing it live, whatever the batching.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import itemgetter

import numpy as np
import orjson

from engine import LAST_SEEN, Action, Model, apply_events, recommend
from skillgap.catalog import Catalog
from skillgap.eventlog import decode_entry
from skillgap.events import ACTIVITY_KINDS, ENROLLED, SCHEMA_VERSION
from skillgap.keys import partition_of
from skillgap.learner_store import LearnerRecord, LearnerStore
from skillgap.settings import Settings

SECONDS_PER_DAY = 86_400
ENROLMENT = -1  # kind code of an enrolment (no module, no state change)
KIND_CODES = {**{name: int(kind) for name, kind in ACTIVITY_KINDS.items()}, ENROLLED: ENROLMENT}

# ((tenant, learner), id, kind code, module index or -1, score or NaN, timestamp, cohort, role)
EventRow = tuple[tuple[str, str], str, int, int, float, float, str | None, str | None]
_required = itemgetter("v", "id", "tenant", "learner", "kind", "timestamp", "source")


@dataclass
class Decoded:
    events: list[EventRow]
    dead: list[dict]  # {"entry", "reason", "payload"} for the dead-letter stream


class _Bad(Exception):
    pass


def _row(raw: object, modules: dict[str, int], roles: dict[str, int]) -> EventRow:
    """One wire event as a row; raises _Bad with the reason (the rules of Event.from_wire)."""
    try:
        version, event_id, tenant, learner, kind, timestamp, source = _required(raw)
    except KeyError as exc:
        raise _Bad(f"{exc.args[0]}: missing") from None
    except TypeError:
        raise _Bad("event: not an object") from None
    if version != SCHEMA_VERSION:
        raise _Bad(f"v: unsupported schema version {version!r}")
    if not (type(event_id) is str and type(tenant) is str and type(learner) is str and type(source) is str):
        raise _Bad("id, tenant, learner and source must be strings")
    code = KIND_CODES.get(kind) if type(kind) is str else None
    if code is None:
        raise _Bad(f"kind: unknown kind {kind!r}")
    if type(timestamp) is not float:
        if type(timestamp) is not int:
            raise _Bad(f"timestamp: not a number: {timestamp!r}")
        timestamp = float(timestamp)
    module = -1
    if code != ENROLMENT:
        name = raw.get("module")
        module = modules.get(name, -1) if type(name) is str else -1
        if module < 0:
            raise _Bad(f"module: unknown module {name!r}")
    score = raw.get("score")
    if score is None:
        score = math.nan
    elif type(score) not in (float, int) or not 0.0 <= score <= 1.0:
        raise _Bad(f"score: must be a number in [0, 1], not {score!r}")
    cohort = raw.get("cohort")
    if cohort is not None and type(cohort) is not str:
        raise _Bad("cohort: must be a string")
    role = raw.get("role")
    if role is not None and role not in roles:
        raise _Bad(f"role: unknown role {role!r}")
    return (tenant, learner), event_id, code, module, float(score), timestamp, cohort, role


def decode_entries(
    entries: list[tuple[bytes, dict | None]], catalog: Catalog, partition: int | None = None, partitions: int = 1
) -> Decoded:
    """The events of stream entries, in stream order; what cannot be used becomes a dead letter.

    With `partition`, an event whose learner belongs to another partition is a dead letter
    too (a producer with another SKILLGAP_PARTITIONS would otherwise split a learner's state).
    An entry trimmed away by retention (fields None) has nothing left to apply."""
    events: list[EventRow] = []
    dead: list[dict] = []
    modules, roles = catalog.module_index, catalog.role_index
    append = events.append
    home: dict[tuple[str, str], bool] = {}
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
                row = _row(raw, modules, roles)
                if partition is not None:
                    here = home.get(row[0])
                    if here is None:
                        here = home[row[0]] = partition_of(*row[0], partitions) == partition
                    if not here:
                        raise _Bad(f"learner: belongs to partition {partition_of(*row[0], partitions)}, not "
                                   f"{partition} (do all processes use the same SKILLGAP_PARTITIONS?)")  # fmt: skip
                append(row)
            except _Bad as exc:
                dead.append({"entry": entry_id, "reason": str(exc), "payload": orjson.dumps(raw)[:2000]})
    return Decoded(events, dead)


@dataclass
class Applied:
    applied: int
    duplicates: int
    joined: dict[tuple[str, str], set[str]]  # learners newly seen in each (tenant, cohort)
    changed: list[tuple[str, str]]  # learners at least one event was applied to
    marks: dict[int, list[str]]  # the applied events' marks, by event day


def marks_of(events: list[EventRow]) -> tuple[list[str], list[int]]:
    """Each event's mark (tenant and id: ids are unique per tenant) and day."""
    return [f"{e[0][0]}\x1f{e[1]}" for e in events], [int(e[5] // SECONDS_PER_DAY) for e in events]


def apply_to_records(
    events: list[EventRow], records: dict[tuple[str, str], LearnerRecord], model: Model, marked: set[str],
    marks: tuple[list[str], list[int]] | None = None,
) -> Applied:  # fmt: skip
    """Apply `events` (in order) to the learners in `records`: state, role, cohorts, event
    count and the time their ranking is as of; skip events in `marked` or seen before in the
    batch (their marks are added to `marked`; `marks`: `marks_of(events)` if already made).
    Call `rank` after.

    Every learner an event names must be in `records`."""
    order = list(records)
    row_of = {key: row for row, key in enumerate(order)}
    as_of = [records[key].recommended_at for key in order]
    roles = [records[key].role for key in order]
    joined: dict[tuple[str, str], set[str]] = {}
    new_marks: dict[int, list[str]] = {}
    rows: list[int] = []
    picked: list[EventRow] = []
    changed = [False] * len(order)
    duplicates = 0
    members, days = marks or marks_of(events)
    for event, member, day in zip(events, members, days):
        if member in marked:
            duplicates += 1
            continue
        marked.add(member)
        day_marks = new_marks.get(day)
        if day_marks is None:
            new_marks[day] = [member]
        else:
            day_marks.append(member)
        key, _, code, _, _, timestamp, cohort, role = event
        row = row_of[key]
        changed[row] = True
        if timestamp > as_of[row]:
            as_of[row] = timestamp
        if role is not None:
            roles[row] = role
        if cohort is not None and cohort not in records[key].cohorts:
            records[key].cohorts = (*records[key].cohorts, cohort)
            joined.setdefault((key[0], cohort), set()).add(key[1])
        if code >= 0:
            rows.append(row)
            picked.append(event)
    if picked:
        _, _, kind, module, score, when, _, _ = zip(*picked)
        state = np.stack([records[key].state for key in order])
        state = apply_events(state, model, np.array(rows), np.array(module), np.array(kind), np.array(score),
                             np.array(when))  # fmt: skip
        counts = np.bincount(rows, minlength=len(order)).tolist()
        for row, key in enumerate(order):
            records[key].state = state[row]
            records[key].events += counts[row]
    changed_keys = []
    for row, key in enumerate(order):
        if changed[row]:
            records[key].recommended_at = as_of[row]
            records[key].role = roles[row]
            changed_keys.append(key)
    return Applied(len(events) - duplicates, duplicates, joined, changed_keys, new_marks)


def rank(records: list[LearnerRecord], store: LearnerStore, settings: Settings) -> None:
    """Re-rank the modules of `records`, each as of its `recommended_at`, with the store's model."""
    if not records:
        return
    state = np.stack([record.state for record in records])
    targets = store.targets_for(records)
    as_of = np.array([record.recommended_at for record in records])
    recs = recommend_as_of(state, targets, store.model, as_of, settings)
    module_ids = [m.id for m in store.catalog.modules]
    actions = {int(action): action.name.lower() for action in Action}
    useful = (recs.module >= 0).sum(axis=1).tolist()  # the engine fills unused slots at the end
    columns = zip(records, useful, recs.module.tolist(), recs.action.tolist(), recs.gain.tolist(),
                  recs.gain_per_minute.tolist(), recs.information.tolist())  # fmt: skip
    for record, n, modules, acts, gains, per_minute, information in columns:
        record.ranking = {
            "module": [module_ids[q] for q in modules[:n]],
            "action": [actions[a] for a in acts[:n]],
            "gain": gains[:n],
            "per_minute": per_minute[:n],
            "information": information[:n],
        }


def recommend_as_of(state: np.ndarray, targets: np.ndarray, model: Model, as_of: np.ndarray, settings: Settings):
    """`engine.recommend` with each learner evaluated at its own time `as_of[i]`.

    The engine takes one `now`; forgetting depends only on `now - last touched`, so shifting
    each learner's last-touched times by `now - as_of[i]` evaluates it at `as_of[i]`."""
    now = float(as_of.max()) if as_of.size else 0.0
    shifted = state.copy()
    last = shifted[:, LAST_SEEN, :]
    shifted[:, LAST_SEEN, :] = np.where(last > 0, last + (now - as_of)[:, None], 0.0)
    return recommend(
        shifted, targets, model, now=now, k=settings.recommendations_per_learner,
        prerequisite_threshold=settings.prerequisite_threshold,
        uncertainty_threshold=settings.assessment_uncertainty,
    )  # fmt: skip


def queue_writes(
    pipe, store: LearnerStore, partition: int, records: dict[tuple[str, str], LearnerRecord], applied: Applied,
    now: float, retention_days: float, new: set[tuple[str, str]] | None = None,
) -> None:  # fmt: skip
    """Queue one partition's learner values (one MSET), its learner and cohort indexes (`new`:
    the learners not yet in the learner index; None: all of them) and its marks."""
    keys = store.keys
    values = {}
    by_tenant: dict[str, list[str]] = {}
    for (tenant, learner), record in records.items():
        record.updated = now
        values[keys.learner(partition, tenant, learner)] = store.encode(record)
        if new is None or (tenant, learner) in new:
            by_tenant.setdefault(tenant, []).append(learner)
    if values:
        # As a raw command: redis-py refuses pipe.mset() on a cluster, though every key of a
        # partition is in one slot.
        pipe.execute_command("MSET", *[part for pair in values.items() for part in pair])
    for tenant, learners in by_tenant.items():
        pipe.zadd(keys.learner_index(partition, tenant), dict.fromkeys(learners, 0))
    for (tenant, cohort), learners in applied.joined.items():
        pipe.zadd(keys.cohort_index(partition, tenant, cohort), dict.fromkeys(learners, 0))
        pipe.zadd(keys.cohorts(partition, tenant), {cohort: 0})
    retention_s = int(retention_days * SECONDS_PER_DAY)
    for day, members in applied.marks.items():
        pipe.sadd(keys.applied(partition, day), *members)
        pipe.expire(keys.applied(partition, day), retention_s)  # marks outlive their log entries
