"""Where everything lives in Redis.

Streams and learner state are partitioned by learner. Every key of a partition carries
the hash tag ``{pN}``, so on Redis Cluster a partition's stream, learner state and
processed-event marks sit on one shard and one MULTI/EXEC can write them all.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

CONSUMER_GROUP = "workers"


def partition_of(tenant: str, learner: str, partitions: int) -> int:
    """Stable across processes and machines (unlike Python's hash())."""
    return zlib.crc32(f"{tenant}\x1f{learner}".encode()) % partitions


@dataclass(frozen=True)
class Keys:
    prefix: str = "sg"

    def stream(self, partition: int) -> str:
        return f"{self.prefix}:{{p{partition}}}:events"

    def dead_letters(self, partition: int) -> str:
        return f"{self.prefix}:{{p{partition}}}:dead"

    def learner(self, partition: int, tenant: str, learner: str) -> str:
        return f"{self.prefix}:{{p{partition}}}:learner:{tenant}:{learner}"

    def learner_index(self, partition: int, tenant: str) -> str:
        return f"{self.prefix}:{{p{partition}}}:learners:{tenant}"

    def cohort_index(self, partition: int, tenant: str, cohort: str) -> str:
        return f"{self.prefix}:{{p{partition}}}:cohort:{tenant}:{cohort}"

    def cohorts(self, partition: int, tenant: str) -> str:
        return f"{self.prefix}:{{p{partition}}}:cohorts:{tenant}"

    def applied(self, partition: int, day: int) -> str:
        """Ids of events already applied, bucketed by the event's own day."""
        return f"{self.prefix}:{{p{partition}}}:applied:{day}"

    @property
    def tokens(self) -> str:
        return f"{self.prefix}:tokens"

    @property
    def secrets(self) -> str:
        return f"{self.prefix}:secrets"

    @property
    def meta(self) -> str:
        return f"{self.prefix}:meta"
