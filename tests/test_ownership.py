"""Partition ownership: leases shared fairly, moving when a worker dies, and a worker that lost
its lease can never commit (the fenced MULTI/EXEC)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import redis

from bench.stream import Bench, make_entries
from core.eventlog import append_events
from core.events import parse_event
from core.keys import CONSUMER_GROUP, partition_of
from lms_helpers import settings_env
from sidecar.worker import LostPartition, Worker

NOW = 1_790_000_000.0


def events_for(services, learners, per_learner=2):
    module = services.catalog.modules[0].id
    return [
        parse_event(
            {"learner": learner, "module": module, "kind": "completed", "timestamp": NOW - 600 + i},
            tenant="acme",
            catalog=services.catalog,
            now=NOW,
        )
        for learner in learners
        for i in range(per_learner)
    ]


def test_live_workers_share_the_partitions_fairly(services):
    first, second = Worker(services, name="w-1"), Worker(services, name="w-2")
    assert first.leases.heartbeat() == ({0, 1, 2, 3}, set())
    assert second.leases.heartbeat() == (set(), set())  # all taken; w-1 gives back at its next beat
    gained, lost = first.leases.heartbeat()
    assert not gained and len(lost) == 2
    gained, _ = second.leases.heartbeat()
    assert gained == lost
    assert first.leases.owned | second.leases.owned == {0, 1, 2, 3}
    owners = {services.redis.get(services.keys.owner(p)).decode().split("/")[0] for p in range(4)}
    assert owners == {"w-1", "w-2"}


def test_a_dead_workers_partitions_and_pending_entries_move_to_a_live_one(services):
    services = services.with_settings(lease_ttl_ms=2_000, claim_idle_ms=50)
    learners = [f"l-{i}" for i in range(12)]
    append_events(services.redis, services.keys, 4, events_for(services, learners))
    dead = Worker(services, name="dies")
    heir = Worker(services, name="heir")  # built first: its engine warm-up must not eat into the lease
    dead.leases.heartbeat()
    # it reads a batch and dies before committing: its entries are pending, its leases run out
    for p in range(4):
        services.redis.xreadgroup(CONSUMER_GROUP, "dies", {services.keys.stream(p): ">"}, count=1)
    assert sum(services.redis.xpending(services.keys.stream(p), CONSUMER_GROUP)["pending"] for p in range(4)) > 0
    assert heir.leases.heartbeat() == (set(), set())  # still leased by the dead worker
    deadline = time.monotonic() + 10
    while any(services.redis.exists(services.keys.owner(p)) for p in range(4)):
        assert time.monotonic() < deadline, "the dead worker's leases did not run out"
        time.sleep(0.05)
    heir.run(burst=True)
    assert heir.leases.owned == set()  # released on the way out
    for learner in learners:
        assert services.learners.get("acme", learner).events == 2
    assert sum(services.redis.xpending(services.keys.stream(p), CONSUMER_GROUP)["pending"] for p in range(4)) == 0


def test_a_worker_whose_lease_moved_cannot_commit(services):
    append_events(services.redis, services.keys, 4, events_for(services, ["u-1"]))
    partition = partition_of("acme", "u-1", 4)
    stale = Worker(services, name="stale")
    stale.leases.heartbeat()
    entries = services.redis.xreadgroup(CONSUMER_GROUP, "stale", {services.keys.stream(partition): ">"})[0][1]
    services.redis.set(services.keys.owner(partition), "thief/123")  # its lease expired and was taken
    with pytest.raises(LostPartition) as lost:
        stale.process({partition: entries})
    assert lost.value.partitions == {partition}
    assert services.learners.get("acme", "u-1") is None
    assert services.redis.xpending(services.keys.stream(partition), CONSUMER_GROUP)["pending"] == 1


def test_the_lease_moving_between_watch_and_exec_refuses_the_commit(services, redis_url):
    """The owner changes after the worker checked it, before its EXEC: WATCH catches it."""
    append_events(services.redis, services.keys, 4, events_for(services, ["u-1"]))
    partition = partition_of("acme", "u-1", 4)
    other = redis.Redis.from_url(redis_url)

    def clock():  # called inside the fenced transaction, after the lease was checked
        other.set(services.keys.owner(partition), "thief/456")
        return NOW

    worker = Worker(services, name="paused", clock=clock)
    worker.leases.heartbeat()
    entries = services.redis.xreadgroup(CONSUMER_GROUP, "paused", {services.keys.stream(partition): ">"})[0][1]
    with pytest.raises(LostPartition):
        worker.process({partition: entries})
    assert services.learners.get("acme", "u-1") is None
    other.close()


def test_a_batch_that_breaks_the_engine_goes_to_the_dead_letters_and_never_blocks(services, monkeypatch):
    import sidecar.worker as worker_module

    append_events(services.redis, services.keys, 4, events_for(services, ["u-1"]))

    def broken(*args, **kwargs):
        raise FloatingPointError("simulated engine failure")

    worker = Worker(services)
    monkeypatch.setattr(worker_module, "rank", broken)
    worker.run(burst=True)
    partition = partition_of("acme", "u-1", 4)
    letters = services.redis.xrange(services.keys.dead_letters(partition))
    assert letters and b"simulated engine failure" in letters[0][1][b"reason"]
    assert services.redis.xpending(services.keys.stream(partition), CONSUMER_GROUP)["pending"] == 0


def test_a_failure_sends_only_the_entry_that_fails_alone_to_the_dead_letters(services, monkeypatch):
    """One learner's entry breaks the ranking; the other entries of the round, in its partition
    and the others, are applied; a failure that does not come back costs nothing."""
    import sidecar.worker as worker_module

    learners = [f"u-{n}" for n in range(12)]
    for learner in learners:  # an entry each (an entry is what a dead letter holds)
        append_events(services.redis, services.keys, 4, events_for(services, [learner]))
    rank = worker_module.rank
    transient = {"left": 1}

    def breaks_on_u3(table, rows, settings):
        if transient["left"]:
            transient["left"] -= 1
            raise MemoryError("simulated, once")
        if any(table.learners[row][1] == "u-3" for row in rows):
            raise FloatingPointError("simulated engine failure on u-3")
        return rank(table, rows, settings)

    worker = Worker(services)  # warmed up before the failures begin
    monkeypatch.setattr(worker_module, "rank", breaks_on_u3)
    worker.run(burst=True)
    for learner in learners:
        stored = services.learners.get("acme", learner)
        assert (stored is None) if learner == "u-3" else (stored.events == 2), learner
    letters = [letter for p in range(4) for _, letter in services.redis.xrange(services.keys.dead_letters(p))]
    assert len(letters) == 1 and b"u-3" in letters[0][b"payload"]
    assert all(b"simulated engine failure" in letter[b"reason"] for letter in letters)
    for p in range(4):
        assert services.redis.xpending(services.keys.stream(p), CONSUMER_GROUP)["pending"] == 0


def worker_process(settings, name: str) -> subprocess.Popen:
    env = {**os.environ, **settings_env(settings), "SKILLGAP_LEASE_TTL_MS": "1000"}
    return subprocess.Popen(
        [sys.executable, "-m", "skillgap.cli", "worker", "--name", name],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_sigterm_finishes_the_batch_releases_the_leases_and_exits(services):
    worker = worker_process(services.settings, "graceful")
    deadline = time.monotonic() + 60
    while not all(services.redis.exists(services.keys.owner(p)) for p in range(4)):
        assert time.monotonic() < deadline and worker.poll() is None
        time.sleep(0.05)
    append_events(services.redis, services.keys, 4, events_for(services, [f"l-{i}" for i in range(40)]))
    worker.send_signal(signal.SIGTERM)
    _, errors = worker.communicate(timeout=30)
    assert worker.returncode == 0, errors
    assert not any(services.redis.exists(services.keys.owner(p)) for p in range(4))
    for p in range(4):  # whatever it read was committed and acknowledged
        assert services.redis.xpending(services.keys.stream(p), CONSUMER_GROUP)["pending"] == 0


@pytest.mark.slow
def test_crash_run_loses_and_duplicates_nothing(services, tmp_path):
    """The benchmark's crash run, smaller: two workers, one SIGKILLed at random moments."""
    settings = services.settings
    bench = Bench(settings.redis_url, settings, tmp_path)
    entries = make_entries(settings.catalog_path, 6_000, 300, settings.partitions, 64, seed=4)
    result = bench.crash(entries, kills=3, seconds=3.0, seed=4)
    assert result["events"] == 6_000
    assert result["lost"] == 0 and result["duplicated"] == 0
    assert result["max_mastery_difference"] <= 1e-6 and result["different_rankings"] == 0
    assert result["learners"] == 300


@pytest.mark.slow
def test_a_worker_rides_out_a_redis_restart_and_applies_everything_once(settings, tmp_path):
    """Redis stops (its append-only file kept) and starts again while a worker runs."""
    import threading

    from core.redis_server import EmbeddedRedis, connect
    from core.services import build_services

    server = EmbeddedRedis(tmp_path / "redis").start()
    try:
        local = settings.replace(redis_url=server.url, reconnect_max_s=0.5)
        services = build_services(local, connect(server.url))
        worker = Worker(services, name="survivor")
        thread = threading.Thread(target=worker.run, daemon=True)
        thread.start()
        first = events_for(services, [f"a-{i}" for i in range(10)])
        append_events(services.redis, services.keys, 4, first)
        time.sleep(0.5)
        server.stop()
        time.sleep(0.5)  # the worker finds Redis gone and backs off
        server.start()
        deadline = time.monotonic() + 20
        while True:
            try:
                append_events(
                    services.redis, services.keys, 4, events_for(services, [f"b-{i}" for i in range(10)]) + first
                )
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        while not all(services.learners.get("acme", f"b-{i}") for i in range(10)):
            assert time.monotonic() < deadline, "the worker did not resume"
            time.sleep(0.05)
        worker.stop()
        thread.join(timeout=10)
        assert not thread.is_alive()
        for name in [f"a-{i}" for i in range(10)] + [f"b-{i}" for i in range(10)]:
            assert services.learners.get("acme", name).events == 2, name
    finally:
        server.stop()


def test_learners_kept_in_memory_are_dropped_when_the_partition_changes_hands(services):
    """A worker keeps the learners it wrote; once another writer had the partition (here:
    a repair written while no worker held it), it reads them again."""
    worker = Worker(services, name="keeper", clock=lambda: NOW)
    append_events(services.redis, services.keys, 4, events_for(services, ["u-1"], per_learner=1))
    worker.run(burst=True)  # releases its leases on the way out
    record = services.learners.get("acme", "u-1")
    record.events = 40  # someone else's write while the partition was free
    services.redis.set(services.learners.key("acme", "u-1"), services.learners.encode(record))
    module = services.catalog.modules[1].id
    later = parse_event(
        {"learner": "u-1", "module": module, "kind": "completed", "timestamp": NOW - 10},
        tenant="acme",
        catalog=services.catalog,
        now=NOW,
    )
    append_events(services.redis, services.keys, 4, [later])
    worker.run(burst=True)
    assert services.learners.get("acme", "u-1").events == 41


def test_a_heartbeat_within_a_round_leaves_its_partitions_readable(services):
    """The entries of the round in hand are pending because the worker is applying them: a
    heartbeat that falls within the round must not take them for a lost read (which would make
    the partitions 'recovering', skipped by maintenance until reclaimed)."""
    worker = Worker(services, name="w-round", clock=lambda: NOW)
    worker.leases.heartbeat()  # owns every partition, nothing pending
    append_events(services.redis, services.keys, 4, events_for(services, [f"l-{i}" for i in range(12)]))
    worker._next_heartbeat = 0.0  # due now: the round's own heartbeat runs within it
    assert worker._step(block=False) == 1
    assert worker._recovering == set()
    assert sum(record.events for record in services.learners.get_many("acme", [f"l-{i}" for i in range(12)])) == 24
