"""Efficacy of the recommender against other policies (engine/efficacy.py) on the default
catalog with the workers' settings: `python -m bench.efficacy` or `make efficacy`. Prints one
`name: value` line per figure."""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from core.catalog import engine_model, load_catalog
from core.settings import Settings
from engine.efficacy import run_efficacy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learners-per-role", type=int, default=60)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--cap-minutes", type=float, default=6000.0)
    parser.add_argument("--minutes-per-day", type=float, default=60.0)
    args = parser.parse_args(argv)
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
        cap_minutes=args.cap_minutes,
        minutes_per_day=args.minutes_per_day,
    )
    for name, value in report.lines:
        print(f"{name}: {show(value)}", flush=True)
    print(f"seconds: {time.perf_counter() - start:.1f}")
    print(f"load_average_1min_end: {os.getloadavg()[0]:.2f}")
    return 0


def show(value: object) -> str:
    if isinstance(value, tuple):
        return " ".join(show(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
