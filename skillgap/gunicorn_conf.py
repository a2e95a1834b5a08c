"""Gunicorn settings of the LTI tool and the analyst API, read by gunicorn itself
(`--config python:skillgap.gunicorn_conf`; `skillgap.processes.gunicorn_command` passes it,
with the address and the number of workers).

gthread: keep-alive connections (an LMS posts batch after batch on one), and a request waiting
on Redis lets another run.
"""

import gc
import os

from core.settings import Settings

worker_class = "gthread"
threads = Settings.load().http_threads  # SKILLGAP_HTTP_THREADS; loading reads only the environment
graceful_timeout = 10
loglevel = "warning"
# The workers' heartbeat touches a file on every loop: on a disk-backed /tmp that can block
# (gunicorn's worker_tmp_dir notes); a memory filesystem cannot.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def post_worker_init(worker) -> None:
    """What a worker has built by now (modules, catalog, app) lives as long as it does: freeze
    it, so the collector's full passes scan only what requests leave behind (they took a few
    microseconds per xAPI statement)."""
    gc.collect()
    gc.freeze()
