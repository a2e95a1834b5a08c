"""The `skillgap` command. Each part registers its own subcommands (a module with
`register(commands)`); handlers take (args, settings) and return the exit status."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from core.errors import UserError
from core.settings import Settings

COMMAND_MODULES = (
    "skillgap.commands.run",
    "skillgap.commands.catalog",
    "skillgap.commands.tokens",
    "skillgap.commands.tenants",
    "skillgap.commands.fit",
    "skillgap.commands.sidecar",
    "skillgap.commands.lti",
    "skillgap.commands.xapi",
    "skillgap.commands.moodle",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="skillgap", description="SkillGap: adaptive LLM-skills training for your LMS.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        return args.handler(args, Settings.load())
    except UserError as exc:
        print(f"skillgap: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
