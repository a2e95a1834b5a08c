"""The pipeline's health in a few figures, for people (the dashboard): the same numbers
/metrics gives Prometheus, summed over partitions, and the live workers."""

from __future__ import annotations

from dataclasses import dataclass

import redis

from core.keys import Keys
from sidecar.metrics import PipelineCollector


@dataclass(frozen=True)
class PipelineHealth:
    workers: int  # live heartbeats
    applied: int
    waiting: int  # entries not yet read, plus read but not committed
    oldest_wait_s: float
    dead_letters: int

    @property
    def ok(self) -> bool:
        return self.workers > 0


def pipeline_health(client: redis.Redis, keys: Keys, partitions: int, now: float) -> PipelineHealth:
    totals: dict[str, float] = {}
    oldest = 0.0
    for family in PipelineCollector(client, keys, partitions).collect():
        for sample in family.samples:
            if sample.name == "skillgap_partition_lag_seconds":
                oldest = max(oldest, sample.value)
            elif not sample.name.endswith(("_bucket", "_sum", "_count", "_created")):
                totals[sample.name] = totals.get(sample.name, 0.0) + sample.value
    return PipelineHealth(
        workers=client.zcount(keys.workers, now, "+inf"),
        applied=int(totals.get("skillgap_events_applied_total", 0)),
        waiting=int(
            totals.get("skillgap_partition_lag_entries", 0) + totals.get("skillgap_partition_pending_entries", 0)
        ),
        oldest_wait_s=oldest,
        dead_letters=int(totals.get("skillgap_dead_letters", 0)),
    )


def live_worker(client: redis.Redis, keys: Keys, name_prefix: str, now: float) -> str | None:
    """The name of a worker starting with `name_prefix` whose heartbeat has not expired."""
    for name in client.zrangebyscore(keys.workers, now, "+inf"):
        name = name.decode() if isinstance(name, bytes) else name
        if name.startswith(name_prefix):
            return name
    return None
