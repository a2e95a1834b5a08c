"""`--every [SECONDS]`: a command that runs again at an interval until stopped; with no value, at
the interval its setting gives."""

from __future__ import annotations

import argparse

SETTING = -1.0  # `--every` with no value


def add_every(parser: argparse.ArgumentParser, help_text: str) -> None:
    parser.add_argument("--every", type=float, nargs="?", const=SETTING, metavar="SECONDS", help=help_text)


def interval_s(every: float, setting_s: float) -> float:
    """The seconds to wait before the next round: `every`, or the setting's when it had no value."""
    return setting_s if every == SETTING else every
