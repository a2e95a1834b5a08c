"""The pipeline on a real 3-node Redis Cluster on loopback: intake, fenced workers, the API."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
from redis.cluster import RedisCluster

from core.eventlog import append_events
from core.events import parse_event
from core.keys import CONSUMER_GROUP
from core.redis_server import connect
from core.services import build_services
from core.settings import ROOT, Settings
from core.tokens import create_token
from redis_cluster import LocalCluster
from sidecar.api import create_app
from sidecar.worker import Worker

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
    headers = {"Authorization": f"Bearer {create_token(services.redis, services.keys, 'acme')}"}
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
