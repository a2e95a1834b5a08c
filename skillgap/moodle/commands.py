"""`skillgap moodle sync` and `skillgap catalog import-moodle`."""

from __future__ import annotations

import argparse


def register(commands: argparse._SubParsersAction) -> None:
    pass
