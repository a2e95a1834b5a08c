"""`skillgap overdue`: who is overdue or due soon on a mandatory module (core/overdue.py), as a
table or as CSV (the API's GET /v1/overdue)."""

from __future__ import annotations

import argparse
import sys
import time

from core.overdue import CSV_COLUMNS, DEFAULT_WITHIN_DAYS, csv_rows, overdue_report
from core.settings import Settings


def _overdue(args: argparse.Namespace, settings: Settings) -> int:
    from core.csv_export import csv_text
    from core.services import open_services

    with open_services(settings) as services:
        store = services.learners
        report = overdue_report(
            store,
            args.tenant or settings.default_tenant,
            args.cohort,
            args.role,
            args.within_days,
            time.time(),
            args.lang,
        )
    if args.csv:
        sys.stdout.write(csv_text(CSV_COLUMNS, csv_rows(report)))
        return 0
    where = f"cohort {report.cohort}" if report.cohort else "all cohorts"
    print(
        f"{report.tenant}, {where}, {report.role or 'every role'}: {report.learners} learner(s) checked; "
        f"{report.overdue} overdue, {report.due_soon} due within {report.within_days} day(s)"
    )
    for row in report.rows:
        when = f"{row['days']} day(s) overdue" if row["status"] == "overdue" else f"due in {row['days']} day(s)"
        print(f"  {row['learner']}  {row['role']}  {row['module']}  due {row['due'][:10]}  {when}")
    for group in report.by_role:
        if group["overdue"] or group["due_soon"]:
            print(
                f"role {group['role']}: {group['overdue']} overdue, {group['due_soon']} due soon of {group['learners']}"
            )
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("overdue", help="who is overdue or due soon on a mandatory module")
    parser.add_argument("--tenant", help="the tenant (default: SKILLGAP_DEFAULT_TENANT)")
    parser.add_argument("--cohort", help="only this cohort's learners")
    parser.add_argument("--role", help="only learners of this catalog role")
    parser.add_argument(
        "--within-days",
        default=DEFAULT_WITHIN_DAYS,
        metavar="N",
        help=f"also list modules due within N days (default {DEFAULT_WITHIN_DAYS})",
    )
    parser.add_argument("--csv", action="store_true", help="write CSV to standard output")
    parser.add_argument("--lang", choices=("en", "zh"), default="en", help="language of module titles in the CSV")
    parser.set_defaults(handler=_overdue)
