"""`skillgap plan`: the cost plan (core/plan.py) of a tenant, a cohort or a role, as a table per
role for people, or as JSON or CSV."""

from __future__ import annotations

import argparse
import sys
import time

import orjson

from core.errors import UserError
from core.settings import Settings
from skillgap.compiling import notices_compiling


@notices_compiling
def _plan(args: argparse.Namespace, settings: Settings) -> int:
    from core.catalog.model import METHODS
    from core.csv_export import csv_text
    from core.events import COHORT_PATTERN
    from core.plan import cost_plan, minutes_per_week_of, plan_table
    from core.services import open_services

    if args.cohort is not None and not COHORT_PATTERN.match(args.cohort):
        raise UserError(f"--cohort {args.cohort!r} is not a valid cohort id")
    tenant = args.tenant or settings.default_tenant
    with open_services(settings) as services:
        store = services.learners
        if args.cohort is not None and args.cohort not in store.cohorts(tenant):
            raise UserError(f"no cohort {args.cohort!r} in tenant {tenant!r}")
        per_week = minutes_per_week_of(args.minutes_per_week, settings.plan_minutes_per_week)
        started = time.perf_counter()
        plan = cost_plan(store, settings, tenant, args.cohort, args.role, per_week, time.time())
        took = time.perf_counter() - started
    if args.format == "json":
        from sidecar.api.plan import plan_json

        sys.stdout.write(orjson.dumps(plan_json(plan), option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0
    if args.format == "csv":
        sys.stdout.write(csv_text(*plan_table(plan, args.by)))
        return 0
    bounds = plan.bounds()
    print(
        f"Cost plan for {tenant}"
        + (f", cohort {plan.cohort}" if plan.cohort else "")
        + (f", role {plan.role}" if plan.role else "")
        + f": {bounds['learners_planned']:,} learner(s) at {per_week:g} training minutes a week"
        + f" ({bounds['paths_per_learner']} paths each, horizon {bounds['horizon_minutes']:g} minutes; {took:.1f} s)"
    )
    if plan.truncated:
        print(f"  only the first {bounds['learners_planned']:,} of {bounds['learners_matched']:,} learners (id order)")
    if not plan.learners:
        print("  no learners match")
        return 0
    print("  hours to target per learner: median (10-90% band); reached: share of paths at target within the horizon")
    for group in [*plan.by_role(), {"role": "all roles", **plan.total()}]:
        a, c = group["adaptive"], group["course_order"]
        print(
            f"{group['role']}: {group['learners']} learner(s)\n"
            f"  adaptive      {_policy(a)}\n"
            f"  course order  {_policy(c)}\n"
            f"  saves         {group['saved_minutes']['median'] / 60:,.0f} learner-hours in all"
            + (" (at least: course order not at target within the horizon)" if c["reached_share"] < 1 else "")
        )
        cost = "; ".join(
            f"{method} {a['cost'][method]['takes']['median']:,.0f} taken, {a['cost'][method]['hours']['median']:,.0f} h"
            for method in METHODS
            if a["cost"][method]["takes"]["median"]
        )
        print(f"  adaptive cost {cost or 'nothing'}")
    return 0


def _policy(figures: dict) -> str:
    weeks = figures["weeks_until_all"]["median"]
    if figures["reached_share"] < 1:
        until = f"not all at target within the horizon ({weeks:.1f} weeks of training)"
    else:
        until = f"all at target in {weeks:.1f} weeks"
    stalled = f", nothing more to offer in {figures['stalled_share']:.0%}" if figures["stalled_share"] else ""
    return (
        f"{_hours(figures['minutes_per_learner'])} h per learner, reached {figures['reached_share']:.0%}{stalled}, "
        f"{until}"
    )


def _hours(band: dict) -> str:
    return f"{band['median'] / 60:,.1f} ({band['p10'] / 60:,.1f}-{band['p90'] / 60:,.1f})"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "plan", help="training minutes, weeks and cost by method to each role's target: adaptive against course order"
    )
    parser.add_argument("--tenant", help="the tenant (default: SKILLGAP_DEFAULT_TENANT)")
    parser.add_argument("--cohort", help="only this cohort's learners")
    parser.add_argument("--role", help="only learners of this catalog role")
    parser.add_argument(
        "--minutes-per-week", help="training minutes each learner has a week (default: SKILLGAP_PLAN_MINUTES_PER_WEEK)"
    )
    parser.add_argument("--format", choices=("text", "json", "csv"), default="text")
    parser.add_argument("--by", choices=("role", "cohort", "learner"), default="role", help="the CSV's breakdown")
    parser.set_defaults(handler=_plan)
