"""Start, watch and stop the child processes of `skillgap run` and `skillgap sidecar`."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if its supervisor dies, even by SIGKILL."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port free on `host` now, for a server started next (benchmarks, `bench.chaos`)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def gunicorn_command(factory: str, host: str, port: int, workers: int) -> list[str]:
    """The production server of `factory` ("module:create_app()"); its settings are in
    skillgap/gunicorn_conf.py."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        factory,
        "--config",
        "python:skillgap.gunicorn_conf",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
    ]


def stop_processes(processes: list[subprocess.Popen], timeout_s: float) -> None:
    """SIGTERM to each one still running, then up to `timeout_s` for each to end; SIGKILL for
    those that do not (benchmarks and test servers; the supervisor stops process groups)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Supervisor:
    """Children run in their own process groups, so stop() reaches their own children too."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.children: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str]) -> None:
        self.children[name] = subprocess.Popen(
            args, env=self.env, stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=_die_with_parent
        )

    def exited(self) -> tuple[str, int] | None:
        for name, child in self.children.items():
            code = child.poll()
            if code is not None:
                return name, code
        return None

    def stop(self, timeout_s: float = 20.0) -> None:
        for child in self.children.values():
            if child.poll() is None:
                try:
                    os.killpg(child.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + timeout_s
        for child in self.children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for child in self.children.values():
            try:
                os.killpg(child.pid, signal.SIGKILL)  # whatever is left of the group
            except ProcessLookupError:
                pass
            child.wait()
        self.children.clear()
