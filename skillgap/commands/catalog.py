"""`skillgap catalog ...`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.catalog import check_catalog
from core.settings import Settings
from skillgap.commands.moodle import register_catalog_import


def _check(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.path) if args.path else settings.catalog_path
    catalog, problems = check_catalog(path)
    if problems:
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s) in {path}", file=sys.stderr)
        return 1
    print(f"{path}: ok: {catalog.summary()}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    catalog = commands.add_parser("catalog", help="work with the training catalog")
    sub = catalog.add_subparsers(dest="catalog_command", required=True, metavar="COMMAND")
    check = sub.add_parser("check", help="validate a catalog and report every problem")
    check.add_argument("path", nargs="?", help="catalog folder or .toml file (default: the configured catalog)")
    check.set_defaults(handler=_check)
    register_catalog_import(sub)
