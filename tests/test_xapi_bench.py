"""The xAPI intake benchmark: its minimal HTTP client speaks to gunicorn, and a short run
through the production server and a worker prints every figure with no request failed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench.xapi import Connection
from skillgap.processes import free_port


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as gunicorn

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = b"[" + str(len(body)).encode() + b"]"
        self.send_response(200 if self.path == "/xapi/statements" else 404)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass


def test_the_client_reads_whole_responses_on_one_connection():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        connection = Connection(server.server_port, {"X-Experience-API-Version": "1.0.0"})
        statuses = [
            connection.exchange(connection.request(path, b"x" * size))
            for path, size in (("/xapi/statements", 1), ("/xapi/statements", 70_000), ("/other", 3))
        ]
        connection.socket.close()
    finally:
        server.shutdown()
        server.server_close()
    assert statuses == [200, 200, 404]


@pytest.mark.slow
def test_a_short_run_prints_every_figure(redis_url):
    args = [
        "--single-requests",
        "20",
        "--batch-requests",
        "10",
        "--clients",
        "2",
        "--rate",
        "2000",
        "--port",
        str(free_port()),
    ]
    run = subprocess.run(
        [sys.executable, "-m", "bench.xapi", *args],
        check=False,
        env={**os.environ, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    lines = dict(line.split(": ", 1) for line in run.stdout.splitlines() if ": " in line)
    assert lines["failed_requests"] == "0"
    for name in (
        "xapi_single_statements_per_s",
        "xapi_batch50_statements_per_s",
        "at_2000_per_s_statements_per_s",
        "batch50_cpu_us_per_statement_tool",
        "batch50_cpu_us_per_statement_worker",
        "at_2000_per_s_reflected_p99_ms",
    ):
        assert float(lines[name]) > 0, name
    for phase in ("", "at_2000_per_s_"):  # every timed statement reached mastery
        assert 0 <= float(lines[f"{phase}reflected_in_mastery_within_1s"]) <= 1
        assert int(lines[f"{phase}reflected_sample_statements"]) > 0
        assert float(lines[f"{phase}reflected_p99_ms"]) < 30_000
