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

    def marks(self, partition: int, tenant: str, day: int) -> str:
        """Ids of a tenant's events already applied, bucketed by the event's own day (a
        string of lines: see sidecar/marks.py)."""
        return f"{self.prefix}:{{p{partition}}}:marks:{tenant}:{day}"

    def snapshot(self, partition: int) -> str:
        """The partition's latest snapshot: JSON naming its position, parameters and hash."""
        return f"{self.prefix}:{{p{partition}}}:snapshot"

    def snapshot_data(self, partition: int, position: str) -> str:
        """A snapshot's learner values and marks (a hash; see sidecar/snapshots.py)."""
        return f"{self.prefix}:{{p{partition}}}:snapshot:{position}"

    def trimmed(self, partition: int) -> str:
        """The bound retention last trimmed the partition's log below."""
        return f"{self.prefix}:{{p{partition}}}:trimmed"

    def archived(self, partition: int) -> str:
        """The archive of trimmed entries (a hash): `last` entry written, every entry `below`
        an id written, and whether it began with the `whole` log (sidecar/snapshots.py)."""
        return f"{self.prefix}:{{p{partition}}}:archived"

    def owner(self, partition: int) -> str:
        """The partition's lease: the owning worker's token, with a TTL (its heartbeat)."""
        return f"{self.prefix}:{{p{partition}}}:owner"

    def handover(self, partition: int) -> str:
        """Set by `skillgap replay`: the owner gives the partition up and none takes it."""
        return f"{self.prefix}:{{p{partition}}}:handover"

    def stats(self, partition: int) -> str:
        """Counters of the partition's workers (events applied, dead letters, batch latency)."""
        return f"{self.prefix}:{{p{partition}}}:stats"

    @property
    def workers(self) -> str:
        """Live workers: a sorted set of names scored by the time their heartbeat expires."""
        return f"{self.prefix}:workers"

    @property
    def parameters(self) -> str:
        """Model parameter versions: a hash of version -> JSON; versions are never overwritten."""
        return f"{self.prefix}:params"

    @property
    def parameters_active(self) -> str:
        return f"{self.prefix}:params:active"

    @property
    def parameters_counter(self) -> str:
        return f"{self.prefix}:params:last"

    def people(self, tenant: str) -> str:
        """People from HR: person id -> role, department, manager, start date (core/people.py)."""
        return f"{self.prefix}:people:{tenant}"

    def events_per_day(self, partition: int, tenant: str) -> str:
        """Events a partition's workers applied for a tenant, by the event's own day (days since
        the epoch): counted in the batch's commit, so exactly once."""
        return f"{self.prefix}:{{p{partition}}}:daily:{tenant}"

    @property
    def tokens(self) -> str:
        return f"{self.prefix}:tokens"

    @property
    def tokens_used(self) -> str:
        """When each API token was last used (token hash -> seconds)."""
        return f"{self.prefix}:tokens:used"

    @property
    def secrets(self) -> str:
        return f"{self.prefix}:secrets"

    @property
    def meta(self) -> str:
        return f"{self.prefix}:meta"

    # xAPI intake and LMS sync (lti_tool/xapi/, lti_tool/moodle/). A tenant's statement
    # records share the hash tag {x:tenant}, so one script can check a whole batch on a cluster.
    @property
    def xapi_credentials(self) -> str:
        return f"{self.prefix}:xapi:credentials"

    def xapi_statement(self, tenant: str, statement_id: str) -> str:
        return f"{self.prefix}:{{x:{tenant}}}:stmt:{statement_id}"

    @property
    def xapi_forward(self) -> str:
        """Accepted statements on their way to the company's LRS (every tenant's)."""
        return f"{self.prefix}:xapi:forward"

    @property
    def xapi_forward_dead(self) -> str:
        """Statements the LRS refused or could not take after every attempt."""
        return f"{self.prefix}:xapi:forward:dead"

    def xapi_pull_cursor(self, tenant: str, lrs: str) -> str:
        """The last `stored` time read from an LRS (by its URL's hash) for a tenant."""
        return f"{self.prefix}:xapi:{tenant}:pull:{lrs}"

    def xapi_counts(self, tenant: str) -> str:
        return f"{self.prefix}:xapi:{tenant}:counts"

    def xapi_unmapped(self, tenant: str) -> str:
        return f"{self.prefix}:xapi:{tenant}:unmapped"

    def xapi_unmapped_names(self, tenant: str) -> str:
        return f"{self.prefix}:xapi:{tenant}:unmapped-names"

    def recent_events(self, tenant: str, source: str) -> str:
        return f"{self.prefix}:recent:{tenant}:{source}"

    def xapi_waiting_actors(self, tenant: str) -> str:
        return f"{self.prefix}:xapi:{tenant}:waiting"

    def xapi_waiting(self, tenant: str, actor: str) -> str:
        return f"{self.prefix}:xapi:{tenant}:waiting:{actor}"

    def moodle_sync(self, tenant: str, site: str, course: str) -> str:
        return f"{self.prefix}:moodle:{tenant}:{site}:{course}"
