"""A real LRS for the tests: Ralph (PyPI `ralph-malph[lrs]`, the test extra) with its file
system backend, served by uvicorn on a free loopback port, with one Basic-auth user.

Ralph 5.1's file system LRS writes every POST to one file with the "create" operation, so
its second POST fails (500, "Statements bulk indexation failed"); the launcher below makes
that backend append instead, which is all that changes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import bcrypt
import orjson
import requests

from skillgap.processes import free_port, stop_processes

LAUNCHER = """
import sys, uvicorn
from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend
FSLRSBackend.default_operation_type = BaseOperationType.APPEND
uvicorn.run("ralph.api:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""
USERNAME = "skillgap"
PASSWORD = "ralph-test-password"
START_TIMEOUT_S = 60.0


class Ralph:
    def __init__(self, url: str):
        self.url = url  # the xAPI base, ending in "/"
        self.http = requests.Session()
        self.http.auth = (USERNAME, PASSWORD)
        self.http.headers["X-Experience-API-Version"] = "1.0.3"

    def post(self, statements: list[dict]) -> requests.Response:
        return self.http.post(self.url + "statements", json=statements, timeout=30)

    def statements(self) -> list[dict]:
        """Every statement it holds (following `more`)."""
        found, url = [], self.url + "statements?limit=500"
        while url:
            page = self.http.get(url, timeout=30).json()
            found.extend(page["statements"])
            more = page.get("more")
            url = self.url.split("/xAPI/")[0] + more if more and page["statements"] else None
        return found


@contextmanager
def ralph_lrs(directory: Path) -> Iterator[Ralph]:
    directory.mkdir(parents=True, exist_ok=True)
    password_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
    (directory / "auth.json").write_bytes(
        orjson.dumps(
            [
                {
                    "username": USERNAME,
                    "hash": password_hash,
                    "scopes": ["all"],
                    "agent": {"objectType": "Agent", "mbox": "mailto:skillgap-tests@example.com"},
                }
            ]
        )
    )
    (directory / "data").mkdir(exist_ok=True)
    port = free_port()
    env = dict(
        os.environ,
        RALPH_APP_DIR=str(directory / "app"),
        RALPH_AUTH_FILE=str(directory / "auth.json"),
        RALPH_RUNSERVER_BACKEND="fs",
        RALPH_BACKENDS__DATA__FS__DEFAULT_DIRECTORY_PATH=str(directory / "data"),
    )
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(port)],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lrs = Ralph(f"http://127.0.0.1:{port}/xAPI/")
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                if lrs.http.get(f"http://127.0.0.1:{port}/whoami", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode(errors="replace") if process.poll() is not None else ""
                raise RuntimeError(f"Ralph did not start on port {port}: {output[-2000:]}")
            time.sleep(0.2)
        yield lrs
    finally:
        stop_processes([process], 10)
        process.stdout.close()
