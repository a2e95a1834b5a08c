"""Batches bounded by time: about `batch_ms` of work while a worker keeps up, more while it is
behind, never more than a third of the lease."""

from __future__ import annotations

import pytest

from core.eventlog import append_events
from core.events import parse_event
from sidecar.batching import BatchSizer
from sidecar.worker import Worker

NOW = 1_790_000_000.0


def seen(sizer: BatchSizer, events_per_entry: int, us_per_event: float) -> BatchSizer:
    sizer.processed(entries=10, events=10 * events_per_entry, seconds=10 * events_per_entry * us_per_event / 1e6)
    return sizer


READ_MS = 1_000_000.0  # when the tests' reads happen, on Redis's clock


def entries_from(streams: int, waited_ms: float, now_ms: float = READ_MS) -> dict[int, list]:
    return {p: [(f"{int(now_ms - waited_ms)}-0".encode(), {})] for p in range(streams)}


def test_batches_hold_about_batch_ms_of_work_while_the_worker_keeps_up():
    sizer = seen(BatchSizer(batch_ms=40, batch_max_ms=1000, lease_ttl_ms=5000, max_entries=10_000), 500, 4.0)
    sizer.read(entries_from(streams=4, waited_ms=5), now_ms=READ_MS)
    assert sizer.budget_s(READ_MS) == 0.04
    assert sizer.count(READ_MS) == 5  # 40 ms / 4 us = 10,000 events = 20 entries of 500, over 4 streams
    small = seen(BatchSizer(40, 1000, 5000, 10_000), 1, 4.0)  # single-event entries: many more
    small.read(entries_from(streams=1, waited_ms=5), now_ms=READ_MS)
    assert small.count(READ_MS) == 10_000


def test_batches_grow_while_the_worker_is_behind_up_to_a_third_of_the_lease():
    sizer = seen(BatchSizer(batch_ms=40, batch_max_ms=1000, lease_ttl_ms=5000, max_entries=10_000), 500, 4.0)
    sizer.read(entries_from(streams=4, waited_ms=160), now_ms=READ_MS)
    assert sizer.budget_s(READ_MS) == 0.16 and sizer.count(READ_MS) == 20
    assert sizer.count(READ_MS) == 80  # still behind: at least four times the last read
    assert sizer.count(READ_MS) == 125  # but never more than batch_max_ms of work
    sizer.read(entries_from(streams=4, waited_ms=30_000), now_ms=READ_MS)
    assert sizer.budget_s(READ_MS) == 1.0
    short_lease = seen(BatchSizer(40, 1000, lease_ttl_ms=900, max_entries=10_000), 500, 4.0)
    short_lease.read(entries_from(streams=4, waited_ms=30_000), now_ms=READ_MS)
    assert short_lease.budget_s(READ_MS) == 0.3
    sizer.read({}, now_ms=READ_MS)  # caught up
    assert sizer.budget_s(READ_MS) == 0.04 and sizer.count(READ_MS) == 5


def test_entries_found_by_the_last_read_are_taken_to_have_waited_since():
    sizer = seen(BatchSizer(batch_ms=40, batch_max_ms=1000, lease_ttl_ms=5000, max_entries=10_000), 500, 4.0)
    sizer.read(entries_from(streams=4, waited_ms=5), now_ms=READ_MS)
    assert sizer.budget_s(READ_MS + 20) == 0.04  # keeping up
    # the batch of that read took 200 ms: what arrived meanwhile has waited as long
    assert sizer.budget_s(READ_MS + 200) == 0.2
    assert sizer.count(READ_MS + 200) == 25  # 200 ms of work at 4 us per event
    sizer.read({}, now_ms=READ_MS + 200)  # the read found nothing: no one is waiting
    assert sizer.budget_s(READ_MS + 5_000) == 0.04


def test_the_cost_per_event_is_weighted_by_events():
    """A small batch's fixed costs (a first batch of new learners) barely move the estimate
    that large batches made, and a large batch soon outweighs earlier small ones."""
    sizer = BatchSizer(batch_ms=40, batch_max_ms=1000, lease_ttl_ms=5000, max_entries=10_000)
    sizer.processed(entries=1, events=500, seconds=0.015)  # 30 us per event
    assert sizer.seconds_per_event == pytest.approx(30e-6)
    sizer.processed(entries=100, events=50_000, seconds=0.2)  # 4 us per event
    assert 4e-6 < sizer.seconds_per_event < 4.3e-6  # the 500 events weigh 0.7 * 500
    sizer.processed(entries=1, events=500, seconds=0.015)
    assert sizer.seconds_per_event < 4.6e-6  # smoothing the ratios instead would give 11.9 us


def test_a_read_asks_at_least_one_entry_and_at_most_the_cap():
    slow = seen(BatchSizer(1, 1, 5000, 10_000), 500, 1000.0)
    assert slow.count(READ_MS) == 1
    capped = seen(BatchSizer(1000, 1000, 5000, max_entries=8), 1, 0.1)
    assert capped.count(READ_MS) == 8


def test_a_worker_reads_what_its_batch_budget_allows(services):
    worker = Worker(services.with_settings(batch_ms=50, batch_max_ms=50), clock=lambda: NOW)
    module = services.catalog.modules[0].id
    for i in range(40):  # one learner: one stream, one entry per event
        event = parse_event(
            {"learner": "u-1", "module": module, "kind": "viewed", "timestamp": NOW - 600 + i},
            tenant="acme",
            catalog=services.catalog,
            now=NOW,
        )
        append_events(services.redis, services.keys, services.settings.partitions, [event])
    seen(worker.sizer, 1, 2000.0)  # 2 ms per event: 25 events in 50 ms
    worker.run(burst=True, max_batches=1)
    assert services.learners.get("acme", "u-1").events == 25
    worker.run(burst=True)
    assert services.learners.get("acme", "u-1").events == 40
