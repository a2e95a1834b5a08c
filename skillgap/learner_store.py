"""Learner state and recommendations in Redis: one string value per (tenant, learner).

Written by the sidecar's workers, read by the analyst API and the LTI tool. The value is
`SG1` + the knowledge point layout's fingerprint (16 bytes) + the length of the meta JSON
(4 bytes, little-endian) + the meta JSON (role, cohorts, event count, times and the ranking) +
the state (float64, (3, M)). One value per learner lets a worker
read and write a whole partition's learners with one MGET and one MSET.

The ranking is stored compact (module, action, gain, gain per minute, information); the
explanation of each item (what it closes or measures, what it relies on) is built when a reader
asks, from the stored state as of the ranking's time, which gives the same result as building
it at write time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import orjson
import redis

from engine import STATE_FIELDS, Model, decayed_belief, new_state
from skillgap.catalog import Catalog
from skillgap.explain import recommendation_items
from skillgap.keys import Keys, partition_of

MAX_COHORTS = 64
MAGIC = b"SG1"


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


class LearnerStore:
    def __init__(
        self, client: redis.Redis, keys: Keys, partitions: int, catalog: Catalog, model: Model,
        assessment_uncertainty: float = 0.15,
    ):  # fmt: skip
        self.client = client
        self.assessment_uncertainty = assessment_uncertainty
        self.keys = keys
        self.partitions = partitions
        self.catalog = catalog
        self.model = model
        self._layouts: dict[str, list[str]] = {catalog.points_fingerprint: list(catalog.point_index)}
        self._fingerprint = catalog.points_fingerprint.encode()
        if len(self._fingerprint) != 16:
            raise ValueError("a catalog's points fingerprint is 16 characters")

    def register_layout(self) -> None:
        """Record this catalog's point order, so state stored under it can be remapped later."""
        self.client.set(self._layout_key(self.catalog.points_fingerprint), orjson.dumps(list(self.catalog.point_index)))

    def _layout_key(self, fingerprint: str) -> str:
        return f"{self.keys.prefix}:points:{fingerprint}"

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

    def load_partition(self, partition: int, learners: list[tuple[str, str]]) -> list[bytes | None]:
        """The stored values of learners of one partition, in one MGET (one slot on a cluster)."""
        return self.client.mget([self.keys.learner(partition, tenant, learner) for tenant, learner in learners])

    def new(self, tenant: str, learner: str) -> LearnerRecord:
        return LearnerRecord(tenant, learner, new_state(self.model, 1)[0])

    def decode(self, tenant: str, learner: str, raw: bytes | None, explain: bool = True) -> LearnerRecord | None:
        """The record in a stored value (None when there was none). `explain`: build the
        recommendations' explanations (readers); workers only need the ranking."""
        if not raw:
            return None
        if raw[:3] != MAGIC:
            raise ValueError(f"learner {tenant}/{learner}: not a SkillGap learner value")
        fingerprint = raw[3:19].decode()
        meta_end = 23 + int.from_bytes(raw[19:23], "little")
        meta = orjson.loads(raw[23:meta_end])
        state = np.frombuffer(raw, dtype=np.float64, offset=meta_end).reshape(STATE_FIELDS, -1).copy()
        if fingerprint != self.catalog.points_fingerprint:
            state = self._remap(state, fingerprint)
        record = LearnerRecord(
            tenant=tenant,
            learner=learner,
            state=state,
            role=meta["role"],
            cohorts=tuple(meta["cohorts"]),
            events=meta["events"],
            updated=meta["updated"],
            recommended_at=meta["recs_at"],
            ranking=meta["ranking"],
        )
        if explain:
            record.recommendations = self.explain(record)
        return record

    def explain(self, record: LearnerRecord) -> list[dict]:
        """The stored ranking with what each module closes or measures (skillgap/explain.py)."""
        if not record.ranking.get("module"):
            return []
        belief = decayed_belief(record.state[None], self.model, record.recommended_at)
        return recommendation_items(
            self.catalog, self.model, record.ranking, belief.mastery[0], belief.uncertainty[0],
            self.targets_of(record), self.assessment_uncertainty,
        )  # fmt: skip

    def _remap(self, state: np.ndarray, fingerprint: str) -> np.ndarray:
        """State stored under an older catalog: keep the points both know, start new ones fresh."""
        if fingerprint not in self._layouts:
            layout = self.client.get(self._layout_key(fingerprint))
            if layout is None:
                raise LookupError(f"stored learner state uses an unknown knowledge point layout {fingerprint!r}")
            self._layouts[fingerprint] = orjson.loads(layout)
        old = {point: j for j, point in enumerate(self._layouts[fingerprint])}
        fresh = new_state(self.model, 1)[0]
        for j, point in enumerate(self.catalog.point_index):
            if point in old:
                fresh[:, j] = state[:, old[point]]
        return fresh

    def encode(self, record: LearnerRecord) -> bytes:
        meta = {
            "role": record.role,
            "cohorts": sorted(record.cohorts)[-MAX_COHORTS:],
            "events": record.events,
            "updated": record.updated,
            "recs_at": record.recommended_at,
            "ranking": record.ranking,
        }
        meta_json = orjson.dumps(meta)
        state = np.ascontiguousarray(record.state, dtype=np.float64).tobytes()
        return b"".join((MAGIC, self._fingerprint, len(meta_json).to_bytes(4, "little"), meta_json, state))

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

    def role_of(self, record: LearnerRecord) -> str:
        return record.role or self.catalog.default_role

    def targets_of(self, record: LearnerRecord) -> np.ndarray:
        return self.targets_for([record])[0]

    def targets_for(self, records: list[LearnerRecord]) -> np.ndarray:
        """(L, M): each learner's role's targets."""
        index, default = self.catalog.role_index, self.catalog.default_role
        return self.model.targets[[index[record.role or default] for record in records]]
