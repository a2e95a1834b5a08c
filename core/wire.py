"""The event log's wire format, the one codec of the event contract: producers encode with
`encode` and `encode_entry`; workers, replay, fitting and export decode with `decode_entry` and
`decode_entries` (or `decode` for one event), all by the rules of `decode_row`.

On the stream an event is a compact JSON object (`encode`), several per entry. Decoding is
the workers' hot path: an event becomes a plain tuple, `EventRow` (no object per event), its
learner a small code numbered in first-seen order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field
from operator import itemgetter

import orjson

from core.catalog import Catalog
from core.events import ACTIVITY_KINDS, ENROLLED, SCHEMA_VERSION, Event
from core.keys import partition_of

ENTRY_FIELD = b"events"
MAX_EVENTS_PER_ENTRY = 500
# Processed-event marks (sidecar/marks.py) store ids one per line, grouped by tenant.
LINE_BREAK = "\n"
NO_ROLE = -1  # an event that names no role


def encode(event: Event) -> dict:
    """The event as it travels on the stream."""
    wire = {
        "v": SCHEMA_VERSION,
        "id": event.id,
        "tenant": event.tenant,
        "learner": event.learner,
        "kind": event.kind,
        "timestamp": event.timestamp,
        "source": event.source,
    }
    # Unrolled (no getattr loop): the xAPI intake writes thousands of events a second.
    if event.cohort is not None:
        wire["cohort"] = event.cohort
    if event.module is not None:
        wire["module"] = event.module
    if event.score is not None:
        wire["score"] = event.score
    if event.role is not None:
        wire["role"] = event.role
    return wire


def encode_entry(wires: Sequence[dict]) -> bytes:
    """One stream entry's payload: at most MAX_EVENTS_PER_ENTRY encoded events."""
    return orjson.dumps(wires)


def decode_entry(fields: dict[bytes, bytes]) -> list[object]:
    """The raw event dicts of one entry; raises ValueError when the entry is not readable."""
    payload = fields.get(ENTRY_FIELD)
    if payload is None:
        raise ValueError(f"entry has no {ENTRY_FIELD.decode()!r} field")
    try:
        events = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"entry is not JSON: {exc}") from None
    if not isinstance(events, list):
        raise ValueError("entry is not a JSON array of events")
    return events


ENROLMENT = -1  # kind code of an enrolment (no module, no state change)
KIND_CODES = {**{name: int(kind) for name, kind in ACTIVITY_KINDS.items()}, ENROLLED: ENROLMENT}

# (learner code, id, kind code, module index or -1, score or NaN, timestamp, cohort, role index or NO_ROLE);
# the learner code is the learner's index in `Decoded.learners` (and `Batch.distinct_learners`)
EventRow = tuple[int, str, int, int, float, float, str | None, int]
_required = itemgetter("v", "id", "tenant", "learner", "kind", "timestamp", "source")


@dataclass
class Decoded:
    events: list[EventRow]
    dead: list[dict]  # {"entry", "reason", "payload"} for the dead-letter stream
    learners: list[tuple[str, str]]  # (tenant, learner) of each learner code, in first-seen order
    # The module each dead event named that the catalog lacks (producers check modules against
    # the catalog, so on the log it means the catalog lost one since), one per event.
    unknown_modules: list[str] = field(default_factory=list)


class WireError(ValueError):
    """An event on the stream that breaks the contract; the message says why."""


class UnknownModule(WireError):
    def __init__(self, module: object):
        self.module = str(module)
        super().__init__(f"module: unknown module {module!r}")


def decode_row(
    raw: object,
    modules: dict[str, int],
    roles: dict[str, int],
    codes: dict[tuple[str, str], int],
    new_learner: Callable[[tuple[str, str]], int],
) -> EventRow:
    """One wire event as a row; raises WireError with the reason .
    `codes`: the learners seen so far; `new_learner` numbers one not seen yet."""
    try:
        version, event_id, tenant, learner, kind, timestamp, source = _required(raw)
    except KeyError as exc:
        raise WireError(f"{exc.args[0]}: missing") from None
    except TypeError:
        raise WireError("event: not an object") from None
    if version != SCHEMA_VERSION:
        raise WireError(f"v: unsupported schema version {version!r}")
    if not (type(event_id) is str and type(tenant) is str and type(learner) is str and type(source) is str):
        raise WireError("id, tenant, learner and source must be strings")
    if LINE_BREAK in event_id or LINE_BREAK in tenant:
        raise WireError("id and tenant must not contain line breaks")
    code = KIND_CODES.get(kind) if type(kind) is str else None
    if code is None:
        raise WireError(f"kind: unknown kind {kind!r}")
    if type(timestamp) is not float:
        if type(timestamp) is not int:
            raise WireError(f"timestamp: not a number: {timestamp!r}")
        timestamp = float(timestamp)
    module = -1
    if code != ENROLMENT:
        name = raw.get("module")
        module = modules.get(name, -1) if type(name) is str else -1
        if module < 0:
            raise UnknownModule(name)
    score = raw.get("score")
    if score is None:
        score = math.nan
    elif type(score) not in (float, int) or not 0.0 <= score <= 1.0:
        raise WireError(f"score: must be a number in [0, 1], not {score!r}")
    cohort = raw.get("cohort")
    if cohort is not None and type(cohort) is not str:
        raise WireError("cohort: must be a string")
    role = raw.get("role")
    role_index = NO_ROLE if role is None else roles.get(role) if type(role) is str else None
    if role_index is None:
        raise WireError(f"role: unknown role {role!r}")
    key = (tenant, learner)
    learner_code = codes.get(key)
    if learner_code is None:
        learner_code = new_learner(key)
    return learner_code, event_id, code, module, float(score), timestamp, cohort, role_index


def decode_entries(
    entries: list[tuple[bytes, dict | None]],
    catalog: Catalog,
    partition: int | None = None,
    partitions: int = 1,
    members: Container[tuple[str, str]] = (),
) -> Decoded:
    """The events of stream entries, in stream order; what cannot be used becomes a dead letter.

    With `partition`, an event whose learner belongs to another partition is a dead letter
    too (a producer with another SKILLGAP_PARTITIONS would otherwise split a learner's state);
    `members`: learners known to belong to it (a worker's table), not checked again.
    An entry trimmed away by retention (fields None) has nothing left to apply."""
    events: list[EventRow] = []
    dead: list[dict] = []
    unknown_modules: list[str] = []
    modules, roles = catalog.module_index, catalog.role_index
    append = events.append
    learners: list[tuple[str, str]] = []
    codes: dict[tuple[str, str], int] = {}  # learner -> code (a learner of another partition gets none)

    def new_learner(key: tuple[str, str]) -> int:
        if partition is not None and key not in members and (home := partition_of(*key, partitions)) != partition:
            raise WireError(
                f"learner: belongs to partition {home}, not {partition} (do all processes use the same "
                "SKILLGAP_PARTITIONS?)"
            )
        code = codes[key] = len(learners)
        learners.append(key)
        return code

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
                append(decode_row(raw, modules, roles, codes, new_learner))
            except WireError as exc:
                dead.append({"entry": entry_id, "reason": str(exc), "payload": orjson.dumps(raw)[:2000]})
                if isinstance(exc, UnknownModule):
                    unknown_modules.append(exc.module)
    return Decoded(events, dead, learners, unknown_modules)


def decode(raw: object, catalog: Catalog) -> Event:
    """One event from the stream, by the rules of `decode_row`; raises WireError."""
    codes: dict[tuple[str, str], int] = {}
    _, event_id, _, module, score, timestamp, cohort, role = decode_row(
        raw, catalog.module_index, catalog.role_index, codes, lambda key: codes.setdefault(key, 0)
    )
    ((tenant, learner),) = codes
    return Event(
        id=event_id,
        tenant=tenant,
        learner=learner,
        cohort=cohort,
        module=None if module < 0 else catalog.modules[module].id,
        kind=raw["kind"],
        score=None if math.isnan(score) else score,
        timestamp=timestamp,
        source=raw["source"],
        role=None if role < 0 else catalog.roles[role].id,
    )
