"""Learner state and recommendations in Redis: one hash per (tenant, learner).

Written by the sidecar's workers, read by the analyst API and the LTI tool.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import orjson
import redis

from engine import STATE_FIELDS, Model, new_state
from skillgap.catalog import Catalog
from skillgap.keys import Keys, partition_of

MAX_COHORTS = 64


@dataclass
class LearnerRecord:
    tenant: str
    learner: str
    state: np.ndarray  # (3, M) in the catalog's knowledge point order
    role: str | None = None
    cohorts: tuple[str, ...] = ()
    events: int = 0
    updated: float = 0.0
    recommendations: list[dict] = field(default_factory=list)
    recommended_at: float = 0.0


class LearnerStore:
    def __init__(self, client: redis.Redis, keys: Keys, partitions: int, catalog: Catalog, model: Model):
        self.client = client
        self.keys = keys
        self.partitions = partitions
        self.catalog = catalog
        self.model = model
        self._layouts: dict[str, list[str]] = {catalog.points_fingerprint: list(catalog.point_index)}

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
        return self.decode(tenant, learner, self.client.hgetall(self.key(tenant, learner)))

    def get_many(self, tenant: str, learners: list[str]) -> list[LearnerRecord]:
        """The records of those learners that exist, in the order given."""
        pipe = self.client.pipeline(transaction=False)
        for learner in learners:
            pipe.hgetall(self.key(tenant, learner))
        records = (self.decode(tenant, learner, raw) for learner, raw in zip(learners, pipe.execute()))
        return [record for record in records if record is not None]

    def new(self, tenant: str, learner: str) -> LearnerRecord:
        return LearnerRecord(tenant, learner, new_state(self.model, 1)[0])

    def decode(self, tenant: str, learner: str, raw: dict[bytes, bytes]) -> LearnerRecord | None:
        if not raw:
            return None
        state = np.frombuffer(raw[b"state"], dtype=np.float64).reshape(STATE_FIELDS, -1).copy()
        fingerprint = raw.get(b"points", b"").decode()
        if fingerprint != self.catalog.points_fingerprint:
            state = self._remap(state, fingerprint)
        return LearnerRecord(
            tenant=tenant,
            learner=learner,
            state=state,
            role=raw[b"role"].decode() if raw.get(b"role") else None,
            cohorts=tuple(orjson.loads(raw.get(b"cohorts", b"[]"))),
            events=int(raw.get(b"events", 0)),
            updated=float(raw.get(b"updated", 0)),
            recommendations=orjson.loads(raw.get(b"recs", b"[]")),
            recommended_at=float(raw.get(b"recs_at", 0)),
        )

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

    def encode(self, record: LearnerRecord) -> dict[str, bytes | str | int | float]:
        return {
            "state": np.ascontiguousarray(record.state, dtype=np.float64).tobytes(),
            "points": self.catalog.points_fingerprint,
            "role": record.role or "",
            "cohorts": orjson.dumps(sorted(record.cohorts)[-MAX_COHORTS:]),
            "events": record.events,
            "updated": record.updated,
            "recs": orjson.dumps(record.recommendations),
            "recs_at": record.recommended_at,
        }

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
        return self.model.targets[self.catalog.role_index[self.role_of(record)]]
