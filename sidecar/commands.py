"""The sidecar's subcommands: `skillgap worker`."""

from __future__ import annotations

import argparse
import logging
import signal

from skillgap.redis_server import open_redis
from skillgap.settings import Settings

log = logging.getLogger(__name__)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from sidecar.worker import Worker
    from skillgap.services import build_services

    with open_redis(settings) as client:
        worker = Worker(build_services(settings, client))
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: worker.stop())
        log.info("worker %s started on %d partitions", worker.name, len(worker.partitions))
        worker.run(burst=args.burst)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    worker = commands.add_parser("worker", help="run stream workers only")
    worker.add_argument("--burst", action="store_true", help="exit once the streams are drained")
    worker.set_defaults(handler=_worker)
