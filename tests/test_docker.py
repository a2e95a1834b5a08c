"""docker/: the compose file as Docker Compose reads it (when it is installed), the images it
names, and the worker's health check, which looks at the worker's heartbeat in Redis."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from lms_helpers import cli_env
from sidecar.ownership import Leases
from sidecar.worker import Worker
from skillgap.cli import main

DOCKER = Path(__file__).resolve().parent.parent / "docker"


def compose_command() -> list[str] | None:
    """Docker Compose v2 (`docker compose`), else v1 (`docker-compose`, Debian's package)."""
    if (
        shutil.which("docker")
        and subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode == 0
    ):
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


def test_docker_compose_reads_the_file(tmp_path):
    command = compose_command()
    if command is None:
        reason = "Docker Compose is not installed; to run this test: sudo apt-get install docker-compose"
        if os.environ.get("SKILLGAP_REQUIRE_COMPOSE"):
            pytest.fail(reason)
        pytest.skip(reason)
    done = subprocess.run(
        [
            *command,
            "-f",
            str(DOCKER / "compose.yaml"),
            "--env-file",
            str(DOCKER / "env.example"),
            "--profile",
            "moodle",
            "config",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    broken = tmp_path / "compose.yaml"  # the check does refuse a broken file
    broken.write_text((DOCKER / "compose.yaml").read_text().replace("services:", "services:\n  bad: [", 1))
    refused = subprocess.run([*command, "-f", str(broken), "config", "--quiet"], capture_output=True, timeout=60)
    assert refused.returncode != 0


def test_the_compose_file_uses_published_images_and_a_heartbeat_health_check():
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    services = compose["services"]
    images = {name: service.get("image", "") for name, service in services.items()}
    # Bitnami's public catalog (bitnami/*) no longer publishes images.
    assert not [image for image in images.values() if image.startswith("bitnami/")]
    assert all(":" in image for image in images.values())
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "skillgap", "worker", "--check"]
    assert "SKILLGAP_TOOL_BASE_URL" in services["tool"]["environment"]
    api = services["api"]["environment"]
    assert "SKILLGAP_API_BASE_URL" in api and "REDIS_URL" in api  # its own URL beside the shared settings
    dockerfile = (DOCKER / "Dockerfile").read_text()
    for package in ("engine", "core", "bkt_csv", "skillgap", "sidecar", "lti_tool"):
        assert f"COPY {package} {package}" in dockerfile


def test_worker_check_is_healthy_only_while_a_worker_of_this_host_beats(services, settings, monkeypatch, capsys):
    cli_env(monkeypatch, settings)
    assert main(["worker", "--check"]) == 1
    assert "no live worker heartbeat" in capsys.readouterr().out
    name = Worker(services).name  # a worker's default name: this host, then its process id
    assert name.startswith(socket.gethostname() + "-")
    leases = Leases(services.redis, services.keys, list(range(settings.partitions)), settings.lease_ttl_ms, name)
    leases.heartbeat()  # what a running worker does every few seconds
    assert main(["worker", "--check"]) == 0
    assert f"worker {name} is alive" in capsys.readouterr().out
    assert main(["worker", "--check", "--name", "someone-else"]) == 1
    services.redis.zadd(services.keys.workers, {name: 1.0})  # its heartbeat expired long ago
    assert main(["worker", "--check"]) == 1
