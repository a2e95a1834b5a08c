"""Learner state and recommendations in Redis: one string value per (tenant, learner).

Written by the sidecar's workers, read by the analyst API and the LTI tool. One value per
learner lets a worker read and write a whole partition's learners with one MGET and one MSET.
The value (`SG2`) is:

    b"SG2" | layout fingerprint (16 bytes) | ranking slots k (1 byte) | meta length (4 bytes, LE)
    | meta JSON {"role", "cohorts", "first", "start", "done"} | the numbers, `record_dtype(k, M)`: event count, updated,
    ranked-as-of time, the ranking (module index, action code, gain, gain per minute,
    information; k slots, module -1 past the last), the state (float64, (3, M))

The numbers are binary so that a worker writes a batch's learners from arrays (the meta JSON,
which changes rarely, it keeps per learner). The meta's optional keys serve mandatory modules
(core/mandatory.py): "first", the earliest event's time; "start", the start date from HR (as
the workers last read it); "done", module id -> when a mandatory module was first completed. Module and knowledge point indexes refer to the
catalog layout named by the fingerprint; workers register their layout (`register_layout`), so
values written under an older catalog are still read right.

The explanation of each ranked module (what it closes or measures, what it relies on) is built
when a reader asks, from the stored state as of the ranking's time, which gives the same
result as building it at write time.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field

import numpy as np
import orjson
import redis

from core.catalog import Catalog, own_points
from core.explain import recommendation_items
from core.keys import Keys, partition_of
from core.mandatory import DueRules, Status, enrolment_times
from engine import RANKING_READY_MASTERY, STATE_FIELDS, Action, Model, decayed_belief, new_state, shortfall_loss
from engine.objective import ShortfallLoss

MAX_COHORTS = 64
MAGIC = b"SG2"
ACTIONS = [action.name.lower() for action in sorted(Action)]
ACTION_CODES = {name: code for code, name in enumerate(ACTIONS)}


def record_dtype(slots: int, n_points: int) -> np.dtype:
    """The binary part of a stored value, for rankings of `slots` modules over `n_points` points."""
    ranked = (slots,)
    return np.dtype(
        [
            ("events", "<i8"),
            ("updated", "<f8"),
            ("recs_at", "<f8"),
            ("module", "<i4", ranked),
            ("action", "i1", ranked),
            ("gain", "<f8", ranked),
            ("per_minute", "<f8", ranked),
            ("information", "<f8", ranked),
            ("state", "<f8", (STATE_FIELDS, n_points)),
        ]
    )


def learner_numbers(
    events: np.ndarray,
    updated: float,
    recs_at: np.ndarray,
    module: np.ndarray,
    action: np.ndarray,
    gain: np.ndarray,
    per_minute: np.ndarray,
    information: np.ndarray,
    state: np.ndarray,
) -> np.ndarray:
    """The binary part of learners' stored values (`record_dtype`), a row per learner: the
    ranking's arrays are (L, k), the state (L, 3, M)."""
    numbers = np.empty(len(state), record_dtype(module.shape[1], state.shape[2]))
    numbers["events"], numbers["updated"], numbers["recs_at"] = events, updated, recs_at
    numbers["module"], numbers["action"], numbers["gain"] = module, action, gain
    numbers["per_minute"], numbers["information"], numbers["state"] = per_minute, information, state
    return numbers


@dataclass(frozen=True)
class Layout:
    """The order of knowledge points and modules that stored indexes refer to."""

    points: list[str]
    modules: list[str]

    @property
    def fingerprint(self) -> str:
        text = "\n".join(self.points) + "\n\n" + "\n".join(self.modules)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class LearnerRecord:
    tenant: str
    learner: str
    state: np.ndarray  # (3, M) in the catalog's knowledge point order
    role: str | None = None
    cohorts: tuple[str, ...] = ()
    events: int = 0
    updated: float = 0.0
    recommendations: list[dict] = field(default_factory=list)  # explained; filled on read
    recommended_at: float = 0.0  # rankings are as of this time: the learner's latest event
    # The ranked modules as parallel lists: "module" (ids), "action", "gain", "per_minute",
    # "information" (what an assessment would tell).
    ranking: dict[str, list] = field(default_factory=dict)
    first_seen: float | None = None  # the earliest event's time (None: stored before it was kept)
    start: float | None = None  # the start date from HR, as the workers last read it
    done: dict[str, float] = field(default_factory=dict)  # mandatory module id -> first completed


@dataclass(frozen=True)
class Standing:
    """Learners' mastery against their role's targets as of one time, a row per learner: what
    the API, the tool's pages, AGS scores and gap reports all show (`LearnerStore.standing`)."""

    mastery: np.ndarray  # (L, M), decayed to `as_of`
    uncertainty: np.ndarray  # (L, M)
    targets: np.ndarray  # (L, M)
    as_of: float

    @property
    def gap(self) -> np.ndarray:
        """(L, M): how far below target, 0 at or above it."""
        return np.maximum(self.targets - self.mastery, 0.0)

    @property
    def loss(self) -> ShortfallLoss:
        return shortfall_loss(self.mastery, self.targets)

    @property
    def progress(self) -> np.ndarray:
        """(L,): the share of the target mastery reached, mastery above a target not counted
        (1 for a role with no targets)."""
        total = self.targets.sum(axis=1)
        reached = np.minimum(self.mastery, self.targets).sum(axis=1)
        return np.divide(reached, total, out=np.ones_like(total), where=total > 0)


class LearnerStore:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        partitions: int,
        catalog: Catalog,
        model: Model,
        assessment_uncertainty: float = 0.15,
        prerequisite_threshold: float = RANKING_READY_MASTERY,
    ):
        self.client = client
        self.assessment_uncertainty = assessment_uncertainty
        self.prerequisite_threshold = prerequisite_threshold
        self.keys = keys
        self.partitions = partitions
        self.catalog = catalog
        self.model = model
        self.due_rules = DueRules.of(catalog)
        self.own_points = own_points(catalog, model.targets)  # (R, M): what sets each role apart
        self.layout = Layout(list(catalog.point_index), [m.id for m in catalog.modules])
        self._layouts: dict[str, Layout] = {self.layout.fingerprint: self.layout}
        self._prefix = MAGIC + self.layout.fingerprint.encode()

    def register_layout(self) -> None:
        """Record this catalog's layout, so values stored under it are read right after the
        catalog changes."""
        layout = {"points": self.layout.points, "modules": self.layout.modules}
        self.client.set(self._layout_key(self.layout.fingerprint), orjson.dumps(layout))

    def _layout_key(self, fingerprint: str) -> str:
        return f"{self.keys.prefix}:layout:{fingerprint}"

    def layout_of(self, fingerprint: str) -> Layout:
        if fingerprint not in self._layouts:
            stored = self.client.get(self._layout_key(fingerprint))
            if stored is None:
                raise LookupError(f"stored learner state uses an unknown catalog layout {fingerprint!r}")
            self._layouts[fingerprint] = Layout(**orjson.loads(stored))
        return self._layouts[fingerprint]

    def partition(self, tenant: str, learner: str) -> int:
        return partition_of(tenant, learner, self.partitions)

    def key(self, tenant: str, learner: str) -> str:
        return self.keys.learner(self.partition(tenant, learner), tenant, learner)

    def get(self, tenant: str, learner: str) -> LearnerRecord | None:
        """One learner's record with explained recommendations (None if never seen)."""
        return self.decode(tenant, learner, self.client.get(self.key(tenant, learner)))

    def get_many(self, tenant: str, learners: list[str], explain: bool = True) -> list[LearnerRecord]:
        """The records of those learners that exist, in the order given."""
        pipe = self.client.pipeline(transaction=False)
        for learner in learners:
            pipe.get(self.key(tenant, learner))
        records = (self.decode(tenant, learner, raw, explain) for learner, raw in zip(learners, pipe.execute()))
        return [record for record in records if record is not None]

    def new(self, tenant: str, learner: str) -> LearnerRecord:
        return LearnerRecord(tenant, learner, new_state(self.model, 1)[0])

    def decode(self, tenant: str, learner: str, raw: bytes | None, explain: bool = True) -> LearnerRecord | None:
        """The record in a stored value (None when there was none). `explain`: build the
        recommendations' explanations (readers); workers only need the ranking."""
        if not raw:
            return None
        if raw[:3] != MAGIC:
            raise ValueError(f"learner {tenant}/{learner}: not a SkillGap learner value")
        record = self._decode(tenant, learner, raw)
        if explain:
            record.recommendations = self.explain(record)
        return record

    def _decode(self, tenant: str, learner: str, raw: bytes) -> LearnerRecord:
        layout = self.layout_of(raw[3:19].decode())
        meta_end = 24 + int.from_bytes(raw[20:24], "little")
        meta = orjson.loads(raw[24:meta_end])
        numbers = np.frombuffer(raw, record_dtype(raw[19], len(layout.points)), count=1, offset=meta_end)[0]
        ranking = ranking_lists(
            numbers["module"],
            numbers["action"],
            numbers["gain"],
            numbers["per_minute"],
            numbers["information"],
            layout.modules,
        )
        if layout is not self.layout:  # modules the catalog no longer has are not recommended
            keep = [i for i, module in enumerate(ranking["module"]) if module in self.catalog.module_index]
            ranking = {name: [values[i] for i in keep] for name, values in ranking.items()}
        return LearnerRecord(
            tenant,
            learner,
            self._in_catalog_order(numbers["state"].copy(), layout.points),
            meta["role"],
            tuple(meta["cohorts"]),
            int(numbers["events"]),
            float(numbers["updated"]),
            recommended_at=float(numbers["recs_at"]),
            ranking=ranking,
            first_seen=meta.get("first"),
            start=meta.get("start"),
            done=meta.get("done", {}),
        )

    def explain(self, record: LearnerRecord) -> list[dict]:
        """The stored ranking with what each module closes or measures (core/explain.py) and,
        for a module mandatory for the learner's role and not done, its due date."""
        if not record.ranking.get("module"):
            return []
        belief = decayed_belief(record.state[None], self.model, record.recommended_at)
        items = recommendation_items(
            self.catalog,
            self.model,
            record.ranking,
            belief.mastery[0],
            belief.uncertainty[0],
            self.targets_of(record),
            self.assessment_uncertainty,
            self.prerequisite_threshold,
            self.own_points[self.role_rows(self.role_indexes([record]))[0]],
        )
        due = {s.module: s.due_day for s in self.mandatory(record, record.recommended_at) if s.completed is None}
        for item in items:
            if item["module"] in due:
                item["mandatory_due"] = due[item["module"]]
        return items

    def _in_catalog_order(self, state: np.ndarray, points: list[str]) -> np.ndarray:
        """State stored under another catalog's points: keep the points both know, start new ones fresh."""
        if points == self.layout.points:
            return state
        old = {point: j for j, point in enumerate(points)}
        fresh = new_state(self.model, 1)[0]
        for j, point in enumerate(self.catalog.point_index):
            if point in old:
                fresh[:, j] = state[:, old[point]]
        return fresh

    def encode(self, record: LearnerRecord) -> bytes:
        """One record's stored value (what the workers write for a table row, `values`)."""
        ranking = record.ranking

        def slots(name: str, dtype, code=lambda value: value) -> np.ndarray:  # (1, k): one learner's slots
            return np.array([code(value) for value in ranking.get(name, [])], dtype).reshape(1, -1)

        numbers = learner_numbers(
            np.array([record.events]),
            record.updated,
            np.array([record.recommended_at]),
            slots("module", np.int32, self.catalog.module_index.__getitem__),
            slots("action", np.int8, ACTION_CODES.__getitem__),
            slots("gain", np.float64),
            slots("per_minute", np.float64),
            slots("information", np.float64),
            record.state[None],
        )
        meta = meta_json(record.role, record.cohorts, record.first_seen, record.start, record.done)
        return self.values([meta], numbers)[0]

    def values(self, metas: list[bytes], numbers: np.ndarray) -> list[bytes]:
        """Stored values from each learner's `meta_json` and its numbers (`learner_numbers`)."""
        prefix = self._prefix + bytes([numbers.dtype["module"].shape[0]])
        blob, size = numbers.tobytes(), numbers.dtype.itemsize
        return [b"".join((prefix, meta, blob[i * size : (i + 1) * size])) for i, meta in enumerate(metas)]

    def _merged(self, index_key, after: str | None = None, limit: int | None = None) -> list[str]:
        """Members of a per-partition index across all partitions, in id order."""
        start = f"({after}" if after else "-"
        paging = {} if limit is None else {"offset": 0, "num": limit}
        pipe = self.client.pipeline(transaction=False)
        for partition in range(self.partitions):
            pipe.zrange(index_key(partition), start, "+", bylex=True, **paging)
        return sorted({member.decode() for batch in pipe.execute() for member in batch})

    def list(self, tenant: str, after: str | None, limit: int) -> tuple[list[str], str | None]:
        """Learner ids of a tenant in id order, `limit` at a time after the cursor `after`."""
        merged = self._merged(lambda p: self.keys.learner_index(p, tenant), after, limit + 1)
        page = merged[:limit]
        return page, (page[-1] if len(merged) > limit else None)

    def cohorts(self, tenant: str) -> list[str]:
        return self._merged(lambda p: self.keys.cohorts(p, tenant))

    def cohort_learners(self, tenant: str, cohort: str) -> list[str]:
        return self._merged(lambda p: self.keys.cohort_index(p, tenant, cohort))

    def standing(self, records: list[LearnerRecord], now: float) -> Standing:
        """The records' mastery against their role's targets as of `now`."""
        if not records:
            empty = np.zeros((0, self.model.n_points))
            return Standing(empty, empty, empty, now)
        belief = decayed_belief(np.stack([r.state for r in records]), self.model, now)
        return Standing(belief.mastery, belief.uncertainty, self.targets_for(records), now)

    def role_of(self, record: LearnerRecord) -> str:
        return record.role or self.catalog.default_role

    def role_rows(self, roles: np.ndarray) -> np.ndarray:
        """Catalog role indexes with the default role's for none (negative)."""
        return np.where(roles < 0, self.catalog.role_index[self.catalog.default_role], roles)

    def mandatory(self, record: LearnerRecord, as_of: float) -> list[Status]:
        """The modules mandatory for the learner's role: due when, done or not, as of `as_of`."""
        role = self.catalog.role_index[self.role_of(record)]
        return self.due_rules.statuses(role, float(self.enrolment([record])[0]), record.done, as_of)

    def enrolment(self, records: list[LearnerRecord]) -> np.ndarray:
        """(L,) each record's enrolment time (core/mandatory.py: HR's start date, else the earliest event)."""

        def known(values) -> np.ndarray:
            return np.array([np.nan if value is None else value for value in values], np.float64)

        return enrolment_times(
            known(r.start for r in records),
            known(r.first_seen for r in records),
            np.array([r.recommended_at for r in records], np.float64),
        )

    def due_for(self, records: list[LearnerRecord]) -> np.ndarray:
        """(L, Q) engine.recommend's `due` for the records: when each mandatory module is due,
        inf where it is not mandatory for the learner's role or is done (what the workers pass)."""
        ids = self.due_rules.ids
        done = np.array([[r.done.get(module, np.inf) for module in ids] for r in records], np.float64)
        roles = np.array([self.catalog.role_index[self.role_of(r)] for r in records], np.int64)
        return self.due_rules.due(
            roles, self.enrolment(records), done.reshape(len(records), len(ids)), self.model.n_modules
        )

    def targets_of(self, record: LearnerRecord) -> np.ndarray:
        return self.targets_for([record])[0]

    def targets_for(self, records: list[LearnerRecord]) -> np.ndarray:
        """(L, M): each learner's role's targets."""
        return self.targets_for_roles(self.role_indexes(records))

    def role_indexes(self, records: list[LearnerRecord]) -> np.ndarray:
        """(L,) each learner's role by its index in the catalog, -1 for none or one not in it."""
        index = self.catalog.role_index
        return np.array([index.get(record.role, -1) for record in records], np.int64)

    def targets_for_roles(self, roles: np.ndarray) -> np.ndarray:
        """(L, M): the targets of each role, by its index in the catalog (negative: no role,
        the catalog's default role's)."""
        return self.model.targets[self.role_rows(roles)]

    def own_points_for_roles(self, roles: np.ndarray) -> np.ndarray:
        """(L, M) bool: the points that set each role apart (`core.catalog.own_points`), by its
        index in the catalog (negative: the default role's)."""
        return self.own_points[self.role_rows(roles)]


def meta_json(
    role: str | None,
    cohorts: tuple[str, ...],
    first_seen: float | None = None,
    start: float | None = None,
    done: dict[str, float] | None = None,
) -> bytes:
    """The JSON part of a stored value, preceded by its length."""
    extra: dict = {}
    if first_seen is not None:
        extra["first"] = first_seen
    if start is not None:
        extra["start"] = start
    if done:
        extra["done"] = done
    # {"role", "cohorts"} shared, then each learner's own keys: a worker loading many learners
    # encodes each one's meta once (12 µs as one dict and numpy scalars, under 2 µs so)
    encoded = _role_and_cohorts(role, cohorts) + (b"," + orjson.dumps(extra)[1:] if extra else b"}")
    return len(encoded).to_bytes(4, "little") + encoded


@functools.lru_cache(maxsize=4096)  # learners share few (role, cohorts) pairs
def _role_and_cohorts(role: str | None, cohorts: tuple[str, ...]) -> bytes:
    """The meta JSON's first keys, without its closing brace."""
    return orjson.dumps({"role": role, "cohorts": sorted(cohorts)[-MAX_COHORTS:]})[:-1]


def ranking_lists(
    module: np.ndarray,
    action: np.ndarray,
    gain: np.ndarray,
    per_minute: np.ndarray,
    information: np.ndarray,
    module_ids: list[str],
) -> dict[str, list]:
    """One learner's ranking as parallel lists, from its slots (module -1: no more modules)."""
    n = int((module >= 0).sum())  # the engine fills unused slots at the end
    return {
        "module": [module_ids[q] for q in module[:n].tolist()],
        "action": [ACTIONS[a] for a in action[:n].tolist()],
        "gain": gain[:n].tolist(),
        "per_minute": per_minute[:n].tolist(),
        "information": information[:n].tolist(),
    }
