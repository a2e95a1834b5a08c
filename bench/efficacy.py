"""Efficacy of the recommender against other policies (engine/efficacy.py) on the default
catalog with the workers' settings: `python -m bench.efficacy` or `make efficacy`. Prints one
`name: value` line per figure."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import numpy as np

from core.catalog import engine_model, load_catalog
from core.settings import Settings
from engine.efficacy import Spread, run_efficacy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learners-per-role", type=int, default=60)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--cap-minutes", type=float, default=6000.0)
    parser.add_argument("--minutes-per-day", type=float, default=60.0)
    parser.add_argument(
        "--assume",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another assumption for the true world, e.g. --assume role_head_start=0 "
        f"(repeatable; names: {', '.join(SPREAD_FIELDS)})",
    )
    args = parser.parse_args(argv)
    try:
        spread = assumed_spread(args.assume)
    except ValueError as error:
        parser.error(str(error))
    settings = Settings.load()
    catalog = load_catalog(settings.catalog_path)
    model = engine_model(catalog)
    roles = np.repeat(np.arange(len(catalog.roles)), args.learners_per_role)
    options = settings.ranking_options()
    start = time.perf_counter()
    report = run_efficacy(
        model,
        roles,
        args.seed,
        options,
        [role.id for role in catalog.roles],
        spread=spread,
        cap_minutes=args.cap_minutes,
        minutes_per_day=args.minutes_per_day,
    )
    for item in args.assume:
        name, _, value = item.partition("=")
        print(f"assume_{name}: {float(value):g}")
    for name, value in report.lines:
        print(f"{name}: {show(value)}", flush=True)
    print(f"seconds: {time.perf_counter() - start:.1f}")
    print(f"load_average_1min_end: {os.getloadavg()[0]:.2f}")
    return 0


SPREAD_FIELDS = tuple(f.name for f in dataclasses.fields(Spread))


def assumed_spread(assumptions: list[str]) -> Spread:
    """Spread with each NAME=VALUE replacing the default's field (ValueError names what is wrong)."""
    changes = {}
    for item in assumptions:
        name, sep, text = item.partition("=")
        if not sep or name not in SPREAD_FIELDS:
            raise ValueError(f"--assume {item!r}: expected NAME=VALUE with NAME one of {', '.join(SPREAD_FIELDS)}")
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"--assume {item!r}: {text!r} is not a number") from None
        if value < 0:
            raise ValueError(f"--assume {item!r}: must not be negative")
        changes[name] = value
    return dataclasses.replace(Spread(), **changes)


def show(value: object) -> str:
    if isinstance(value, tuple):
        return " ".join(show(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
