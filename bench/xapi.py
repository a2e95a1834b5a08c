"""`python -m bench.xapi`: xAPI intake throughput through the production server.

Starts the tool under gunicorn and the stream workers consuming, exactly as `skillgap run`
does (SKILLGAP_HTTP_WORKERS, SKILLGAP_WORKER_PROCESSES); then 4 client processes POST
Moodle-shaped statements over keep-alive connections, first one statement per request, then
batches of 50 as fast as they are answered, then batches of 50 offered at `--rate` (the
target, 20,000 statements/s). While the batches flow, a monitor polls the stored state of a
sample of learners and records when each of their statements shows in mastery: at full speed
the intake can outrun the workers, at the target rate it should not. Where this machine's CPU went
(tool, stream workers, Redis, clients, everything else) is printed per statement, so a run on
a busy machine says so. Beside the single and the batch figures, the same statements' Redis
work alone is timed in the same run: the ceiling the intake is judged against.

Uses REDIS_URL, else the Redis on 127.0.0.1:6379, else an embedded one; works under its own
key prefix and deletes its keys at the end. Prints `name: value` lines.
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing
import os
import random
import re
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime

import orjson
import redis

from core.eventlog import queue_events
from core.identity import learner_pseudonym, pseudonym_secret
from core.keys import Keys
from core.redis_server import EmbeddedRedis
from core.services import build_services
from core.settings import Settings
from lti_tool.xapi.credentials import create_credentials
from lti_tool.xapi.intake import RECORD_STATEMENTS, Intake
from lti_tool.xapi.statements import parse_statement
from skillgap.processes import Supervisor, gunicorn_command, port_is_free
from skillgap.run import wait_healthy

TENANT = "bench"
SITE = "https://lms.example.com"  # the default catalog's module URLs live here
TARGET_BATCH_STATEMENTS_PER_S = 20_000
TRACKED = 64  # learners whose statements are timed into mastery
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CONTENT_LENGTH = re.compile(rb"(?im)^content-length:\s*(\d+)")


def _statement(user: int, activity: str, when: float, rng: random.Random) -> dict:
    scaled = round(rng.random(), 3)
    return {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "actor": {"name": "Bench Learner", "account": {"homePage": SITE, "name": str(user)}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en": "completed"}},
        "object": {
            "id": activity,
            "definition": {"type": "http://id.tincanapi.com/activitytype/lms/module", "name": {"en": "Bench module"}},
        },
        "timestamp": datetime.fromtimestamp(when, UTC).isoformat(),
        "result": {"score": {"raw": scaled * 100, "min": 0, "max": 100, "scaled": scaled}, "completion": True},
        "context": {
            "platform": "Moodle",
            "contextActivities": {
                "grouping": [
                    {"id": SITE, "definition": {"type": "http://id.tincanapi.com/activitytype/lms"}},
                    {
                        "id": f"{SITE}/course/view.php?id=7",
                        "definition": {"type": "http://id.tincanapi.com/activitytype/lms/course"},
                    },
                ]
            },
        },
    }


def _bodies(
    seed: int, requests: int, per_request: int, learners: int, activities: list[str]
) -> list[tuple[bytes, list[int]]]:
    """Request bodies, each with the users of its statements (to time the tracked ones)."""
    rng = random.Random(seed)
    now = time.time() - 3600
    bodies = []
    for r in range(requests):
        users = [rng.randrange(learners) for _ in range(per_request)]
        batch = [_statement(u, rng.choice(activities), now + r * 1e-3 + i * 1e-6, rng) for i, u in enumerate(users)]
        bodies.append((orjson.dumps(batch if per_request > 1 else batch[0]), users))
    return bodies


class Connection:
    """A minimal HTTP/1.1 keep-alive client for requests built in advance. The clients' CPU
    is the LMS's in production, not the tool's host's: http.client took 7 us per statement
    of this machine's 2 cores, this takes a tenth of that."""

    def __init__(self, port: int, headers: dict[str, str]):
        self.socket = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.head = "".join(f"{name}: {value}\r\n" for name, value in {"Host": f"127.0.0.1:{port}", **headers}.items())

    def request(self, path: str, body: bytes) -> bytes:
        return f"POST {path} HTTP/1.1\r\n{self.head}Content-Length: {len(body)}\r\n\r\n".encode() + body

    def exchange(self, request: bytes) -> int:
        """Send a request, read its whole response; returns the status."""
        self.socket.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += self._receive()
        head, _, body = data.partition(b"\r\n\r\n")
        length = CONTENT_LENGTH.search(head)
        if length is None:
            raise RuntimeError(f"a response without Content-Length: {head[:200]!r}")
        while len(body) < int(length[1]):
            body += self._receive()
        return int(head[9:12])

    def _receive(self) -> bytes:
        chunk = self.socket.recv(1 << 16)
        if not chunk:
            raise ConnectionError("the tool closed the connection")
        return chunk


def _client(
    port: int,
    headers: dict,
    bodies: list,
    start: multiprocessing.Event,
    results,
    accepted,
    interval_s: float,
) -> None:
    """One client process: POST every body over one keep-alive connection, each as soon as
    the last is answered, or (`interval_s`) on a schedule, as an LMS sending at a set rate."""
    connection = Connection(port, headers)
    requests = [(connection.request("/xapi/statements", body), users) for body, users in bodies]
    start.wait()
    began = time.perf_counter()
    cpu = time.process_time()
    failures = 0
    for number, (request, users) in enumerate(requests):
        if interval_s and (wait := began + number * interval_s - time.perf_counter()) > 0:
            time.sleep(wait)
        if connection.exchange(request) != 200:
            failures += 1
            continue
        now = time.time()
        tracked = [u for u in users if u < TRACKED]
        if tracked and accepted is not None:
            accepted.put((now, tracked))
    if accepted is not None:
        accepted.put(None)  # this client is done: the monitor has all of its statements
    results.put((time.perf_counter() - began, failures, time.process_time() - cpu))
    connection.socket.close()


def _run_phase(
    port,
    headers,
    per_request,
    requests_per_client,
    clients,
    learners,
    activities,
    meter,
    accepted=None,
    rate: float = 0.0,
    seed: int = 0,
) -> tuple[float, int, dict[str, float], float]:
    """Statements per second, failed requests, CPU microseconds per statement by process, and
    the phase's seconds. `rate`: statements per second offered in all (0: as fast as answered)."""
    interval_s = clients * per_request / rate if rate else 0.0
    context = multiprocessing.get_context("fork")
    start = context.Event()
    results = context.Queue()
    procs = []
    for c in range(clients):
        bodies = _bodies(seed + 1000 * per_request + c, requests_per_client, per_request, learners, activities)
        procs.append(
            context.Process(target=_client, args=(port, headers, bodies, start, results, accepted, interval_s))
        )
    for proc in procs:
        proc.start()
    time.sleep(0.5)  # let every client connect
    before = meter.read()
    began = time.perf_counter()
    start.set()
    outcomes = [results.get(timeout=600) for _ in procs]
    elapsed = time.perf_counter() - began
    used = meter.used(before)
    for proc in procs:
        proc.join()
    statements = clients * requests_per_client * per_request
    used["clients"] = sum(cpu for _, _, cpu in outcomes)
    used["other"] = max(0.0, used["other"] - used["clients"])
    cpu_us = {name: 1e6 * seconds / statements for name, seconds in used.items()}
    return statements / elapsed, sum(f for _, f, _ in outcomes), cpu_us, elapsed


def _ceiling_client(url: str, writes: list, start, results) -> None:
    client = redis.Redis.from_url(url)
    client.ping()
    start.wait()
    began = time.perf_counter()
    for mget_keys, pipeline_calls in writes:
        client.mget(mget_keys)
        pipe = client.pipeline(transaction=False)
        for call in pipeline_calls:
            call(pipe)
        pipe.execute()
    results.put(time.perf_counter() - began)


def _redis_ceiling(url, services, credential, per_request, requests_per_client, clients, learners, activities):
    """Statements per second of the intake's own Redis work alone, for the same statements:
    per request the MGET of their records, then one pipeline with their events, the record
    script and a counter, from as many client processes as the HTTP phases use, under a key
    prefix no worker reads (no HTTP, JSON, validation or mapping: what Redis allows)."""
    keys = Keys(f"{services.keys.prefix}-ceiling")
    settings = services.settings
    intake = Intake(services)
    context = multiprocessing.get_context("fork")
    start, results, procs = context.Event(), context.Queue(), []
    for c in range(clients):
        writes = []
        for body, _ in _bodies(777 + c, requests_per_client, per_request, learners, activities):
            items = orjson.loads(body)
            statements = [parse_statement(item, TENANT) for item in (items if per_request > 1 else [items])]
            events = intake._effect(credential, statements, Counter(), time.time()).events
            records = [keys.xapi_statement(TENANT, s.id) for s in statements]
            digests = "".join(s.digest for s in statements)
            count = len(statements)
            calls = [
                lambda pipe, events=events: queue_events(pipe, keys, settings.partitions, events),
                lambda pipe, records=records, digests=digests: pipe.eval(
                    RECORD_STATEMENTS, len(records), *records, 3600, digests
                ),
                lambda pipe, n=count: pipe.hincrby(keys.xapi_counts(TENANT), "statements", n),
            ]
            writes.append((records, calls))
        procs.append(context.Process(target=_ceiling_client, args=(url, writes, start, results)))
    for proc in procs:
        proc.start()
    time.sleep(0.5)
    began = time.perf_counter()
    start.set()
    for _ in procs:
        results.get(timeout=600)
    elapsed = time.perf_counter() - began
    for proc in procs:
        proc.join()
    client = services.redis
    for batch in _batches(client.scan_iter(f"{keys.prefix}:*", count=1000)):
        client.unlink(*batch)
    return clients * requests_per_client * per_request / elapsed


def _tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants (Linux /proc)."""
    total, stack = 0.0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    stack.extend(int(child) for child in children.read().split())
        except OSError:
            continue  # exited meanwhile
    return total


def _machine_busy_s() -> float:
    with open("/proc/stat") as stat:
        ticks = [int(t) for t in stat.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS  # all but idle and iowait


class CpuMeter:
    """Where the machine's CPU goes during a phase: the tool (gunicorn and its workers), the
    stream workers, Redis (the whole server: other users of a shared one count here too),
    this process (the mastery monitor), and everything else on the machine. The clients
    report their own; `_run_phase` takes them out of `other`."""

    def __init__(self, supervisor: Supervisor, client: redis.Redis):
        self.supervisor, self.client = supervisor, client

    def read(self) -> dict[str, float]:
        cpu = self.client.info("cpu")
        return {
            "tool": _tree_cpu_s(self.supervisor.children["tool"].pid),
            "worker": sum(
                _tree_cpu_s(child.pid) for name, child in self.supervisor.children.items() if name.startswith("worker")
            ),
            "redis": cpu["used_cpu_user"] + cpu["used_cpu_sys"],
            "bench": time.process_time(),
            "machine": _machine_busy_s(),
        }

    def used(self, before: dict[str, float]) -> dict[str, float]:
        after = self.read()
        used = {name: after[name] - before[name] for name in after}
        used["other"] = used.pop("machine") - sum(used.values())
        return used


class MasteryMonitor(threading.Thread):
    """Polls the tracked learners' applied-event counts (through the learner store); for each
    accepted statement of theirs, the delay until the count includes it."""

    def __init__(self, store, learners: list[str], accepted, poll_s: float = 0.05):
        super().__init__(daemon=True)
        self.store, self.learners, self.accepted, self.poll_s = store, learners, accepted, poll_s
        self.stop = threading.Event()
        self.expected: list[list[float]] = [[] for _ in learners]  # acceptance times, in order
        self.matched = [0] * len(learners)
        self.delays: list[float] = []
        self.clients_done = 0

    def _counts(self) -> list[int]:
        found = {r.learner: r.events for r in self.store.get_many(TENANT, self.learners, explain=False)}
        return [found.get(learner, 0) for learner in self.learners]

    def run(self) -> None:
        base = self._counts()
        while not self.stop.is_set():
            while not self.accepted.empty():
                item = self.accepted.get()
                if item is None:
                    self.clients_done += 1
                    continue
                when, users = item
                for u in users:
                    self.expected[u].append(when)
            counts = self._counts()
            now = time.time()
            for u, count in enumerate(counts):
                applied = min(count - base[u], len(self.expected[u]))
                while self.matched[u] < applied:
                    self.delays.append(max(0.0, now - self.expected[u][self.matched[u]]))
                    self.matched[u] += 1
            self.stop.wait(self.poll_s)

    def pending(self) -> int:
        return sum(len(e) for e in self.expected) - len(self.delays)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.xapi", description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--single-requests", type=int, default=1500, help="per client, one statement each")
    parser.add_argument("--batch-requests", type=int, default=600, help="per client, 50 statements each")
    parser.add_argument(
        "--rate",
        type=float,
        default=TARGET_BATCH_STATEMENTS_PER_S,
        help="statements/s offered in the paced phase (the same batches, on a schedule)",
    )
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--port", type=int, default=8090)
    args = parser.parse_args(argv)
    if not port_is_free("127.0.0.1", args.port):
        raise SystemExit(f"port {args.port} is in use; pass --port")

    with ExitStack() as stack:
        url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
        try:
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
        except redis.RedisError:
            url = stack.enter_context(EmbeddedRedis(tempfile.mkdtemp(prefix="skillgap-bench-"))).url
        prefix = f"sgbench-{uuid.uuid4().hex[:8]}"
        settings = Settings.load({"redis_url": url, "key_prefix": prefix})
        client = redis.Redis.from_url(url)
        stack.callback(
            lambda: [client.unlink(*batch) for batch in _batches(client.scan_iter(f"{prefix}:*", count=1000))]
        )
        services = build_services(settings, client)
        credential, secret = create_credentials(client, services.keys, TENANT, "moodle", SITE)
        headers = {
            "Authorization": "Basic " + base64.b64encode(f"{credential.key}:{secret}".encode()).decode(),
            "X-Experience-API-Version": "1.0.0",
            "Content-Type": "application/json",
        }
        env = dict(os.environ, SKILLGAP_REDIS_URL=url, REDIS_URL=url, SKILLGAP_KEY_PREFIX=prefix)
        supervisor = Supervisor(env)
        stack.callback(supervisor.stop)
        supervisor.start(
            "tool",
            gunicorn_command("lti_tool:create_app()", "127.0.0.1", args.port, settings.http_workers),
        )
        for number in range(1, settings.worker_processes + 1):  # as `skillgap run` starts them
            supervisor.start(f"worker {number}", [sys.executable, "-m", "skillgap.cli", "worker"])
        wait_healthy(f"http://127.0.0.1:{args.port}/health", 60, supervisor)

        activities = [m.url for m in services.catalog.modules if m.url]
        secret_key = pseudonym_secret(client, services.keys)
        tracked = [learner_pseudonym(secret_key, SITE, str(u)) for u in range(TRACKED)]
        print(f"load_before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"cpus: {os.cpu_count()}")
        print(f"gunicorn_workers: {settings.http_workers}")
        print(f"stream_workers: {settings.worker_processes}")

        meter = CpuMeter(supervisor, client)
        single, failed_single, single_cpu, _ = _run_phase(
            args.port,
            headers,
            1,
            args.single_requests,
            args.clients,
            args.learners,
            activities,
            meter,
        )
        print(f"xapi_single_statements_per_s: {single:.0f}")
        ceiling = _redis_ceiling(
            url, services, credential, 1, args.single_requests, args.clients, args.learners, activities
        )
        print(f"redis_ceiling_single_statements_per_s: {ceiling:.0f}")
        print(f"xapi_single_vs_redis_ceiling: {single / ceiling:.2f}")
        _print_cpu("single", single_cpu)
        _drain(client, services, 30)

        phase = (args.port, headers, 50, args.batch_requests, args.clients, args.learners)
        batch, failed_batch, batch_cpu, freshness = _monitored(client, services, tracked, meter, phase, activities)
        print(f"xapi_batch50_statements_per_s: {batch:.0f}")
        ceiling = _redis_ceiling(
            url, services, credential, 50, args.batch_requests, args.clients, args.learners, activities
        )
        print(f"redis_ceiling_batch50_statements_per_s: {ceiling:.0f}")
        print(f"xapi_batch50_vs_redis_ceiling: {batch / ceiling:.2f}")
        print(f"xapi_batch50_vs_target_20000: {batch / TARGET_BATCH_STATEMENTS_PER_S:.2f}")
        print(f"batch_vs_single_speedup: {batch / single:.1f}")
        _print_cpu("batch50", batch_cpu)
        for name, value in freshness.items():
            print(f"{name}: {value}")
        # The same batches offered at the target rate: does mastery keep up with it?
        _drain(client, services, 30)
        paced, failed_paced, paced_cpu, freshness = _monitored(
            client, services, tracked, meter, phase, activities, rate=args.rate, seed=1_000_000
        )
        label = f"at_{args.rate:.0f}_per_s"
        print(f"{label}_statements_per_s: {paced:.0f}")
        _print_cpu(label, paced_cpu)
        for name, value in freshness.items():
            print(f"{label}_{name}: {value}")
        failed_batch += failed_paced
        print(f"failed_requests: {failed_single + failed_batch}")
        print(f"load_after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def _monitored(client, services, tracked, meter, phase, activities, rate=0.0, seed=0):
    """A batch phase while the mastery monitor times the tracked learners' statements:
    (statements/s, failed requests, CPU per statement, freshness lines)."""
    stats_before = _worker_stats(client, services)
    accepted = multiprocessing.get_context("fork").Queue()
    monitor = MasteryMonitor(services.learners, tracked, accepted)
    monitor.start()
    rate_done, failed, cpu, elapsed = _run_phase(*phase, activities, meter, accepted=accepted, rate=rate, seed=seed)
    behind_s = _drain(client, services, 60)
    batches, latency_s = (
        after - before for after, before in zip(_worker_stats(client, services), stats_before, strict=True)
    )
    deadline = time.time() + 30
    clients = phase[4]
    while (monitor.clients_done < clients or monitor.pending()) and time.time() < deadline:
        time.sleep(0.1)
    monitor.stop.set()
    monitor.join()
    delays = sorted(monitor.delays)
    sample = len(delays) + monitor.pending()
    freshness = {
        # How far the workers were behind the intake when the last batch was answered.
        "worker_caught_up_after_s": f"{behind_s:.1f}",
        "worker_statements_per_s": f"{rate_done * elapsed / (elapsed + behind_s):.0f}",
        "worker_batch_latency_mean_ms": f"{1000 * latency_s / max(1, batches):.0f}",
        "reflected_in_mastery_within_1s": f"{sum(d <= 1.0 for d in delays) / max(1, sample):.4f}",
        "reflected_sample_statements": str(sample),
    }
    if delays:
        freshness["reflected_p50_ms"] = f"{1000 * delays[len(delays) // 2]:.0f}"
        freshness["reflected_p99_ms"] = f"{1000 * delays[min(len(delays) - 1, int(len(delays) * 0.99))]:.0f}"
    return rate_done, failed, cpu, freshness


def _print_cpu(phase: str, cpu_us: dict[str, float]) -> None:
    """CPU microseconds per statement, by process (the 2 cores give 100 us per statement at
    20,000 statements/s)."""
    print(f"{phase}_cpu_us_per_statement: {sum(cpu_us.values()):.1f}")
    for name, value in cpu_us.items():
        print(f"{phase}_cpu_us_per_statement_{name}: {value:.1f}")


def _worker_stats(client: redis.Redis, services) -> tuple[int, float]:
    """The worker's batches (per partition) and their summed latency (sidecar/metrics.py)."""
    pipe = client.pipeline(transaction=False)
    for p in range(services.settings.partitions):
        pipe.hmget(services.keys.stats(p), "batches", "latency_sum")
    rows = [(int(b or 0), float(s or 0)) for b, s in pipe.execute()]
    return sum(b for b, _ in rows), sum(s for _, s in rows)


def _drain(client: redis.Redis, services, timeout_s: float) -> float:
    """Wait until the worker has read and acknowledged everything; returns how long it took."""
    began = time.monotonic()
    while time.monotonic() < began + timeout_s:
        pending = 0
        for p in range(services.settings.partitions):
            for group in client.xinfo_groups(services.keys.stream(p)):
                pending += (group.get("lag") or 0) + group["pending"]
        if not pending:
            break
        time.sleep(0.05)
    return time.monotonic() - began


def _batches(iterator, size: int = 500):
    batch = []
    for item in iterator:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


if __name__ == "__main__":
    sys.exit(main())
