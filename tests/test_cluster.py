"""The pipeline on a real 3-node Redis Cluster on loopback: intake, fenced workers, the API."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import redis
from redis.cluster import RedisCluster

from core.eventlog import append_events
from core.events import parse_event
from core.identity import record_launch_identity
from core.keys import CONSUMER_GROUP, partition_of
from core.redis_server import connect
from core.services import build_services
from core.settings import ROOT, Settings
from core.tokens import create_token
from lms_helpers import bearer, cli_env, events_on_stream, first_quiz, xapi_headers
from lti_tool import create_app as lti_app
from lti_tool.xapi.intake import release_waiting, waiting_key
from redis_cluster import LocalCluster
from sidecar.api import create_app
from sidecar.worker import Worker
from skillgap.cli import main
from xapi_shapes import MOODLE, OPENEDX, moodle_quiz_submitted, openedx_problem_check

pytestmark = pytest.mark.slow
NOW = 1_790_000_000.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with LocalCluster(tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture
def services(cluster, tmp_path):
    settings = Settings.load(
        {
            "redis_url": cluster.url,
            "key_prefix": f"sgtest-{uuid.uuid4().hex[:12]}",
            "data_dir": tmp_path,
            "catalog_path": ROOT / "config" / "catalog",
            "partitions": 6,
            "block_ms": 10,
            "claim_idle_ms": 1,
            # The tool's apps built here would start the AGS poster thread, which outlives the
            # test's cluster client and logs its failures at the end of the run.
            "ags_background": False,
        },
        environ={},
    )
    client = connect(settings.redis_url)
    yield build_services(settings, client)
    client.close()


def activity(services, learners: int, per_learner: int, tenant: str = "acme"):
    catalog = services.catalog
    rng = np.random.default_rng(3)
    events = []
    for i in range(learners):
        for e in range(per_learner):
            module = catalog.modules[int(rng.integers(len(catalog.modules)))]
            events.append(
                parse_event(
                    {
                        "learner": f"l-{i}",
                        "module": module.id,
                        "kind": "graded",
                        "score": float(rng.random()),
                        "timestamp": NOW - 86_400 + 60 * (i * per_learner + e),
                        "cohort": f"c-{i % 3}",
                    },
                    tenant=tenant,
                    catalog=catalog,
                    now=NOW,
                )
            )
    return events


def test_connect_finds_the_cluster_and_partitions_spread_over_its_nodes(services):
    assert isinstance(services.redis, RedisCluster)
    nodes = {services.redis.get_node_from_key(services.keys.stream(p)).port for p in range(6)}
    assert len(nodes) >= 2
    # every key of a partition is in one slot, so its commit can be one MULTI/EXEC
    slots = {
        services.redis.keyslot(k)
        for k in (
            services.keys.stream(2),
            services.keys.owner(2),
            services.keys.learner(2, "acme", "x"),
            services.keys.marks(2, "acme", 1),
        )
    }
    assert len(slots) == 1


def test_events_flow_through_two_workers_across_the_cluster(services):
    events = activity(services, learners=30, per_learner=4)
    append_events(services.redis, services.keys, 6, events)
    first, second = Worker(services, name="w-a", clock=lambda: NOW), Worker(services, name="w-b", clock=lambda: NOW)
    first.leases.heartbeat()
    second.leases.heartbeat()
    first.leases.heartbeat()  # gives back what is beyond its share
    second.leases.heartbeat()
    assert first.leases.owned and second.leases.owned and not first.leases.owned & second.leases.owned
    first.run(burst=True)
    second.run(burst=True)
    for i in range(30):
        record = services.learners.get("acme", f"l-{i}")
        assert record is not None and record.events == 4, i
    for p in range(6):
        assert services.redis.xpending(services.keys.stream(p), CONSUMER_GROUP)["pending"] == 0
    # re-posting is still applied once
    append_events(services.redis, services.keys, 6, events[:10])
    Worker(services, clock=lambda: NOW).run(burst=True)
    assert sum(services.learners.get("acme", f"l-{i}").events for i in range(30)) == 120


def test_the_api_reads_the_cluster(services):
    events = activity(services, learners=5, per_learner=2)
    append_events(services.redis, services.keys, 6, events)
    Worker(services, clock=lambda: NOW).run(burst=True)
    client = create_app(services=services).test_client()
    headers = bearer(create_token(services.redis, services.keys, "acme"))
    listed = client.get("/v1/learners", headers=headers).json["learners"]
    assert listed == sorted(f"l-{i}" for i in range(5))
    assert client.get("/v1/learners/l-1/recommendations", headers=headers).json["recommendations"]
    assert client.get("/v1/health").json["redis"] == "ok"


def test_a_stale_owner_cannot_commit_on_the_cluster(services):
    append_events(services.redis, services.keys, 6, activity(services, learners=1, per_learner=1))
    worker = Worker(services, name="w-stale", clock=lambda: time.time())
    worker.leases.heartbeat()
    partition = next(p for p in range(6) if services.redis.xlen(services.keys.stream(p)))
    entries = services.redis.xreadgroup(CONSUMER_GROUP, "w-stale", {services.keys.stream(partition): ">"})[0][1]
    services.redis.set(services.keys.owner(partition), "someone-else")
    from sidecar.worker import LostPartition

    with pytest.raises(LostPartition):
        worker.process({partition: entries})
    assert services.learners.get("acme", "l-0") is None


@contextmanager
def out_of_memory(cluster_client: RedisCluster, spared: list[str]) -> Iterator[set[int]]:
    """A real fault on one node: maxmemory 1 byte, so it refuses every write (OOM) while the
    others accept. The node holds partition streams but none of the `spared` keys (what a
    request writes before its events). Yields the partitions (of 6) on the failing node."""
    nodes = {p: cluster_client.get_node_from_key(f"x:{{p{p}}}:events") for p in range(6)}
    spared_ports = {cluster_client.get_node_from_key(key).port for key in spared}
    port = Counter(node.port for node in nodes.values() if node.port not in spared_ports).most_common(1)[0][0]
    failing = {p for p, node in nodes.items() if node.port == port}
    assert failing and len(failing) < 6
    node = redis.Redis(port=port)
    node.config_set("maxmemory", 1)
    try:
        yield failing
    finally:
        node.config_set("maxmemory", 0)
        node.close()


def test_a_partly_written_request_tells_which_events_are_on_the_log(services):
    """One node out of memory: the partitions on the others commit, the answer is a 503 that
    lists the ids written and not written; sending the request again writes the rest, and
    every event is applied once."""
    client = create_app(services=services).test_client()
    headers = bearer(create_token(services.redis, services.keys, "acme"))
    quiz = first_quiz(services.catalog).id
    body = [
        {"id": f"e-{i}", "learner": f"l-{i}", "module": quiz, "kind": "graded", "score": 0.5, "timestamp": NOW}
        for i in range(40)
    ]
    partition_of_id = {e["id"]: partition_of("acme", e["learner"], 6) for e in body}
    with out_of_memory(services.redis, [services.keys.tokens_used]) as failing:
        response = client.post("/v1/events", json=body, headers=headers)
    assert response.status_code == 503 and response.headers["Retry-After"]
    error = response.json["error"]
    assert error["code"] == "partly_written"
    assert error["not_written"] == [e["id"] for e in body if partition_of_id[e["id"]] in failing]
    assert error["written"] == [e["id"] for e in body if partition_of_id[e["id"]] not in failing]
    assert sorted(e["id"] for e in events_on_stream(services)) == sorted(error["written"])
    again = client.post("/v1/events", json=body, headers=headers)
    assert again.status_code == 202
    Worker(services, clock=lambda: NOW).run(burst=True)
    assert [services.learners.get("acme", f"l-{i}").events for i in range(40)] == [1] * 40


def test_a_request_whose_events_all_fail_is_a_plain_503(services):
    client = create_app(services=services).test_client()
    headers = bearer(create_token(services.redis, services.keys, "acme"))
    quiz = first_quiz(services.catalog).id
    with out_of_memory(services.redis, [services.keys.tokens_used]) as failing:
        learner = next(f"l-{i}" for i in range(100) if partition_of("acme", f"l-{i}", 6) in failing)
        event = {"learner": learner, "module": quiz, "kind": "graded", "score": 0.5, "timestamp": NOW}
        response = client.post("/v1/events", json=event, headers=headers)
    assert response.status_code == 503 and response.json["error"]["code"] == "unavailable"
    assert events_on_stream(services) == []


def test_xapi_on_the_cluster_records_no_statement_whose_events_failed(services):
    """xAPI rejects a batch as a whole (xAPI 1.0.3 part 3, 3.2): the answer is a 503 and no
    statement is recorded as stored while some of the batch's events are not on the log, so
    the LMS's retry of the batch writes them (and the workers apply each id once)."""
    headers = xapi_headers(services, "moodle", MOODLE + "/")
    tool = lti_app(services=services).test_client()
    batch = [moodle_quiz_submitted(user_id=str(i)) for i in range(30)]
    assert services.pseudonym_secret  # read (and created) once per process: here, before the fault
    records = services.keys.xapi_statement("acme", "any")
    with out_of_memory(services.redis, [records, services.keys.xapi_credentials]):
        response = tool.post("/xapi/statements", json=batch, headers=headers)
        assert response.status_code == 503 and response.json["error"]["code"] == "unavailable"
    written = events_on_stream(services)
    assert 0 < len(written) < 30  # the partitions on the other nodes committed
    assert not services.redis.keys(services.keys.xapi_statement("acme", "*"))  # no statement taken as stored
    again = tool.post("/xapi/statements", json=batch, headers=headers)
    assert again.status_code == 200 and len(again.json) == 30
    Worker(services, clock=lambda: NOW).run(burst=True)
    learners = {event["learner"] for event in events_on_stream(services)}
    assert len(learners) == 30
    assert [services.learners.get("acme", learner).events for learner in sorted(learners)] == [1] * 30


def _waiting(services, users: list[str]) -> tuple[object, dict, dict[str, str]]:
    """Open edX statements of learners no launch has named yet (they wait), then each one's
    launch: the tool's client, its headers and, per user, the statement id that waited."""
    tool, headers = lti_app(services=services).test_client(), xapi_headers(services, "openedx", OPENEDX)
    ids = {user: str(uuid.uuid4()) for user in users}
    response = tool.post("/xapi/statements", json=[openedx_problem_check(u, ids[u]) for u in users], headers=headers)
    assert response.status_code == 200 and events_on_stream(services) == []
    for user in users:
        claims = {"sub": user}
        record_launch_identity(
            services.redis, services.keys, services.pseudonym_secret, "acme", OPENEDX, claims, f"u-{user}"
        )
    return tool, headers, ids


def _partitions(services, learners) -> set[int]:
    return {partition_of("acme", learner, services.settings.partitions) for learner in learners}


def test_waiting_xapi_statements_are_released_on_the_cluster(services, monkeypatch, capsys):
    """Statements of learners not yet known wait; once their launches name them, a statement
    arriving for one releases its earlier ones and `skillgap xapi release` the others, on
    learners whose partitions (and the waiting lists) lie in different slots."""
    users = [f"anon-{i}" for i in range(12)]
    tool, headers, ids = _waiting(services, users)
    assert len(_partitions(services, [f"u-{u}" for u in users])) >= 3
    later = str(uuid.uuid4())
    assert (
        tool.post("/xapi/statements", json=openedx_problem_check(users[0], later), headers=headers).status_code == 200
    )
    assert sorted(e["id"] for e in events_on_stream(services)) == sorted([ids[users[0]], later])
    cli_env(monkeypatch, services.settings, SKILLGAP_PARTITIONS="6")
    assert main(["xapi", "release", "--tenant", "acme"]) == 0
    assert capsys.readouterr().out.startswith("11 waiting statement(s)")
    on_log = events_on_stream(services)
    assert sorted(e["id"] for e in on_log) == sorted([*ids.values(), later])
    assert {e["id"]: e["learner"] for e in on_log if e["id"] != later} == {ids[u]: f"u-{u}" for u in users}
    assert not services.redis.smembers(services.keys.xapi_waiting_actors("acme"))
    counts = services.redis.hgetall(services.keys.xapi_counts("acme"))
    assert (int(counts[b"waiting"]), int(counts[b"released"])) == (0, 12)
    assert release_waiting(services, "acme") == 0  # nothing left to release
    Worker(services, clock=lambda: NOW).run(burst=True)
    assert services.learners.get("acme", f"u-{users[0]}").events == 2
    assert [services.learners.get("acme", f"u-{u}").events for u in users[1:]] == [1] * 11


def test_a_release_that_stops_after_its_events_repeats_nothing_when_run_again(services, monkeypatch):
    """A crash between the events' commit and the removal of what they released (here: the
    connection lost on the removal) leaves the statements waiting; releasing them again puts
    the same ids on the log again, and the workers apply each once."""
    users = ["anon-a", "anon-b", "anon-c"]
    _, _, ids = _waiting(services, users)
    actors = [a.decode() for a in services.redis.smembers(services.keys.xapi_waiting_actors("acme"))]

    def lost(*args, **kwargs):
        raise redis.ConnectionError("connection lost")

    with monkeypatch.context() as patch:
        patch.setattr(services.redis, "eval", lost)
        with pytest.raises(redis.ConnectionError):
            release_waiting(services, "acme")
    first = events_on_stream(services)
    assert len(first) == 1  # the first actor's event is on the log, and it is still waiting
    assert sorted(a.decode() for a in services.redis.smembers(services.keys.xapi_waiting_actors("acme"))) == sorted(
        actors
    )
    assert sum(services.redis.llen(waiting_key(services.keys, "acme", a)) for a in actors) == 3
    assert release_waiting(services, "acme") == 3
    on_log = events_on_stream(services)
    assert sorted(e["id"] for e in on_log) == sorted([e["id"] for e in first] + list(ids.values()))
    assert not any(services.redis.exists(waiting_key(services.keys, "acme", a)) for a in actors)
    assert not services.redis.smembers(services.keys.xapi_waiting_actors("acme"))
    counts = services.redis.hgetall(services.keys.xapi_counts("acme"))
    assert (int(counts[b"waiting"]), int(counts[b"released"])) == (0, 3)
    Worker(services, clock=lambda: NOW).run(burst=True)
    assert [services.learners.get("acme", f"u-{u}").events for u in users] == [1, 1, 1]


def _racing_eval(services, monkeypatch, race) -> None:
    """`race()` runs once, after a release put its events on the log and before it removes them."""
    real = services.redis.eval

    def raced(*args, **kwargs):
        monkeypatch.setattr(services.redis, "eval", real)
        race()
        return real(*args, **kwargs)

    monkeypatch.setattr(services.redis, "eval", raced)


def test_two_releases_of_one_actor_on_the_cluster_count_it_once(services, monkeypatch):
    _, _, ids = _waiting(services, ["anon-r"])
    other: list[int] = []
    _racing_eval(services, monkeypatch, lambda: other.append(release_waiting(services, "acme")))
    assert (release_waiting(services, "acme"), other) == (0, [1])  # the racer removed it: counted by the racer
    assert [e["id"] for e in events_on_stream(services)] == [ids["anon-r"]] * 2  # both sent it
    counts = services.redis.hgetall(services.keys.xapi_counts("acme"))
    assert (int(counts[b"waiting"]), int(counts[b"released"])) == (0, 1)
    assert not services.redis.smembers(services.keys.xapi_waiting_actors("acme"))
    Worker(services, clock=lambda: NOW).run(burst=True)
    assert services.learners.get("acme", "u-anon-r").events == 1


def test_a_statement_that_starts_waiting_during_a_release_on_the_cluster_stays_waiting(services, monkeypatch):
    _, _, ids = _waiting(services, ["anon-s"])
    (actor,) = [a.decode() for a in services.redis.smembers(services.keys.xapi_waiting_actors("acme"))]
    key = waiting_key(services.keys, "acme", actor)
    late = services.redis.lrange(key, 0, -1)[0].replace(ids["anon-s"].encode(), b"late-statement-id")
    _racing_eval(services, monkeypatch, lambda: services.redis.rpush(key, late))
    assert release_waiting(services, "acme") == 1
    assert services.redis.lrange(key, 0, -1) == [late]
    assert services.redis.smembers(services.keys.xapi_waiting_actors("acme")) == {actor.encode()}
    assert release_waiting(services, "acme") == 1  # released by the next pass
    assert [e["id"] for e in events_on_stream(services)] == [ids["anon-s"], "late-statement-id"]
