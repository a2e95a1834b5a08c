"""`skillgap run`."""

from __future__ import annotations

import argparse

from core.settings import Settings


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from skillgap.run import run

    return run(settings)


def register(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser("run", help="run the whole pipeline on the embedded default (make run)")
    run.set_defaults(handler=_run)
