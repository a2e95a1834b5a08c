"""`make chaos` (python -m bench.chaos): faults an operator would stage, in one bounded process,
on a Redis of its own (a temporary directory, a Unix socket, AOF with fsync on every write).

Clients post events with their own ids to the analyst API (gunicorn) while two stream workers
apply them; meanwhile workers are SIGKILLed every 2.5-5 s (and restarted), Redis is killed
with SIGKILL and restarted from its AOF, and the whole sidecar (API and workers) gets SIGTERM
and is started again. A request answered 503 or cut off is sent again with the same ids, as
README says producers should. Retention is seconds long, so the workers snapshot, archive and
trim while the load runs. Then: a refit on the archive and the log, and a replay with it.

Prints `name: value` lines; `lost`, `duplicated` and `server_errors` must be 0: every event
answered 202 is applied exactly once, and no answer is a 5xx other than 503.

`--soak` (with `--rate`, events per second, so that the workers keep up): the same load with no
faults, sampling Redis's memory by part and the workers' resident memory, then a verdict
(`bench/soak.py`): `flat: 1` and exit 0 when every part but the day's marks stays flat once
retention trims, the marks cost what they hold and each marks key keeps one expiry time.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import orjson

from bench.soak import Soak, judge
from core.params import activate
from core.redis_server import EmbeddedRedis, connect
from core.services import build_services
from core.settings import Settings
from core.tokens import create_token
from sidecar import archive, snapshots
from sidecar.fit_from_log import fit_from_log
from sidecar.replay import check, replay
from skillgap.processes import free_port, gunicorn_command, stop_processes
from skillgap.run import wait_healthy

PARTITIONS = 4
LEARNERS = 300
BATCH = 40


class Load:
    """Client threads posting batches of events until stopped; each batch is sent again until
    it is answered 202."""

    def __init__(self, port: int, token: str, module: str, clients: int, rate: float = 0.0):
        self.port, self.token, self.module = port, token, module
        self.interval_s = BATCH * clients / rate if rate else 0.0  # per client; 0: as fast as answered
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.accepted: Counter = Counter()  # learner -> events answered 202
        self.answers: Counter = Counter()
        self.threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(clients)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(120)

    def _client(self, number: int) -> None:
        rng = random.Random(number)
        connection, sent = None, 0
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        next_at = time.monotonic()
        while not self.stop.is_set():
            if self.interval_s:
                next_at += self.interval_s
                self.stop.wait(max(0.0, next_at - time.monotonic()))
            batch = []
            for _ in range(BATCH):
                sent += 1
                batch.append(
                    {
                        "id": f"c{number}-{sent}",
                        "learner": f"l-{rng.randrange(LEARNERS)}",
                        "module": self.module,
                        "kind": "graded",
                        "score": round(rng.random(), 3),
                        "timestamp": time.time() - 1,
                    }
                )
            body = orjson.dumps(batch)
            while True:  # the same request until it is answered 202: ids make a repeat harmless
                try:
                    if connection is None:
                        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                    connection.request("POST", "/v1/events", body, headers)
                    response = connection.getresponse()
                    response.read()
                except (OSError, http.client.HTTPException):
                    if connection is not None:
                        connection.close()
                    connection = None
                    self._count("connection_errors")
                    time.sleep(0.2)
                    continue
                if response.will_close:
                    connection.close()
                    connection = None
                if response.status == 202:
                    with self.lock:
                        self.accepted.update(event["learner"] for event in batch)
                    break
                self._count(
                    "unavailable_answers"
                    if response.status == 503
                    else "server_errors"
                    if response.status >= 500
                    else "client_errors"
                )
                if response.status < 500:
                    break  # not retried: a 4xx here is a bug the count shows
                time.sleep(0.2)
        if connection is not None:
            connection.close()

    def _count(self, name: str) -> None:
        with self.lock:
            self.answers[name] += 1


class Sidecar:
    """The analyst API and the stream workers, as separate processes we can kill."""

    def __init__(self, env: dict[str, str], port: int, workers: int, log: Path):
        self.env, self.port, self.count = env, port, workers
        self.log = log.open("ab")  # the children's output: their warnings while Redis is down are expected
        self.api: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []

    def _spawn(self, args: list[str]) -> subprocess.Popen:
        return subprocess.Popen(
            args, env=self.env, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, start_new_session=True
        )

    def start(self) -> None:
        self.api = self._spawn(gunicorn_command("sidecar.api:create_app()", "127.0.0.1", self.port, 2))
        self.workers = [self._spawn([sys.executable, "-m", "skillgap.cli", "worker"]) for _ in range(self.count)]

    def restart_exited(self) -> None:
        """A worker started while Redis was down exits at once: start it again."""
        for i, worker in enumerate(self.workers):
            if worker.poll() is not None:
                self.workers[i] = self._spawn([sys.executable, "-m", "skillgap.cli", "worker"])

    def kill_worker(self, rng: random.Random) -> None:
        victim = rng.randrange(len(self.workers))
        self.workers[victim].kill()
        self.workers[victim].wait()
        self.workers[victim] = self._spawn([sys.executable, "-m", "skillgap.cli", "worker"])

    def close(self) -> None:
        self.terminate()
        self.log.close()

    def terminate(self) -> None:
        stop_processes([p for p in (self.api, *self.workers) if p is not None], 30)


def drained(client, keys) -> bool:
    """Every partition's entries delivered and acknowledged."""
    for partition in range(PARTITIONS):
        state = snapshots.group_state(client, keys, partition)
        info = client.xinfo_stream(keys.stream(partition)) if client.exists(keys.stream(partition)) else None
        if info is not None and (state is None or state.pending or state.last_delivered != info["last-generated-id"]):
            return False
    return True


def trimmed(client, keys) -> bool:
    """Every partition snapshotted at its last entry and trimmed down to it."""
    for partition in range(PARTITIONS):
        if not client.exists(keys.stream(partition)):
            continue
        latest = snapshots.latest(client, keys, partition)
        last = client.xinfo_stream(keys.stream(partition))["last-generated-id"]
        if latest is None or latest.position != last or client.xlen(keys.stream(partition)) > 1:
            return False
    return True


def wait_for(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.5)
    return False


def applied(services, learners) -> Counter:
    counts: Counter = Counter()
    for record in services.learners.get_many("chaos", sorted(learners), explain=False):
        counts[record.learner] = record.events
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds",
        type=float,
        default=60.0,
        help="how long the load and the faults last; with --soak, how long it samples once retention trims",
    )
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--soak", action="store_true", help="no faults: memory over time under steady load")
    parser.add_argument("--rate", type=float, default=0.0, help="events per second in all (0: as fast as answered)")
    parser.add_argument("--sample-s", type=float, default=3.0, help="with --soak: seconds between samples")
    args = parser.parse_args(argv)
    started = time.monotonic()
    rng = random.Random(14)
    with tempfile.TemporaryDirectory(prefix="skillgap-chaos-") as temp:
        root = Path(temp)
        server = EmbeddedRedis(root / "redis", {"appendfsync": "always"}).start()
        try:
            return _run(args, root, server, rng, started)
        finally:
            server.stop()


def _run(args, root: Path, server: EmbeddedRedis, rng: random.Random, started: float) -> int:
    port = free_port()
    archive_dir = root / "archive"
    overrides = {
        "SKILLGAP_PARTITIONS": str(PARTITIONS),
        # retention and snapshots every few seconds: the soak's steady state comes sooner
        "SKILLGAP_RETENTION_DAYS": str((6 if args.soak else 10) / 86_400),
        "SKILLGAP_SNAPSHOT_INTERVAL_S": "2" if args.soak else "3",
        "SKILLGAP_MAINTENANCE_INTERVAL_S": "1",
        "SKILLGAP_ARCHIVE_DIR": str(archive_dir),
        "SKILLGAP_RECONNECT_MAX_S": "1",
        "SKILLGAP_LEASE_TTL_MS": "3000",
        "SKILLGAP_API_PORT": str(port),
    }
    env = {**os.environ, "REDIS_URL": server.url, **overrides}
    settings = Settings.load(environ=env)
    client = connect(server.url)
    services = build_services(settings, client)
    token = create_token(client, services.keys, "chaos")
    sidecar = Sidecar(env, port, workers=2, log=root / "processes.log")
    sidecar.start()
    wait_healthy(f"http://127.0.0.1:{port}/v1/health", 60)
    quiz = next(m for m in services.catalog.modules if m.method == "quiz").id
    load = Load(port, token, quiz, args.clients, args.rate)
    load.start()
    if args.soak:
        return _soak(args, client, services, sidecar, load, started)
    faults: Counter = Counter()
    end = time.monotonic() + args.seconds
    redis_at, sidecar_at = time.monotonic() + args.seconds / 3, time.monotonic() + 2 * args.seconds / 3
    while time.monotonic() < end:
        time.sleep(rng.uniform(2.5, 5.0))
        sidecar.restart_exited()
        sidecar.kill_worker(rng)
        faults["worker_kills"] += 1
        if redis_at and time.monotonic() >= redis_at:
            server.process.kill()
            server.process.wait()
            server.start()  # from its AOF
            faults["redis_restarts"] += 1
            redis_at = 0.0
        if sidecar_at and time.monotonic() >= sidecar_at:
            sidecar.terminate()
            sidecar.start()
            faults["sidecar_restarts"] += 1
            sidecar_at = 0.0
    load.finish()
    sidecar.restart_exited()
    print_line = lambda name, value: print(f"{name}: {value}", flush=True)  # noqa: E731
    client = connect(server.url)
    services = build_services(settings, client)
    print_line("drained", int(wait_for(lambda: drained(client, services.keys), 120)))
    print_line("trimmed_to_snapshots", int(wait_for(lambda: trimmed(client, services.keys), 60)))
    accepted, stored = load.accepted, applied(services, load.accepted)
    print_line("accepted", sum(accepted.values()))
    print_line("applied", sum(stored.values()))
    print_line("lost", sum(max(0, accepted[learner] - stored[learner]) for learner in accepted))
    print_line("duplicated", sum(max(0, stored[learner] - accepted[learner]) for learner in accepted))
    for name in ("server_errors", "unavailable_answers", "connection_errors", "client_errors"):
        print_line(name, load.answers[name])
    for name in ("worker_kills", "redis_restarts", "sidecar_restarts"):
        print_line(name, faults[name])
    print_line("retained_entries", sum(client.xlen(services.keys.stream(p)) for p in range(PARTITIONS)))
    archived = list(archive_dir.glob("*.ndjson.gz"))
    print_line("archived_files", len(archived))  # one per partition and day
    print_line("archived_members", sum(archive.member_count(path) for path in archived))  # one per trim
    before = check(services)
    print_line("check_lost", before.lost)
    print_line("check_duplicated", before.duplicated)
    print_line("check_max_mastery_difference", f"{before.max_mastery_difference:.3g}")
    print_line("check_max_time_difference", f"{before.max_time_difference:.3g}")
    fitted = fit_from_log(services, archive_dir=archive_dir, min_learners=5)
    activate(client, services.keys, services.catalog, fitted.version)
    print_line("refit_events", fitted.events)
    replay(services, progress=lambda line: None, archive_dir=archive_dir)
    after = check(services, archive_dir)
    replayed = applied(services, accepted)
    print_line("replay_events_differences", sum(abs(replayed[learner] - stored[learner]) for learner in accepted))
    print_line("replay_lost", after.lost)
    print_line("replay_duplicated", after.duplicated)
    print_line("replay_max_mastery_difference", f"{after.max_mastery_difference:.3g}")
    print_line("replay_max_time_difference", f"{after.max_time_difference:.3g}")
    sidecar.close()
    print_line("load_average", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print_line("seconds", f"{time.monotonic() - started:.0f}")
    zero = (
        load.answers["server_errors"],
        sum(max(0, accepted[k] - stored[k]) for k in accepted),
        sum(max(0, stored[k] - accepted[k]) for k in accepted),
        after.lost,
        after.duplicated,
    )
    return 0 if not any(zero) and after.healthy else 1


def _soak(args, client, services, sidecar: Sidecar, load: Load, started: float) -> int:
    """Sample every --sample-s until every partition was trimmed, then for --seconds more;
    print the samples' verdict (`bench/soak.py`); exit 1 unless memory is flat and no answer
    was a 5xx."""
    keys = services.keys
    soak = Soak(client, keys.prefix)
    began = time.monotonic()
    end = began + 2 * args.seconds  # until trimmed (at most --seconds), then --seconds
    while time.monotonic() < end:
        if soak.samples and soak.samples[-1].trimmed and len([s for s in soak.samples if s.trimmed]) == 1:
            end = time.monotonic() + args.seconds
        time.sleep(args.sample_s)
        soak.sample(
            time.monotonic() - began,
            sum(load.accepted.values()),
            [worker.pid for worker in sidecar.workers],
            sum(client.xlen(keys.stream(p)) for p in range(PARTITIONS)),
            all(client.exists(keys.trimmed(p)) for p in range(PARTITIONS)),
        )
    load.finish()
    sidecar.close()
    verdict = judge(soak.samples, services.settings.worker_cache_marks * len(sidecar.workers), soak.expiries)
    first = next((sample for sample in soak.samples if sample.trimmed), soak.samples[-1])
    for name, sample in (("start", first), ("end", soak.samples[-1])):
        print(f"{name}_accepted: {sample.accepted}")
        print(f"{name}_log_entries: {sample.entries}")
        print(f"{name}_redis_memory_mb: {sample.used_memory / 1e6:.2f}")
        for part, size in sample.parts.items():
            print(f"{name}_redis_{part}_mb: {size / 1e6:.2f}")
        print(f"{name}_worker_rss_mb: {sample.worker_rss / 1e6:.1f}")
    for name, value in verdict.lines:
        print(f"{name}: {value}")
    print(f"not_flat: {','.join(verdict.failures) or '-'}")
    print(f"server_errors: {load.answers['server_errors']}")
    print(f"load_average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"seconds: {time.monotonic() - started:.0f}", flush=True)
    return 0 if not verdict.failures and not load.answers["server_errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
