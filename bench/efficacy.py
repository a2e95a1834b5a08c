"""Efficacy of the recommender against other policies (engine/efficacy.py) on the default
catalog with the workers' settings: `python -m bench.efficacy` or `make efficacy`. Prints one
`name: value` line per figure, first the first three recommendations of a fresh learner (no
events) of each role, ranked as the workers rank (`--fresh-only`: those lines alone)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import numpy as np

from core.catalog import Catalog, engine_model, load_catalog, own_points
from core.explain import recommendation_items
from core.mandatory import DueRules
from core.settings import Settings
from engine import Action, Model, new_state
from engine.efficacy import START, Spread, run_efficacy
from engine.model import main_points
from sidecar.processing import recommend_as_of
from skillgap.compiling import notices_compiling


@notices_compiling  # a machine's first run compiles the ranking and the update for minutes
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--learners-per-role", type=int, default=60)
    parser.add_argument(
        "--seed",
        type=int,
        nargs="+",
        default=[2026],
        help="the world's seed; several (e.g. --seed 2026 7 11 42 99) print each one's headline and the means",
    )
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
    parser.add_argument("--fresh-only", action="store_true", help="only the fresh learners' first three")
    args = parser.parse_args(argv)
    try:
        spread = assumed_spread(args.assume)
    except ValueError as error:
        parser.error(str(error))
    settings = Settings.load()
    catalog = load_catalog(settings.catalog_path)
    model = engine_model(catalog)
    for name, value in fresh_first_three(catalog, model, settings):
        print(f"{name}: {show(value)}", flush=True)
    if args.fresh_only:
        return 0
    roles = np.repeat(np.arange(len(catalog.roles)), args.learners_per_role)
    rules = DueRules.of(catalog)  # every learner enrols at the simulator's start, none done yet
    not_done = np.full((roles.size, len(rules.modules)), np.inf)
    due = rules.due(roles, np.full(roles.size, START), not_done, model.n_modules)
    print(f"mandatory_modules: {' '.join(rules.ids) or 'none'}")
    for item in args.assume:
        name, _, value = item.partition("=")
        print(f"assume_{name}: {float(value):g}")
    start = time.perf_counter()
    reports = []
    for seed in args.seed:
        report = run_efficacy(
            model,
            roles,
            seed,
            settings.ranking_options(),
            [role.id for role in catalog.roles],
            spread=spread,
            cap_minutes=args.cap_minutes,
            minutes_per_day=args.minutes_per_day,
            due=due,
        )
        reports.append(report.lines)
        shown = report.lines if len(args.seed) == 1 else [(n, v) for n, v in report.lines if n in HEADLINE]
        prefix = "" if len(args.seed) == 1 else f"seed.{seed}."
        for name, value in shown:
            print(f"{prefix}{name}: {show(value)}", flush=True)
    if len(args.seed) > 1:
        for name, value in seed_means(reports):
            print(f"mean.{name}: {show(value)}")
    print(f"seconds: {time.perf_counter() - start:.1f}")
    print(f"load_average_1min_end: {os.getloadavg()[0]:.2f}")
    return 0


SPREAD_FIELDS = tuple(f.name for f in dataclasses.fields(Spread))
# What each seed of several prints (issue 15's targets); every figure's mean follows.
HEADLINE = (
    "skillgap_over_course_order",
    "skillgap_over_to_target",
    "skillgap_over_oracle",
    "skillgap_reach_rate",
    "skillgap_reach_below_oracle",
    "skillgap_stalls",
)


def seed_means(reports: list[list[tuple[str, object]]]) -> list[tuple[str, float]]:
    """Per figure that is one number in every report, its mean over the reports, in the first
    report's order (intervals are left out: their mean is no interval)."""
    values: dict[str, list[float]] = {}
    for lines in reports:
        for name, value in lines:
            if isinstance(value, int | float) and not isinstance(value, bool):
                values.setdefault(name, []).append(float(value))
    return [(name, sum(v) / len(v)) for name, v in values.items() if len(v) == len(reports)]


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


def fresh_first_three(
    catalog: Catalog, model: Model, settings: Settings, now: float = 1.7e9
) -> list[tuple[str, object]]:
    """Issue 15's second target: the first three recommendations of a learner of each role who
    has just enrolled (no events; mandatory modules due from now), through the workers' ranking
    (`recommend_as_of`), explained as the learner page explains them. A list serves its role
    when it holds a module mainly training one of the role's own points (those it targets and
    the default role does not; the default role's: all it targets) or names one as what an
    item is needed for (`core.catalog.own_points`, which the workers pass to the ranking)."""
    n = len(catalog.roles)
    rules = DueRules.of(catalog)
    roles = np.arange(n)
    due = rules.due(roles, np.full(n, now), np.full((n, len(rules.modules)), np.inf), model.n_modules)
    own_by_role = own_points(catalog, model.targets)
    recs = recommend_as_of(new_state(model, n), model.targets, model, np.full(n, now), settings, due, own_by_role)
    main = main_points(model.coverage)
    lines: list[tuple[str, object]] = []
    lists, serving = set(), 0
    for r, role in enumerate(catalog.roles):
        first = [int(q) for q in recs.module[r, :3] if q >= 0]
        own = own_by_role[r]
        ranking = {
            "module": [catalog.modules[q].id for q in first],
            "action": [Action(a).name.lower() for a in recs.action[r, : len(first)]],
            "gain": list(recs.gain[r]),
            "per_minute": list(recs.gain_per_minute[r]),
            "information": list(recs.information[r]),
        }
        items = recommendation_items(
            catalog, model, ranking, recs.mastery[r], recs.uncertainty[r], model.targets[r],
            settings.assessment_uncertainty, settings.prerequisite_threshold,
        )  # fmt: skip
        needed = {p for item in items for close in item.get("closes", []) for p in close.get("needed_for", [])}
        own_ids = {catalog.knowledge_points[j].id for j in np.flatnonzero(own)}
        serves = any((main[q] & own).any() for q in first) or bool(needed & own_ids)
        serving += serves
        lists.add(tuple(first))
        lines.append(
            (f"fresh_first_three.{role.id}", " ".join(ranking["module"]) + ("" if serves else " (no role point)"))
        )
    lines += [("fresh_first_three_distinct_lists", len(lists)), ("fresh_first_three_serving_their_role", serving)]
    return lines


def show(value: object) -> str:
    if isinstance(value, tuple):
        return " ".join(show(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
