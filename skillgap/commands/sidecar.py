"""The sidecar's subcommands: `skillgap sidecar`, `worker`, `replay`, `export-events`,
`import-events` and `params`."""

from __future__ import annotations

import argparse
import gzip
import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path

import orjson

from core.errors import UserError
from core.redis_server import open_redis
from core.settings import Settings
from skillgap.compiling import compile_kernels, notices_compiling, to_stderr

log = logging.getLogger(__name__)
SYNC_STOP_S = 5.0  # a Moodle sync round still running then is left to end with the process


def _worker_check(args: argparse.Namespace, settings: Settings) -> int:
    """A container's health check: a worker of this host (or named --name) has a live heartbeat."""
    import socket
    import time

    from core.keys import Keys
    from sidecar.health import live_worker

    prefix = args.name or f"{socket.gethostname()}-"
    with open_redis(settings) as client:
        found = live_worker(client, Keys(settings.key_prefix), prefix, time.time())
    print(f"worker {found} is alive" if found else f"no live worker heartbeat for {prefix!r}")
    return 0 if found else 1


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    if args.check:
        return _worker_check(args, settings)
    import numba

    from core.services import open_services
    from sidecar.worker import Worker, tune_gc

    compile_kernels()  # before the signal handlers: Ctrl-C stops a long compile at once

    # Small batches pay more to wake Numba's thread pool than its threads save, and the
    # other workers and Redis want the cores too.
    numba.set_num_threads(min(settings.worker_engine_threads, numba.config.NUMBA_NUM_THREADS))
    with open_services(settings) as services:
        worker = Worker(services, name=args.name)
        tune_gc()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: worker.stop())
        log.info(
            "worker %s started; partitions 0-%d are shared among the live workers", worker.name, settings.partitions - 1
        )
        worker.run(burst=args.burst)
    return 0


def _sidecar(args: argparse.Namespace, settings: Settings) -> int:
    from lti_tool.moodle.sync import start_scheduled_sync
    from skillgap.run import serve_sidecar

    stop = threading.Event()
    moodle_sync = start_scheduled_sync(settings, stop)
    try:
        return serve_sidecar(settings, workers=args.workers)
    finally:
        stop.set()
        if moodle_sync is not None:
            moodle_sync.join(SYNC_STOP_S)


NOT_REDERIVED = 3  # replay wrote what it could, but not all of it with the active parameters


@notices_compiling
def _replay(args: argparse.Namespace, settings: Settings) -> int:
    from core.services import open_services
    from sidecar.replay import check, replay
    from sidecar.worker import LostPartition

    with open_services(settings) as services:
        archive_dir = Path(args.archive) if args.archive else None
        if args.check:
            result = check(services, archive_dir)
            for note in result.notes:
                to_stderr(note)
            print(
                f"learners: {result.learners}\nlost: {result.lost}\nduplicated: {result.duplicated}\n"
                f"undetermined: {result.undetermined}\nnot_in_catalog: {result.not_in_catalog}\n"
                f"max_mastery_difference: {result.max_mastery_difference:.3g}\n"
                f"max_time_difference: {result.max_time_difference:.3g}\n"
                f"different_rankings: {result.different_rankings}"
            )
            return 0 if result.healthy else 1
        try:
            result = replay(services, progress=to_stderr, archive_dir=archive_dir)
        except TimeoutError as exc:
            raise UserError(f"{exc}; is a worker stuck? (replay asks each partition's owner to hand it over)") from None
        except LostPartition as exc:
            partitions = ", ".join(map(str, sorted(exc.partitions)))
            raise UserError(
                f"replay lost the lease of partition {partitions} before writing it (was Redis "
                "paused or cut off?); run `skillgap replay` again"
            ) from None
    to_stderr(f"Replayed {result.events:,} events into {result.learners:,} learners.")
    if result.not_rederived:
        partitions = ", ".join(map(str, sorted(result.not_rederived)))
        to_stderr(
            f"Not every event was re-derived with the active parameters: partitions {partitions} keep "
            "what older parameters made of their history before their snapshot, or their stored state "
            f"(said above). Exit status {NOT_REDERIVED}."
        )
        return NOT_REDERIVED
    return 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from core.eventlog import export_events
    from core.keys import Keys

    out = Path(args.out)
    with open_redis(settings) as client, gzip.open(out, "wb") as handle:
        count = export_events(
            client,
            Keys(settings.key_prefix),
            settings.partitions,
            handle,
            args.tenant,
            lambda n: to_stderr(f"exported {n:,} events") if n % 50_000 < 500 else None,
        )
    to_stderr(f"Wrote {count:,} events to {out}")
    return 0


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from sidecar.importer import import_events

    return _import_file(args, settings, import_events, "events", "the workers apply them.")


def _import_people(args: argparse.Namespace, settings: Settings) -> int:
    from sidecar.importer import import_people

    return _import_file(args, settings, import_people, "people", "their roles reach the workers as enrolled events.")


def _import_file(args: argparse.Namespace, settings: Settings, load: Callable, what: str, then: str) -> int:
    """`load` (an importer of sidecar/importer.py) reads the file into the tenant's log."""
    from core.services import open_services

    with open_services(settings) as services:
        count = load(services, Path(args.file), args.tenant or settings.default_tenant, to_stderr)
    to_stderr(f"Imported {count:,} {what} from {args.file}; {then}")
    return 0


def _params(args: argparse.Namespace, settings: Settings) -> int:
    from core.catalog import load_catalog
    from core.keys import Keys
    from core.params import ParametersError, activate, active_version, list_versions, store_parameters

    catalog = load_catalog(settings.catalog_path)
    keys = Keys(settings.key_prefix)
    with open_redis(settings) as client:
        if args.params_command == "list":
            active = active_version(client, keys)
            for row in list_versions(client, keys):
                print(
                    f"{row['version']}{' *' if row['version'] == active else ''}\t{row['source'] or ''}\t{row['created']}"
                )
            if active is None:
                print("(no version active: the catalog's defaults apply)")
        elif args.params_command == "add":
            try:
                document = orjson.loads(Path(args.file).read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise ParametersError(f"{args.file}: {exc}") from None
            version = store_parameters(client, keys, catalog, document)
            if args.activate:
                activate(client, keys, catalog, version)
            print(version)
        else:
            activate(client, keys, catalog, args.version)
            to_stderr(f"Version {args.version} is active; run `skillgap replay` to rebuild mastery with it.")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    sidecar = commands.add_parser("sidecar", help="run the analyst API, the stream workers and the Moodle sync")
    sidecar.add_argument("--workers", type=int, help="worker processes (default: SKILLGAP_WORKER_PROCESSES)")
    sidecar.set_defaults(handler=_sidecar)

    worker = commands.add_parser("worker", help="run a stream worker only (start several to scale out)")
    worker.add_argument("--burst", action="store_true", help="exit once the owned streams are drained")
    worker.add_argument("--name", help="consumer name (default: host-pid)")
    worker.add_argument(
        "--check",
        action="store_true",
        help="exit 0 if a worker of this host (or --name) has a live heartbeat, else 1 (health checks)",
    )
    worker.set_defaults(handler=_worker)

    replay = commands.add_parser(
        "replay",
        help="rebuild all mastery and recommendations from the latest snapshots and the log after them",
        description="Rebuild every learner with the active parameters. Exit status 0: all re-derived "
        f"with them; {NOT_REDERIVED}: written, but some partitions keep what older parameters made of "
        "the history before their snapshot, or their stored state (each is named); 1: --check found "
        "differences; 2: an error.",
    )
    replay.add_argument("--check", action="store_true", help="only compare the stored state with a rebuild")
    replay.add_argument(
        "--archive",
        metavar="DIR",
        help="rebuild from the archive of trimmed entries and the "
        "log, re-deriving every event with the active parameters (see SKILLGAP_ARCHIVE_DIR)",
    )
    replay.set_defaults(handler=_replay)

    export = commands.add_parser("export-events", help="write the retained log as gzip'd newline-delimited JSON")
    export.add_argument("--out", default="events.ndjson.gz", help="output file (default: events.ndjson.gz)")
    export.add_argument("--tenant", help="only this tenant's events")
    export.set_defaults(handler=_export)

    imports = commands.add_parser("import-events", help="append events from a .csv or an export (.ndjson[.gz])")
    imports.add_argument("file")
    imports.add_argument("--tenant", help="tenant of rows without one (default: SKILLGAP_DEFAULT_TENANT)")
    imports.set_defaults(handler=_import)

    people = commands.add_parser("import-people", help="people from HR: role, department, manager, start date (.csv)")
    people.add_argument("file", help="CSV with columns person, role[, department, manager, start_date]")
    people.add_argument("--tenant", help="the people's tenant (default: SKILLGAP_DEFAULT_TENANT)")
    people.set_defaults(handler=_import_people)

    params = commands.add_parser("params", help="model parameter versions")
    sub = params.add_subparsers(dest="params_command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="stored versions; * marks the active one").set_defaults(handler=_params)
    add = sub.add_parser("add", help="store a parameter JSON as a new version")
    add.add_argument("file")
    add.add_argument("--activate", action="store_true")
    add.set_defaults(handler=_params)
    use = sub.add_parser("activate", help="make a stored version the one workers and replay use")
    use.add_argument("version", type=int)
    use.set_defaults(handler=_params)
