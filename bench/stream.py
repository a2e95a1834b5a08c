"""`python -m bench.stream`: the stream pipeline measured against the raw Redis ceiling, in
one run, on the same entry format; freshness at half load; batches of 50 on idle workers; and a
crash run.

1. ceiling: a producer process XADDs entries of `--entry-events` events; `--workers` consumer
   processes XREADGROUP, decode and XACK them, with no processing. Printed twice:
   `ceiling_events_per_s` decodes with the workers' own decoder
   (`core/wire.py:decode_entries`: the JSON, then the envelope's checks into one row
   per event, and the partition check), and is the one the target (pipeline >= 60% of the
   ceiling) is judged against: "decode" means turning an entry into events a consumer can use,
   and with the very same decoder on both sides its speed cancels out, so the ratio measures
   what processing costs and nothing else. `ceiling_json_only_events_per_s` parses the JSON
   only, a floor no real consumer reaches; it is printed with its ratio for reference.
2. pipeline: the same producer; `--workers` `skillgap worker` processes apply the events and
   write mastery, recommendations, marks and XACKs. Both clocks run from the producer's start
   to the last entry's acknowledgement. The ceiling always has as many consumers as the
   pipeline has workers. On a shared 2-core machine (producer, Redis and consumer on two
   cores) one run of either can vary by half, and the machine's speed drifts: so the
   pipeline runs `--rounds` times, each between two ceiling runs, and a round's ratio is its
   pipeline over the mean of the two ceilings around it; each round's ratio is printed, and
   their median is the figure.
3. freshness: the producer sends at half the pipeline's rate (then a quarter); probe events
   for new learners ride in its entries, and the time from their XADD to their learner's
   record appearing is the freshness (event accepted -> its learner's recommendations updated).
4. batches of 50: on idle workers, 50 events of 50 new learners appended at once (as an xAPI
   statement batch is), and the time until all 50 records are written.
5. crash: `--crash-events` events through two workers, one SIGKILLed at `--kills` random
   moments and restarted; then the stored learners are compared with a clean replay of the
   log: `lost` and `duplicated` events, and the largest mastery difference.

Prints `name: value` lines. Uses REDIS_URL, else 127.0.0.1:6379 when it answers, else an
embedded server; works under its own key prefix and deletes its keys at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import orjson
import redis

from core.catalog import load_catalog
from core.eventlog import append_events
from core.events import event_id, parse_event
from core.keys import CONSUMER_GROUP, Keys, partition_of
from core.redis_server import EmbeddedRedis, connect
from core.settings import Settings
from core.wire import ENTRY_FIELD
from skillgap.processes import stop_processes

START = 1_780_000_000.0
LOCAL = "redis://127.0.0.1:6379/0"
PROBE_EVERY = 2  # entries per probe: enough probes for a p99 that is not just the worst one
# How often the pipeline's end is polled: often enough for a run of seconds, seldom enough
# not to take CPU from the workers on a 2-core machine (the ceiling's consumers need no poll).
DONE_POLL_S = 0.01
# Entries per stream and read for the ceiling's consumers: what the workers read per stream
# when they are behind (a second's work), so the ceiling pays the same per-read overheads.
CEILING_ENTRIES = 64


def say(name: str, value: object) -> None:
    print(f"{name}: {value}", flush=True)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# -- workload -------------------------------------------------------------------------------


def make_entries(
    catalog_path: Path,
    n_events: int,
    n_learners: int,
    partitions: int,
    entry_events: int,
    seed: int,
    tenant: str = "bench",
) -> list[tuple[int, bytes]]:
    """(partition, entry payload) in arrival order: activity of `n_learners` over 30 days."""
    catalog = load_catalog(catalog_path)
    rng = np.random.default_rng(seed)
    learner = rng.integers(0, n_learners, n_events)
    module = rng.integers(0, len(catalog.modules), n_events)
    kind = np.array(["graded", "completed", "viewed"])[rng.integers(0, 3, n_events)]
    score = np.round(rng.random(n_events), 3)
    when = START + np.sort(rng.uniform(0, 30 * 86_400, n_events))
    roles = [r.id for r in catalog.roles]
    by_partition: dict[int, list[dict]] = {}
    for i in range(n_events):
        name = f"b-{learner[i]}"
        wire = {
            "v": 1,
            "tenant": tenant,
            "learner": name,
            "kind": str(kind[i]),
            "timestamp": float(when[i]),
            "source": "bench",
            "module": catalog.modules[module[i]].id,
            "cohort": f"c-{learner[i] % 20}",
            "role": roles[learner[i] % len(roles)],
        }
        if kind[i] == "graded":
            wire["score"] = float(score[i])
        wire["id"] = event_id(
            tenant, name, wire["cohort"], wire["module"], wire["kind"], wire.get("score"), wire["timestamp"], "bench"
        )
        by_partition.setdefault(partition_of(tenant, name, partitions), []).append(wire)
    entries = []
    for partition, wires in by_partition.items():
        for start in range(0, len(wires), entry_events):
            entries.append((partition, orjson.dumps(wires[start : start + entry_events])))
    order = rng.permutation(len(entries))
    return [entries[i] for i in order]


def _wait_for_start(ready, start) -> float:
    """Signal readiness, then wait for the common start time the bench sets."""
    ready.release()
    while start.value == 0.0 or time.time() < start.value:
        time.sleep(0.0005)
    return start.value


def produce(url: str, prefix: str, entries: list[tuple[int, bytes]], rate: float | None, probes, ready, start) -> None:
    """XADD the entries (pipelined); at `rate` events/s when given. With `probes` (a queue),
    every PROBE_EVERY-th entry also carries a probe event for a new learner, and (learner, time the
    XADD returned) goes on the queue."""
    client = redis.Redis.from_url(url)
    keys = Keys(prefix)
    partitions = int(client.hget(keys.meta, "bench_partitions"))
    started = _wait_for_start(ready, start)
    sent_events = 0
    chunk = 16 if rate is None else 1
    for start in range(0, len(entries), chunk):
        pipe = client.pipeline(transaction=False)
        probe = None
        for n, (partition, payload) in enumerate(entries[start : start + chunk]):
            if probes is not None and (start + n) % PROBE_EVERY == 0:
                events = orjson.loads(payload)
                # a new learner of this entry's partition, riding among its events
                probe = next(
                    name
                    for name in (f"probe-{start + n}-{i}" for i in range(10_000))
                    if partition_of(events[0]["tenant"], name, partitions) == partition
                )
                events.append(dict(events[-1], learner=probe, id=probe))
                payload = orjson.dumps(events)
            pipe.xadd(keys.stream(partition), {ENTRY_FIELD: payload})
            sent_events += payload.count(b'"v":1')
        pipe.execute()
        if probe is not None:
            probes.put((probe, time.time()))
        if rate is not None:
            delay = started + sent_events / rate - time.time()
            if delay > 0:
                time.sleep(delay)
    client.close()


def consume_raw(
    url: str, prefix: str, partitions: int, total_entries: int, checked: bool, name: str, ready, start, seen, done
) -> None:
    """The ceiling: XREADGROUP, decode, XACK; no processing. `checked`: decode with the
    workers' decoder (JSON and the envelope's checks); else JSON only. Several consumers share
    the group; `seen` counts the entries all of them acknowledged, `done` is when the last was."""
    from core.wire import decode_entries
    from sidecar.worker import tune_gc

    catalog = load_catalog(Settings.load({}, environ={}).catalog_path)
    tune_gc()  # as the workers do, so the two sides run alike
    client = redis.Redis.from_url(url)
    keys = Keys(prefix)
    streams = {keys.stream(p): ">" for p in range(partitions)}
    partition_of_stream = {keys.stream(p).encode(): p for p in range(partitions)}
    client.ping()
    _wait_for_start(ready, start)
    while seen.value < total_entries:
        read = client.xreadgroup(CONSUMER_GROUP, name, streams, count=CEILING_ENTRIES, block=100) or []
        acks = client.pipeline(transaction=False)  # one round trip, as the workers' commit
        for key, entries in read:
            if checked:
                decode_entries(entries, catalog, partition_of_stream[key], partitions)
            else:
                for _, fields in entries:
                    orjson.loads(fields[ENTRY_FIELD])
            acks.xack(key, CONSUMER_GROUP, *[entry_id for entry_id, _ in entries])
        acks.execute()
        with seen.get_lock():
            seen.value += sum(len(entries) for _, entries in read)
            if read and seen.value >= total_entries:
                done.value = time.time()
    client.close()


# -- processes ------------------------------------------------------------------------------


class Bench:
    def __init__(self, url: str, settings: Settings, folder: Path, workers: int = 1):
        self.url = url
        self.n_workers = workers  # worker processes in the pipeline, consumers in the ceiling
        self.settings = settings
        self.folder = folder
        self.client = connect(url)
        self.workers: list[subprocess.Popen] = []

    def prefix(self) -> str:
        return f"sgbench-{uuid.uuid4().hex[:10]}"

    def setup(self, prefix: str) -> Keys:
        from core.eventlog import ensure_groups

        keys = Keys(prefix)
        self.client.hset(keys.meta, "bench_partitions", self.settings.partitions)
        ensure_groups(self.client, [keys.stream(p) for p in range(self.settings.partitions)])
        return keys

    def cleanup(self, prefix: str) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait()
        self.workers.clear()
        found = list(self.client.scan_iter(match=f"{prefix}:*", count=5000))
        for start in range(0, len(found), 1000):
            self.client.unlink(*found[start : start + 1000])

    def start_worker(self, prefix: str, name: str, **settings: object) -> subprocess.Popen:
        env = dict(
            os.environ,
            SKILLGAP_REDIS_URL=self.url,
            SKILLGAP_KEY_PREFIX=prefix,
            SKILLGAP_PARTITIONS=str(self.settings.partitions),
        )
        env.update({f"SKILLGAP_{k.upper()}": str(v) for k, v in settings.items()})
        with open(self.folder / f"{name}.log", "ab") as log:  # the child keeps its own handle
            worker = subprocess.Popen(
                [sys.executable, "-m", "skillgap.cli", "worker", "--name", name],
                env=env,
                stdout=log,
                stderr=log,
                stdin=subprocess.DEVNULL,
            )
        self.workers.append(worker)
        return worker

    def wait_owned(self, keys: Keys, workers: int = 1, timeout_s: float = 60.0) -> None:
        """Until every partition is owned, `workers` workers sharing them evenly."""
        partitions = self.settings.partitions
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            owners = self.client.mget([keys.owner(p) for p in range(partitions)])
            shares = Counter(owners)
            if None not in shares and len(shares) == workers and max(shares.values()) == -(-partitions // workers):
                return
            time.sleep(0.05)
        raise RuntimeError("the workers did not share their partitions; see their logs in " + str(self.folder))

    def start_workers(self, prefix: str, keys: Keys, name: str) -> None:
        for n in range(self.n_workers):
            self.start_worker(prefix, f"{name}-{n}")
        self.wait_owned(keys, self.n_workers)

    def entries_done(self, keys: Keys) -> int:
        pipe = self.client.pipeline(transaction=False)
        for p in range(self.settings.partitions):
            pipe.hget(keys.stats(p), "entries")
        return sum(int(v or 0) for v in pipe.execute())

    def stop_workers(self) -> None:
        stop_processes(self.workers, 30)
        self.workers.clear()

    # -- measurements -----------------------------------------------------------------------

    def start_processes(self, ctx, *specs) -> tuple[list, float]:
        """Start each (target, args) process; once all are ready, set one start time."""
        ready, start = ctx.Semaphore(0), ctx.Value("d", 0.0)
        processes = [ctx.Process(target=target, args=(*args, ready, start, *tail)) for target, args, tail in specs]
        for process in processes:
            process.start()
        for _ in processes:
            ready.acquire()
        start.value = time.time() + 0.05
        return processes, start.value

    def ceiling(self, entries: list[tuple[int, bytes]], n_events: int, checked: bool, consumers: int) -> float:
        prefix = self.prefix()
        self.setup(prefix)
        ctx = multiprocessing.get_context("spawn")
        seen, done = ctx.Value("q", 0), ctx.Value("d", 0.0)
        consume = [
            (consume_raw, (self.url, prefix, self.settings.partitions, len(entries), checked, f"raw-{n}"), (seen, done))
            for n in range(consumers)
        ]
        processes, started = self.start_processes(ctx, *consume, (produce, (self.url, prefix, entries, None, None), ()))
        for process in processes:
            process.join()
        self.cleanup(prefix)
        return n_events / (done.value - started)

    def pipeline(self, entries: list[tuple[int, bytes]], n_events: int) -> float:
        prefix = self.prefix()
        keys = self.setup(prefix)
        self.start_workers(prefix, keys, "pipeline")
        ctx = multiprocessing.get_context("spawn")
        (producer,), started = self.start_processes(ctx, (produce, (self.url, prefix, entries, None, None), ()))
        while self.entries_done(keys) < len(entries):
            time.sleep(DONE_POLL_S)
        finished = time.time()
        producer.join()
        self.stop_workers()
        self.cleanup(prefix)
        return n_events / (finished - started)

    def freshness(self, entries: list[tuple[int, bytes]], rate: float, seconds: float) -> tuple[float, float, int]:
        prefix = self.prefix()
        keys = self.setup(prefix)
        self.start_workers(prefix, keys, "freshness")
        events_per_entry = np.mean([payload.count(b'"v":1') for _, payload in entries[:50]])
        wanted = int(rate * seconds / events_per_entry)
        entries = (entries * (1 + wanted // len(entries)))[:wanted]
        ctx = multiprocessing.get_context("spawn")
        probes = ctx.Queue()
        (producer,), started = self.start_processes(ctx, (produce, (self.url, prefix, entries, rate, probes), ()))
        waiting: dict[str, tuple[str, float]] = {}
        latencies = []
        deadline = started + seconds + 30
        while time.time() < deadline:
            while not probes.empty():
                probe, sent = probes.get()
                waiting[probe] = (
                    keys.learner(partition_of("bench", probe, self.settings.partitions), "bench", probe),
                    sent,
                )
            if waiting:
                pipe = self.client.pipeline(transaction=False)
                for key, _ in waiting.values():
                    pipe.exists(key)
                found = pipe.execute()
                now = time.time()  # after the check: a probe is never counted fresher than it was
                for probe, exists in zip(list(waiting), found):
                    if exists:
                        latencies.append(now - waiting.pop(probe)[1])
            elif not producer.is_alive() and probes.empty():
                break
            time.sleep(0.002)
        producer.join()
        self.stop_workers()
        self.cleanup(prefix)
        latencies_ms = np.array(latencies) * 1000
        return float(np.percentile(latencies_ms, 50)), float(np.percentile(latencies_ms, 99)), len(latencies)

    def small_batches(self, batches: int, size: int) -> tuple[float, float]:
        """On idle workers, `batches` times: `size` events of as many new learners appended at
        once (as one xAPI statement batch is), and the time until all their records are
        written. Returns p50 and p99 in ms."""
        prefix = self.prefix()
        keys = self.setup(prefix)
        self.start_workers(prefix, keys, "small")
        catalog = load_catalog(self.settings.catalog_path)
        partitions = self.settings.partitions
        latencies = []
        for n in range(batches):
            learners = [f"s-{n}-{i}" for i in range(size)]
            events = [
                parse_event(
                    {
                        "learner": learner,
                        "module": catalog.modules[i % len(catalog.modules)].id,
                        "kind": "graded",
                        "score": 0.7,
                        "timestamp": START + n,
                    },
                    tenant="bench",
                    catalog=catalog,
                    now=START + n,
                )
                for i, learner in enumerate(learners)
            ]
            records = [keys.learner(partition_of("bench", name, partitions), "bench", name) for name in learners]
            sent = time.time()
            append_events(self.client, keys, partitions, events)
            while self.client.exists(*records) < size:
                time.sleep(0.0005)
            latencies.append(time.time() - sent)
            time.sleep(0.02)  # idle again
        self.stop_workers()
        self.cleanup(prefix)
        latencies_ms = np.array(latencies) * 1000
        return float(np.percentile(latencies_ms, 50)), float(np.percentile(latencies_ms, 99))

    def crash(self, entries: list[tuple[int, bytes]], kills: int, seconds: float, seed: int) -> dict:
        """Two workers, one killed at `kills` random moments and restarted; then the stored
        learners against a clean replay."""
        from core.services import build_services
        from sidecar.replay import check

        prefix = self.prefix()
        keys = self.setup(prefix)
        fast = {"lease_ttl_ms": 1000, "claim_idle_ms": 200}
        survivor = self.start_worker(prefix, "steady", **fast)
        victim = self.start_worker(prefix, "victim-0", **fast)
        self.wait_owned(keys, 2)
        rng = np.random.default_rng(seed)
        moments = np.sort(rng.uniform(0.2, seconds, kills))
        n_events = sum(payload.count(b'"v":1') for _, payload in entries)
        ctx = multiprocessing.get_context("spawn")
        (producer,), started = self.start_processes(
            ctx, (produce, (self.url, prefix, entries, n_events / seconds, None), ())
        )
        for number, moment in enumerate(moments, start=1):
            time.sleep(max(0.0, started + moment - time.time()))
            victim.kill()  # SIGKILL: no cleanup at all
            victim.wait()
            victim = self.start_worker(prefix, f"victim-{number}", **fast)
        producer.join()
        deadline = time.monotonic() + 120
        while self.entries_done(keys) < len(entries) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.stop_workers()
        assert survivor.poll() is not None
        settings = self.settings.replace(key_prefix=prefix)
        result = check(build_services(settings, self.client))
        self.cleanup(prefix)
        return {
            "events": n_events,
            "kills": kills,
            "learners": result.learners,
            "lost": result.lost,
            "duplicated": result.duplicated,
            "max_mastery_difference": result.max_mastery_difference,
            "different_rankings": result.different_rankings,
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stream", description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--learners", type=int, default=5_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--entry-events", type=int, default=500)
    parser.add_argument("--freshness-seconds", type=float, default=10.0)
    parser.add_argument("--crash-events", type=int, default=200_000)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes in the pipeline, and consumer processes in the ceiling"
    )
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--small-batches", type=int, default=200, help="batches of 50 events timed on idle workers")
    parser.add_argument("--rounds", type=int, default=9, help="pipeline runs, each between two ceiling runs")
    args = parser.parse_args(argv)

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sgbench-")))
        url = os.environ.get("REDIS_URL")
        if not url:
            try:
                redis.Redis.from_url(LOCAL, socket_connect_timeout=1).ping()
                url = LOCAL
            except redis.RedisError:
                url = stack.enter_context(EmbeddedRedis(folder / "redis")).url
        settings = Settings.load({"redis_url": url, "partitions": args.partitions}, environ={})
        bench = Bench(url, settings, folder, args.workers)
        say("load_before", load())
        say("redis", bench.client.info("server")["redis_version"])
        say(
            "workload",
            f"{args.events} events, {args.learners} learners, {args.partitions} partitions, "
            f"{args.entry_events} events per entry",
        )
        say(
            "processes",
            f"{args.workers} worker(s) in the pipeline, {args.workers} consumer(s) in the ceiling; "
            f"batches of {settings.batch_ms} ms of work while keeping up, up to "
            f"{settings.batch_max_ms} ms while behind; the ceiling reads {CEILING_ENTRIES} entries "
            "per stream",
        )
        entries = make_entries(
            settings.catalog_path, args.events, args.learners, args.partitions, args.entry_events, args.seed
        )
        json_only = bench.ceiling(entries, args.events, checked=False, consumers=args.workers)

        def ceiling_run() -> float:
            return bench.ceiling(entries, args.events, checked=True, consumers=args.workers)

        ceilings, pipelines = [ceiling_run()], []  # each pipeline run between two ceiling runs
        for _ in range(args.rounds):
            pipelines.append(bench.pipeline(entries, args.events))
            ceilings.append(ceiling_run())
        ceiling, pipeline = float(np.median(ceilings)), float(np.median(pipelines))
        ratios = [p / ((before + after) / 2) for p, before, after in zip(pipelines, ceilings, ceilings[1:])]
        say("ceiling_json_only_events_per_s", f"{json_only:,.0f}")
        say("ceiling_events_per_s", f"{ceiling:,.0f}  (XREADGROUP + the workers' decoder + XACK; median)")
        say("pipeline_events_per_s", f"{pipeline:,.0f}  (median)")
        say("pipeline_to_ceiling_per_round", " ".join(f"{ratio:.2f}" for ratio in ratios))
        say(
            "pipeline_to_ceiling",
            f"{np.median(ratios):.2f}  (median of the rounds; a round: its pipeline over the "
            "mean of the ceilings run just before and after it)",
        )
        say("pipeline_to_json_only_ceiling", f"{pipeline / json_only:.2f}")
        for share, label in ((0.5, ""), (0.25, "_quarter_load")):
            p50, p99, probes = bench.freshness(entries, pipeline * share, args.freshness_seconds)
            say(f"freshness{label}_rate_events_per_s", f"{pipeline * share:,.0f}")
            say(f"freshness{label}_probes", probes)
            say(f"freshness{label}_p50_ms", f"{p50:.1f}")
            say(f"freshness{label}_p99_ms", f"{p99:.1f}")
        p50, p99 = bench.small_batches(args.small_batches, 50)
        say("batch_of_50_on_idle_workers_p50_ms", f"{p50:.1f}")
        say("batch_of_50_on_idle_workers_p99_ms", f"{p99:.1f}")
        crash_entries = make_entries(
            settings.catalog_path, args.crash_events, args.learners, args.partitions, 64, args.seed + 2
        )
        crash = bench.crash(crash_entries, args.kills, seconds=max(5.0, args.kills * 0.6), seed=args.seed)
        for name, value in crash.items():
            say(f"crash_{name}" if name not in ("lost", "duplicated") else name, value)
        say("load_after", load())
    return 0


if __name__ == "__main__":
    sys.exit(main())
