"""History survives retention: snapshots, trimming below them, the archive, and replay and
`replay --check` from a snapshot (sidecar/snapshots.py, sidecar/archive.py, sidecar/replay.py)."""

from __future__ import annotations

import gzip
import time

import numpy as np
import orjson
import pytest

from core.erasure import erase_learner
from core.eventlog import append_events, entry_key
from core.events import parse_event
from core.params import activate, store_parameters
from core.wire import ENTRY_FIELD
from engine import LAST_SEEN, MASTERY
from sidecar import archive, snapshots
from sidecar.fit_from_log import log_rows
from sidecar.history_erasure import forget_in_history
from sidecar.replay import SNAPSHOT, UNDETERMINED, check, rebuild_partition, replay
from sidecar.worker import Worker
from skillgap.cli import main

NOW = 1_790_000_000.0
PAST_RETENTION = 400 * 86_400  # a `now` this far ahead puts every entry past the retention


def one_learner_events(services, count, start=0, learner="long"):
    catalog = services.catalog
    rng = np.random.default_rng(start)
    events = []
    for i in range(start, start + count):
        module = catalog.modules[int(rng.integers(len(catalog.modules)))].id
        body = {
            "learner": learner,
            "module": module,
            "kind": "graded",
            "score": round(float(rng.random()), 3),
            "timestamp": NOW - 200 * 86_400 + i * 600,
            "id": f"{learner}-{i}",
        }
        events.append(parse_event(body, tenant="acme", catalog=catalog, now=NOW))
    return events


def live(services, events, chunk=25):
    worker = Worker(services.with_settings(batch_entries=3), clock=lambda: NOW)
    for start in range(0, len(events), chunk):
        append_events(services.redis, services.keys, services.settings.partitions, events[start : start + chunk])
        worker.run(burst=True)
    return worker


def snapshot_all(services, worker):
    """Snapshot every partition now (the worker's maintenance with an interval of zero)."""
    worker.settings = worker.settings.replace(snapshot_interval_s=0.0)
    worker.leases.heartbeat()
    worker._recovering.clear()
    taken = []
    for partition in sorted(worker.leases.owned):
        taken.append(
            snapshots.take(
                services.redis,
                services.keys,
                partition,
                worker.parameters.version,
                NOW,
                lambda queue, p=partition: worker._commit_fenced(p, queue),
            )
        )
    worker.leases.release_all()
    return [s for s in taken if s is not None]


def trim_all(services, archive_dir=None):
    return sum(
        snapshots.trim(
            services.redis,
            services.keys,
            p,
            services.settings.retention_days,
            time.time() + PAST_RETENTION,
            archive_dir,
        )
        for p in range(services.settings.partitions)
    )


def stream_length(services):
    return sum(services.redis.xlen(services.keys.stream(p)) for p in range(services.settings.partitions))


def test_replay_after_retention_keeps_a_long_history_to_1e_9(services):
    worker = live(services, one_learner_events(services, 600))
    assert snapshot_all(services, worker)
    live(services, one_learner_events(services, 20, start=600))
    trim_all(services)  # retention trims everything the snapshot holds
    assert stream_length(services) == 2  # the entry at the snapshot and the one after it
    before = services.learners.get("acme", "long")
    assert before.events == 620
    replayed = replay(services, progress=lambda line: None)
    after = services.learners.get("acme", "long")
    assert after.events == 620 and replayed.events == 20 and not replayed.not_rederived
    assert np.abs(after.state[MASTERY] - before.state[MASTERY]).max() <= 1e-9
    assert np.array_equal(after.state[LAST_SEEN], before.state[LAST_SEEN])
    result = check(services)
    assert result.healthy and result.lost == result.duplicated == result.undetermined == 0


def test_trimming_never_goes_past_the_latest_snapshot(services):
    live(services, one_learner_events(services, 50))
    assert trim_all(services) == 0 and stream_length(services) > 0
    untrimmed = stream_length(services)
    trim_all(services)
    assert stream_length(services) == untrimmed  # no snapshot: nothing is trimmed
    worker = Worker(services, clock=lambda: NOW)
    partition = services.learners.partition("acme", "long")
    [snapshot] = [s for s in snapshot_all(services, worker) if s.partition == partition]
    append_events(services.redis, services.keys, services.settings.partitions, one_learner_events(services, 5, 50))
    trim_all(services)
    after = services.redis.xrange(services.keys.stream(snapshot.partition))
    assert after and all(entry >= snapshot.position for entry, _ in after)  # the unapplied five stay
    assert len([e for e, _ in after if e > snapshot.position]) == 1


def test_a_snapshot_replaces_the_previous_one_only_once_it_is_complete(services):
    worker = live(services, one_learner_events(services, 30))
    partition = services.learners.partition("acme", "long")
    [first] = [s for s in snapshot_all(services, worker) if s.partition == partition]
    assert services.redis.exists(first.key)
    assert snapshot_all(services, worker) == []  # nothing new since
    live(services, one_learner_events(services, 10, start=30))
    [second] = snapshot_all(services, worker)
    assert second.position > first.position and not services.redis.exists(first.key)
    assert snapshots.latest(services.redis, services.keys, second.partition) == second


def test_no_snapshot_is_taken_while_entries_are_pending(services):
    live(services, one_learner_events(services, 10))
    append_events(services.redis, services.keys, services.settings.partitions, one_learner_events(services, 3, 10))
    partition = services.learners.partition("acme", "long")
    services.redis.xreadgroup("workers", "crashed", {services.keys.stream(partition): ">"})  # read, never committed
    worker = Worker(services, clock=lambda: NOW)
    assert partition not in [s.partition for s in snapshot_all(services, worker)]


def test_check_on_an_old_install_trimmed_without_snapshots_reports_undetermined_not_duplicated(services):
    live(services, one_learner_events(services, 40) + one_learner_events(services, 10, learner="new"))
    for p in range(services.settings.partitions):  # an old install's retention: no snapshot
        entries = services.redis.xrange(services.keys.stream(p))
        if entries:
            services.redis.xtrim(services.keys.stream(p), minid=entries[len(entries) // 2][0], approximate=False)
    result = check(services)
    assert result.duplicated == 0 and result.undetermined >= 1 and result.healthy
    assert any("no snapshot" in note for note in result.notes)
    before = services.learners.get("acme", "long")
    replay(services, progress=lambda line: None)  # leaves such a partition as it is
    assert services.learners.get("acme", "long").events == before.events == 40


def test_the_check_command_exits_0_on_a_healthy_trimmed_install(services, monkeypatch, capsys):
    worker = live(services, one_learner_events(services, 60))
    snapshot_all(services, worker)
    live(services, one_learner_events(services, 5, start=60))
    trim_all(services)
    monkeypatch.setenv("REDIS_URL", services.settings.redis_url)
    monkeypatch.setenv("SKILLGAP_KEY_PREFIX", services.settings.key_prefix)
    monkeypatch.setenv("SKILLGAP_PARTITIONS", str(services.settings.partitions))
    assert main(["replay", "--check"]) == 0
    out = capsys.readouterr().out
    assert "max_mastery_difference: 0" in out and "max_time_difference: 0" in out and "duplicated: 0" in out


def test_a_damaged_learner_after_a_snapshot_is_found(services):
    worker = live(services, one_learner_events(services, 40))
    snapshot_all(services, worker)
    live(services, one_learner_events(services, 5, start=40))
    record = services.learners.get("acme", "long")
    record.state[LAST_SEEN] += 3600
    services.redis.set(services.learners.key("acme", "long"), services.learners.encode(record))
    result = check(services)
    assert result.max_mastery_difference == 0 and result.max_time_difference == pytest.approx(3600)
    assert not result.healthy


def activate_new_parameters(services):
    """Every module's learning rates changed: any event derived again comes out different."""
    learn = {module.id: dict.fromkeys(module.coverage, 0.5) for module in services.catalog.modules}
    document = {"schema": 1, "learn": learn}
    version = store_parameters(services.redis, services.keys, services.catalog, document)
    activate(services.redis, services.keys, services.catalog, version)
    return version


def replay_command(services, monkeypatch, capsys, *args):
    monkeypatch.setenv("REDIS_URL", services.settings.redis_url)
    monkeypatch.setenv("SKILLGAP_KEY_PREFIX", services.settings.key_prefix)
    monkeypatch.setenv("SKILLGAP_PARTITIONS", str(services.settings.partitions))
    code = main(["replay", *args])
    return code, capsys.readouterr().err


def test_replay_with_new_parameters_says_what_the_snapshot_keeps(services, monkeypatch, capsys):
    """Parameters changed after the snapshot, no archive: the events after the snapshot are
    re-derived, what it holds is not; replay says so, names the partition and exits 3."""
    worker = live(services, one_learner_events(services, 40))
    snapshot_all(services, worker)
    live(services, one_learner_events(services, 5, start=40))
    trim_all(services)
    activate_new_parameters(services)
    partition = services.learners.partition("acme", "long")
    code, err = replay_command(services, monkeypatch, capsys)
    assert code == 3
    assert f"partition {partition}: events up to" in err
    assert "keep what parameters of the catalog made of them" in err and "use version 1" in err
    assert "replay with --archive" in err and f"partitions {partition} keep" in err
    assert services.learners.get("acme", "long").events == 45  # nothing truncated


def test_replay_with_new_parameters_and_an_incomplete_archive_uses_the_snapshot(
    services, monkeypatch, capsys, tmp_path
):
    """--archive that misses trimmed entries: not a reason to re-derive nothing. The partition
    is rebuilt from its snapshot (the events after it with the new parameters), and replay
    says both what the archive lacks and what the snapshot keeps (exit 3)."""
    worker = live(services, one_learner_events(services, 40))
    snapshot_all(services, worker)
    live(services, one_learner_events(services, 5, start=40))
    trim_all(services)  # no archive: the trimmed entries are gone
    before = services.learners.get("acme", "long")
    activate_new_parameters(services)
    code, err = replay_command(services, monkeypatch, capsys, "--archive", str(tmp_path / "empty"))
    assert code == 3
    assert "entries the archive does not hold" in err and "keep what parameters of the catalog made" in err
    after = services.learners.get("acme", "long")
    assert after.events == 45
    assert not np.array_equal(after.state, before.state)  # the 5 events after the snapshot, re-derived
    assert check(services).max_mastery_difference <= 1e-9  # as a rebuild from the snapshot gives


def test_replay_of_a_trimmed_log_without_snapshot_exits_3_and_keeps_the_stored_state(services, monkeypatch, capsys):
    live(services, one_learner_events(services, 40))
    for p in range(services.settings.partitions):  # an old install's retention: no snapshot
        entries = services.redis.xrange(services.keys.stream(p))
        if entries:
            services.redis.xtrim(services.keys.stream(p), minid=entries[len(entries) // 2][0], approximate=False)
    activate_new_parameters(services)
    code, err = replay_command(services, monkeypatch, capsys)
    assert code == 3 and "no snapshot holds them; its learners keep their stored state" in err
    assert services.learners.get("acme", "long").events == 40


def test_replay_with_new_parameters_and_the_whole_history_exits_0(services, monkeypatch, capsys, tmp_path):
    worker = live(services, one_learner_events(services, 40))
    snapshot_all(services, worker)
    archive_dir = tmp_path / "archive"
    trim_all(services, archive_dir)
    activate_new_parameters(services)
    code, err = replay_command(services, monkeypatch, capsys, "--archive", str(archive_dir))
    assert code == 0 and "keep what parameters" not in err
    assert services.learners.get("acme", "long").events == 40


def test_the_archive_holds_what_retention_trims_and_replay_and_fit_read_it(services, tmp_path):
    worker = live(services, one_learner_events(services, 80))
    snapshot_all(services, worker)
    archive_dir = tmp_path / "archive"
    archived = trim_all(services, archive_dir)
    assert archived > 0
    files = sorted(archive_dir.glob("*.ndjson.gz"))
    partition = services.learners.partition("acme", "long")
    assert [f.name for f in files] == [day_file_name(partition)]  # one per partition and day
    lines = [orjson.loads(line) for f in files for line in gzip.open(f).read().splitlines()]
    assert sum(len(line["events"]) for line in lines) == 75  # all but the entry at the snapshot
    assert trim_all(services, archive_dir) == 0  # archived once
    before = services.learners.get("acme", "long")
    store = services.store_for(services.model)
    rebuilt = rebuild_partition(services, store, partition, archive_dir=archive_dir)
    assert rebuilt.events == 80
    assert check(services, archive_dir=archive_dir).healthy
    replay(services, progress=lambda line: None, archive_dir=archive_dir)
    after = services.learners.get("acme", "long")
    assert after.events == 80 and np.abs(after.state - before.state).max() <= 1e-9
    rows = log_rows(services, lambda line: None, archive_dir=archive_dir)
    assert rows.events == 80
    assert log_rows(services, lambda line: None).events < 80  # the log alone lost them


def day_file_name(partition: int) -> str:
    """The archive file of today's entries (their ids are Redis's clock)."""
    return f"p{partition}-{time.strftime('%Y-%m-%d', time.gmtime())}.ndjson.gz"


def archive_round(services, start: int, archive_dir, count: int = 40) -> int:
    """`count` more events of "long" applied, a snapshot, a trim into the archive."""
    worker = live(services, one_learner_events(services, count, start=start))
    snapshot_all(services, worker)
    return trim_all(services, archive_dir)


def rebuilt_events(services, archive_dir) -> int:
    partition = services.learners.partition("acme", "long")
    return rebuild_partition(services, services.store_for(services.model), partition, archive_dir=archive_dir).events


def test_trims_of_a_day_append_to_one_file_per_partition(services, tmp_path):
    assert archive_round(services, 0, tmp_path) > 0
    assert archive_round(services, 40, tmp_path) > 0
    partition = services.learners.partition("acme", "long")
    (path,) = tmp_path.glob("*.ndjson.gz")
    assert path.name == day_file_name(partition)
    assert archive.member_count(path) == 2  # one gzip member per trim
    ids = [entry_id for chunk in archive.read(tmp_path, partition) for entry_id, _ in chunk]
    assert ids == sorted(set(ids), key=entry_key)
    assert rebuilt_events(services, tmp_path) == 80


def test_a_crash_in_the_middle_of_an_archive_write_loses_nothing(services, tmp_path, monkeypatch):
    """The process dies halfway through appending a member: the log is not trimmed, readers
    read the complete members, and the next trim cuts the torn member off and archives those
    entries again; every entry is then read once."""
    assert archive_round(services, 0, tmp_path) > 0
    partition = services.learners.partition("acme", "long")
    path = tmp_path / day_file_name(partition)
    archived_before = sum(len(chunk) for chunk in archive.read(tmp_path, partition))
    intact = path.stat().st_size

    def killed_halfway(target, member):
        with open(target, "ab") as handle:
            handle.write(member[: len(member) // 2])
        raise KeyboardInterrupt  # what is left of a process killed mid-write

    worker = live(services, one_learner_events(services, 40, start=40))
    snapshot_all(services, worker)
    length = stream_length(services)
    with monkeypatch.context() as patch:
        patch.setattr(archive, "_append", killed_halfway)
        with pytest.raises(KeyboardInterrupt):
            trim_all(services, tmp_path)
    assert path.stat().st_size > intact and stream_length(services) == length  # torn member, nothing trimmed
    assert sum(len(chunk) for chunk in archive.read(tmp_path, partition)) == archived_before
    archive._checked.clear()  # a new process: it knows nothing of the file
    assert trim_all(services, tmp_path) > 0
    gzip.open(path).read()  # one valid gzip stream again: the torn member was cut off
    assert archive.member_count(path) == 2
    ids = [entry_id for chunk in archive.read(tmp_path, partition) for entry_id, _ in chunk]
    assert len(ids) == len(set(ids)) > archived_before
    assert rebuilt_events(services, tmp_path) == 80


def test_per_trim_files_of_older_installs_are_read_and_erased_with_the_day_file(services, tmp_path):
    assert archive_round(services, 0, tmp_path) > 0
    partition = services.learners.partition("acme", "long")
    day_path = tmp_path / day_file_name(partition)
    first = next(archive.records(day_path))["entry"]
    day_path.rename(tmp_path / day_file_name(partition).replace(".ndjson.gz", f"-{first}.ndjson.gz"))  # old name
    assert archive_round(services, 40, tmp_path) > 0
    assert [p.name for p in archive.partition_files(tmp_path, partition)][1] == day_path.name
    assert rebuilt_events(services, tmp_path) == 80
    archived = sum(len(orjson.loads(f[ENTRY_FIELD])) for chunk in archive.read(tmp_path, partition) for _, f in chunk)
    erased = erase_learner(services.redis, services.keys, services.settings.partitions, "acme", "long")
    forget_in_history(services.redis, services.keys, services.settings.partitions, tmp_path, "acme", "long", erased)
    assert erased.counts["archived events"] == archived > 0
    for path in archive.partition_files(tmp_path, partition):
        assert b'"long"' not in gzip.open(path).read()


def test_a_rebuild_from_the_snapshot_starts_there(services):
    worker = live(services, one_learner_events(services, 30))
    snapshot_all(services, worker)
    trim_all(services)
    partition = services.learners.partition("acme", "long")
    rebuilt = rebuild_partition(services, services.store_for(services.model), partition)
    assert rebuilt.start == SNAPSHOT and rebuilt.events == 0
    other = (partition + 1) % services.settings.partitions
    assert rebuild_partition(services, services.store_for(services.model), other).start != UNDETERMINED


def test_a_running_worker_snapshots_and_trims_on_its_own(services):
    events = one_learner_events(services, 30)
    append_events(services.redis, services.keys, services.settings.partitions, events)
    partition = services.learners.partition("acme", "long")
    Worker(services, clock=lambda: NOW).run(burst=True)
    assert snapshots.latest(services.redis, services.keys, partition) is None  # nothing to trim: no snapshot
    append_events(services.redis, services.keys, services.settings.partitions, one_learner_events(services, 5, 30))
    time.sleep(0.01)
    brief = services.with_settings(retention_days=1e-9)  # every entry is past the retention
    Worker(brief, clock=lambda: NOW).run(burst=True)  # maintenance follows each round of batches
    snapshot = snapshots.latest(services.redis, services.keys, partition)
    assert snapshot is not None and snapshot.learners == 1
    assert [entry for entry, _ in services.redis.xrange(services.keys.stream(partition))] == [snapshot.position]


def test_marks_of_a_day_expire_at_one_time_however_often_they_are_appended(services):
    worker = Worker(services)
    today = time.time()
    module = services.catalog.modules[0].id

    def viewed(event_id):
        body = {"learner": "long", "module": module, "kind": "viewed", "timestamp": today - 5, "id": event_id}
        return parse_event(body, tenant="acme", catalog=services.catalog, now=today + 5)

    append_events(services.redis, services.keys, services.settings.partitions, [viewed("first")])
    worker.run(burst=True)
    key = services.keys.marks(services.learners.partition("acme", "long"), "acme", int(today // 86_400))
    ttl = services.redis.ttl(key)
    time.sleep(1.1)
    append_events(services.redis, services.keys, services.settings.partitions, [viewed("second")])
    worker.run(burst=True)
    assert services.redis.ttl(key) <= ttl - 1  # the append did not renew it
    day_end = (int(today // 86_400) + 1) * 86_400
    assert abs(time.time() + services.redis.ttl(key) - (day_end + services.settings.retention_days * 86_400)) < 5


def test_replay_from_an_archive_that_misses_trimmed_entries_uses_the_snapshot(services, tmp_path):
    worker = live(services, one_learner_events(services, 40))
    snapshot_all(services, worker)
    trim_all(services)  # no archive: the trimmed entries are gone
    before = services.learners.get("acme", "long")
    lines = []
    replayed = replay(services, progress=lines.append, archive_dir=tmp_path / "empty")
    assert any("entries the archive does not hold" in line and "from the snapshot" in line for line in lines)
    assert not replayed.not_rederived  # the snapshot's parameters are the active ones
    after = services.learners.get("acme", "long")
    assert after.events == before.events == 40 and np.abs(after.state - before.state).max() <= 1e-9


def test_forgetting_a_learner_reaches_snapshots_and_the_archive(services, tmp_path):
    events = one_learner_events(services, 60, learner="gone") + one_learner_events(services, 60, learner="kept")
    worker = live(services, events)
    assert snapshot_all(services, worker)
    trim_all(services, tmp_path)
    assert list(tmp_path.glob("*.ndjson.gz"))
    erased = erase_learner(services.redis, services.keys, services.settings.partitions, "acme", "gone")
    forget_in_history(services.redis, services.keys, services.settings.partitions, tmp_path, "acme", "gone", erased)
    assert erased.counts["snapshot values"] == 1 and erased.counts["archived events"] > 0
    for key in services.redis.scan_iter(match=f"{services.keys.prefix}:*"):
        kind = services.redis.type(key).decode()
        if kind == "hash":
            assert not any(b"gone" in name + value for name, value in services.redis.hgetall(key).items()), key
        elif kind == "string":
            assert b"gone" not in services.redis.get(key), key
    archived = b"".join(gzip.open(path).read() for path in tmp_path.glob("*.ndjson.gz"))
    assert b'"gone"' not in archived and b'"kept"' in archived
    replay(services, progress=lambda line: None, archive_dir=tmp_path)
    assert services.learners.get("acme", "gone") is None
    assert services.learners.get("acme", "kept").events == 60
