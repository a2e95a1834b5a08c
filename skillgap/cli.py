"""The `skillgap` command."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path

from skillgap.catalog import CatalogError, check_catalog
from skillgap.redis_server import RedisUnavailable, open_redis
from skillgap.settings import Settings, SettingsError
from skillgap.tokens import TokenError


def _catalog_check(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.path) if args.path else settings.catalog_path
    catalog, problems = check_catalog(path)
    if problems:
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s) in {path}", file=sys.stderr)
        return 1
    print(f"{path}: ok: {catalog.summary()}")
    return 0


def _token_create(args: argparse.Namespace, settings: Settings) -> int:
    from skillgap.keys import Keys
    from skillgap.tokens import create_token

    with open_redis(settings) as client:
        token = create_token(client, Keys(settings.key_prefix), args.tenant, label=args.label or "")
    print(token)
    print(f"Bearer token for tenant {args.tenant!r}; it is stored hashed and cannot be shown again.", file=sys.stderr)
    return 0


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from skillgap.run import StartupError, run

    try:
        return run(settings)
    except StartupError as exc:
        print(f"skillgap: could not start: {exc}", file=sys.stderr)
        return 1


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from sidecar.worker import Worker
    from skillgap.services import build_services

    with open_redis(settings) as client:
        worker = Worker(build_services(settings, client))
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: worker.stop())
        logging.getLogger("skillgap").info("worker %s started on %d partitions", worker.name, len(worker.partitions))
        worker.run(burst=args.burst)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skillgap", description="SkillGap: adaptive LLM-skills training for your LMS.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the whole pipeline on the embedded default (make run)")
    run.set_defaults(handler=_run)

    worker = commands.add_parser("worker", help="run stream workers only")
    worker.add_argument("--burst", action="store_true", help="exit once the streams are drained")
    worker.set_defaults(handler=_worker)

    catalog = commands.add_parser("catalog", help="work with the training catalog")
    catalog_commands = catalog.add_subparsers(dest="catalog_command", required=True, metavar="COMMAND")
    check = catalog_commands.add_parser("check", help="validate a catalog and report every problem")
    check.add_argument("path", nargs="?", help="catalog folder or .toml file (default: the configured catalog)")
    check.set_defaults(handler=_catalog_check)

    token = commands.add_parser("token", help="manage analyst API tokens")
    token_commands = token.add_subparsers(dest="token_command", required=True, metavar="COMMAND")
    create = token_commands.add_parser("create", help="create a bearer token for a tenant")
    create.add_argument("--tenant", required=True)
    create.add_argument("--label", help="a note to recognise the token by")
    create.set_defaults(handler=_token_create)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = Settings.load()
        return args.handler(args, settings)
    except (SettingsError, RedisUnavailable, CatalogError, TokenError) as exc:
        print(f"skillgap: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
