"""Worker counters, kept in Redis so that every worker process adds to the same numbers, and
the Prometheus collector that the API's /metrics reads them with.

Each batch's commit adds its counts to the partition's stats hash inside the same MULTI/EXEC,
so the counters are exactly-once too: a batch that is retried is counted once.
"""

from __future__ import annotations

import time
from itertools import accumulate

import redis
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from core.keys import CONSUMER_GROUP, Keys
from sidecar.batching import entry_time_ms

LAG_COUNT_CAP = 10_000  # on Redis 6.2 lag is counted entry by entry, up to this many
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COUNTERS = {
    "applied": "events applied to mastery",
    "duplicates": "events skipped because they were already applied",
    "dead": "events and entries sent to the dead-letter stream",
    "entries": "stream entries processed",
    "batches": "batches committed",
}


def record_batch(pipe, key: str, applied: int, duplicates: int, dead: int, entries: int, latency_s: float) -> None:
    """Queue the batch's counts on a MULTI/EXEC pipeline (the batch's own commit)."""
    for name, value in (
        ("applied", applied),
        ("duplicates", duplicates),
        ("dead", dead),
        ("entries", entries),
        ("batches", 1),
    ):
        if value:
            pipe.hincrby(key, name, value)
    pipe.hincrbyfloat(key, "latency_sum", latency_s)
    # One bucket per batch (its smallest bound); the collector sums them into Prometheus's
    # cumulative ones. Slower than the last bound: counted in "batches" (+Inf) only.
    bound = next((b for b in LATENCY_BUCKETS if latency_s <= b), None)
    if bound is not None:
        pipe.hincrby(key, f"latency_bucket_{bound:g}", 1)


class PipelineCollector(Collector):
    """Reads every partition's counters, lag, pending entries and dead letters at scrape time."""

    def __init__(self, client: redis.Redis, keys: Keys, partitions: int):
        self.client = client
        self.keys = keys
        self.partitions = partitions

    def collect(self):
        partitions = [str(p) for p in range(self.partitions)]
        stats = self._stats()
        lag, pending, oldest = self._lag()
        dead_letters = self._dead_letters()
        for name, doc in COUNTERS.items():
            family = CounterMetricFamily(
                f"skillgap_events_{name}" if name in ("applied", "duplicates") else f"skillgap_{name}",
                doc,
                labels=["partition"],
            )
            for p, values in zip(partitions, stats):
                family.add_metric([p], float(values.get(name, 0)))
            yield family
        latency = HistogramMetricFamily(
            "skillgap_batch_latency_seconds", "time from reading a batch to committing it", labels=["partition"]
        )
        for p, values in zip(partitions, stats):
            counts = accumulate(float(values.get(f"latency_bucket_{b:g}", 0)) for b in LATENCY_BUCKETS)
            buckets = [(f"{b:g}", total) for b, total in zip(LATENCY_BUCKETS, counts)]
            count = float(values.get("batches", 0))
            latency.add_metric([p], buckets + [("+Inf", count)], float(values.get("latency_sum", 0.0)))
        yield latency
        for metric, doc, values in (
            ("skillgap_partition_lag_entries", "entries in the partition's stream not yet read by a worker", lag),
            ("skillgap_partition_pending_entries", "entries read but not yet committed", pending),
            ("skillgap_partition_lag_seconds", "age of the oldest entry not yet committed (0 when none)", oldest),
            ("skillgap_dead_letters", "entries in the partition's dead-letter stream", dead_letters),
        ):
            family = GaugeMetricFamily(metric, doc, labels=["partition"])
            for p, value in zip(partitions, values):
                family.add_metric([p], float(value))
            yield family

    def _stats(self) -> list[dict[str, str]]:
        pipe = self.client.pipeline(transaction=False)
        for p in range(self.partitions):
            pipe.hgetall(self.keys.stats(p))
        return [{k.decode(): v.decode() for k, v in raw.items()} for raw in pipe.execute()]

    def _dead_letters(self) -> list[int]:
        pipe = self.client.pipeline(transaction=False)
        for p in range(self.partitions):
            pipe.xlen(self.keys.dead_letters(p))
        return pipe.execute()

    def _lag(self) -> tuple[list[int], list[int], list[float]]:
        lag, pending, oldest = [], [], []
        now_ms = time.time() * 1000
        for p in range(self.partitions):
            stream = self.keys.stream(p)
            group = next(
                (g for g in _groups(self.client, stream) if g["name"] in (CONSUMER_GROUP.encode(), CONSUMER_GROUP)),
                None,
            )
            if group is None:
                lag.append(0), pending.append(0), oldest.append(0.0)
                continue
            unread = self.client.xrange(stream, min=f"({as_text(group['last-delivered-id'])}", count=1)
            first_pending = self.client.xpending(stream, CONSUMER_GROUP)["min"]
            if group.get("lag") is not None:
                lag.append(int(group["lag"]))
            else:  # Redis before 7.0 has no lag: count what follows the last delivered entry (capped)
                after = f"({as_text(group['last-delivered-id'])}"
                lag.append(len(self.client.xrange(stream, min=after, count=LAG_COUNT_CAP)))
            pending.append(int(group["pending"]))
            candidates = [entry_time_ms(first_pending)] if first_pending else []
            if unread:
                candidates.append(entry_time_ms(unread[0][0]))
            oldest.append(max(0.0, (now_ms - min(candidates)) / 1000) if candidates else 0.0)
        return lag, pending, oldest


def _groups(client: redis.Redis, stream: str) -> list[dict]:
    try:
        return client.xinfo_groups(stream)
    except redis.ResponseError:  # no such stream yet
        return []


def as_text(value: bytes | str) -> str:
    """A Redis reply's bytes as text (a client may decode replies itself)."""
    return value.decode() if isinstance(value, bytes) else value
