"""Connections under gunicorn, as production runs: a request answered before its body is read
leaves the connection usable for the next one (the body is drained), or, past the drain bound,
says `Connection: close` and closes it; never keep-alive and then a closed connection."""

from __future__ import annotations

import http.client
import os

import pytest

from core.http import DRAIN_MAX_BYTES
from core.tokens import create_token
from lms_helpers import bearer, settings_env
from skillgap.processes import Supervisor, free_port, gunicorn_command
from skillgap.run import wait_healthy


@pytest.fixture
def server(services):
    port = free_port()
    env = {**os.environ, **settings_env(services.settings)}
    supervisor = Supervisor(env)
    supervisor.start("api", gunicorn_command("sidecar.api:create_app()", "127.0.0.1", port, 1))
    try:
        wait_healthy(f"http://127.0.0.1:{port}/v1/health", 60, supervisor)
        yield port
    finally:
        supervisor.stop()


def post(connection, headers, body):
    connection.request("POST", "/v1/events", body=body, headers={"Content-Type": "application/json", **headers})
    response = connection.getresponse()
    response.read()
    return response


@pytest.mark.parametrize("size", [10, 300_000, DRAIN_MAX_BYTES])
def test_the_next_request_on_the_connection_is_answered_after_an_early_answer(server, services, size):
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    token = create_token(services.redis, services.keys, "acme")
    for headers in ({"Authorization": "Bearer wrong"}, {}, bearer(token)):
        response = post(connection, headers, b"[" + b" " * (size - 2) + b"]")
        assert response.status in (400, 401) and not response.will_close
        first = connection.sock
        connection.request("GET", "/v1/health")
        follow = connection.getresponse()
        follow.read()
        assert follow.status == 200 and connection.sock is first  # the same connection
    connection.close()


def test_a_body_over_the_bound_is_answered_with_connection_close(server):
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    response = post(connection, {"Authorization": "Bearer wrong"}, b"x" * (DRAIN_MAX_BYTES + 1))
    assert response.status == 401 and response.will_close and response.getheader("Connection") == "close"
    assert response.headers["Content-Type"] == "application/json"
    connection.close()


def test_gunicorns_own_errors_are_json(server):
    connection = http.client.HTTPConnection("127.0.0.1", server, timeout=10)
    connection.request("GET", "/v1/learners?" + "a" * 10_000)
    response = connection.getresponse()
    assert response.status == 414 and response.getheader("Content-Type") == "application/json"
    assert response.read().startswith(b'{"error":')
    connection.close()
