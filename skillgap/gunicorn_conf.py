"""Gunicorn settings of the LTI tool and the analyst API, read by gunicorn itself
(`--config python:skillgap.gunicorn_conf`; `skillgap.processes.gunicorn_command` passes it,
with the address and the number of workers).

gthread: keep-alive connections (an LMS posts batch after batch on one), and a request waiting
on Redis lets another run.
"""

import gc
import os

import orjson
from gunicorn import util
from gunicorn.http import wsgi

from core.settings import Settings

worker_class = "gthread"
threads = Settings.load().http_threads  # SKILLGAP_HTTP_THREADS; loading reads only the environment
graceful_timeout = 10
loglevel = "warning"
# The workers' heartbeat touches a file on every loop: on a disk-backed /tmp that can block
# (gunicorn's worker_tmp_dir notes); a memory filesystem cannot.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def write_json_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """Gunicorn's own answers (a request line or headers too long, a malformed request, an
    application that failed before answering) in the APIs' JSON error form, not an HTML page."""
    code = reason.lower().replace(" ", "_")
    body = orjson.dumps({"error": {"code": code, "message": mesg or reason}})
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


util.write_error = write_json_error  # gunicorn's workers call it through the module


_create = wsgi.create


def create_with_force_close(req, sock, client, server, cfg):
    """The request's WSGI environ carries `gunicorn.force_close`: an application that leaves a
    body unread makes gunicorn answer `Connection: close` (the header alone it ignores), not
    keep-alive and then close after failing to drain it (core/http.py)."""
    resp, environ = _create(req, sock, client, server, cfg)
    environ["gunicorn.force_close"] = resp.force_close
    return resp, environ


wsgi.create = create_with_force_close  # the gthread worker calls it through the module


def post_worker_init(worker) -> None:
    """What a worker has built by now (modules, catalog, app) lives as long as it does: freeze
    it, so the collector's full passes scan only what requests leave behind (they took a few
    microseconds per xAPI statement)."""
    gc.collect()
    gc.freeze()
